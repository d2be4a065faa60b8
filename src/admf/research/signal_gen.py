"""Signal generation: run a config's strategies (every grid combination) and store their signals.

What is stored is the *effective* signal: the direction the strategy slot trades after the
entry's direction rule, its session rule (`constraints: intraday`: 0 at the session's last
bar, no change outside the session) and its entry filter (an entry the filter refuses is
stored as 0), with a row only where that value changes. Replaying it through a slot with the
same session rule and no filter gives the full backtest's orders exactly: the slot trades only
on changes of the signal it sees, and every change it would have acted on is a stored change
(see `replay.py`). The raw strategy output is not enough on its own, and the effective signal
does not depend on sizing, risk exits, costs or fills, so those can be swept on fixed signals.

Generation runs the event engine's strategies and slots with a broker that never fills: the
same code decides the signals as in a backtest, and no order, fill or book is computed.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from admf.config.loader import expand
from admf.config.schema import Config, PortfolioConfig, RiskConfig, StrategyEntry
from admf.core import calendar
from admf.core.events import OrderRequest
from admf.data.timeline import Timeline
from admf.research.signal_store import (
    SignalStore,
    StoredSignals,
    VariantKey,
    bars_fingerprint,
    new_run_id,
    variant_key,
)
from admf.runtime.backtest import BacktestBuild, _as_config, load_timeline

BATCH = 200  # variants per engine pass: the per-bar loop is shared, memory stays bounded
INDEX_FIXED = ("hash", "run_id", "strategy", "book", "symbol", "timeframe", "direction", "constraints", "filter",
               "params", "label", "signal_count", "bars", "days", "first_ts", "last_ts", "bars_fingerprint", "admf")


class _NullBroker:
    """Takes orders and never fills them: generation needs the slots' decisions, not trades."""

    pending = 0
    split_flips = False

    def submit(self, req: OrderRequest, sym: int, bar: int, close: float, day: int = 0) -> None:
        pass

    def fill_now(self, req: OrderRequest, sym: int, bar: int, price: float, *, market: bool = True) -> None:
        pass

    def cancel(self, client_order_id: str, ts: int = 0) -> bool:
        return True

    def on_bar(self, sym: int, bar: int, ts: int, o: float, h: float, l: float, c: float, day: int = 0) -> None:
        pass


@dataclass(frozen=True)
class Wanted:
    """One variant to store: an entry on one symbol, and its key."""

    entry: StrategyEntry
    sym: int
    key: VariantKey
    book: str
    label: str


def wanted_variants(cfg: Config, tl: Timeline) -> list[Wanted]:
    """Every (entry, symbol) of every grid combination, once per distinct key, in config order."""
    from admf.runtime.backtest import book_ids

    prints = [bars_fingerprint(tl, k) for k in range(len(tl.symbols))]
    seen: dict[str, Wanted] = {}
    for v in expand(cfg):
        for e, bid in zip(v.config.strategies, book_ids(v.config.strategies), strict=True):
            for k, sym in enumerate(tl.symbols):
                if e.symbols and sym not in e.symbols:
                    continue
                key = variant_key(e, sym, tl.timeframe, prints[k], file=cfg.source)
                if key.hash not in seen:
                    seen[key.hash] = Wanted(e, k, key, bid, v.label)
    return list(seen.values())


def effective_signals(records: list[tuple[int, int, int]], gates: list[bool]) -> list[tuple[int, int, int]]:
    """A slot's signal records with filter-refused entries as 0, kept only where the value changes.

    `records` are the slot's (bar, ts, effective signal) in order; `gates` the entry filter's
    answers, one per record with a non-zero value (the filter is asked exactly then).
    """
    out: list[tuple[int, int, int]] = []
    last = 0
    g = iter(gates)
    for bar, ts, value in records:
        if value != 0 and gates and not next(g):
            value = 0
        if value != last:
            out.append((bar, ts, value))
            last = value
    return out


def generate_batch(cfg: Config, tl: Timeline, wanted: list[Wanted]) -> list[StoredSignals]:
    """Run the wanted variants' strategies in one engine pass; their sparse effective signals."""
    entries = [w.entry.model_copy(update={"name": f"v{i}", "symbols": [tl.symbols[w.sym]], "risk": None,
                                          "sizing": None})
               for i, w in enumerate(wanted)]
    gen = cfg.model_copy(update={"strategies": entries, "risk": RiskConfig.model_validate({}),
                                 "portfolio": PortfolioConfig(initial_capital=cfg.portfolio.initial_capital)})
    build = BacktestBuild(gen, tl, broker=_NullBroker())
    gates: list[list[bool]] = []
    for slot in build.all_slots:
        log: list[bool] = []
        gates.append(log)
        if slot.entry_filter is not None:
            slot.entry_filter = _recording(slot.entry_filter, log)
    build.engine.run()
    out = []
    for slot, log, w in zip(build.all_slots, gates, wanted, strict=True):
        recs = effective_signals(slot.signals, log if slot.entry_filter is not None else [])
        rows = tl.rows[w.sym]
        g = np.array([r[0] for r in recs], dtype=np.int64)
        out.append(StoredSignals(bar=np.searchsorted(rows, g), ts=np.array([r[1] for r in recs], dtype=np.int64),
                                 value=np.array([r[2] for r in recs], dtype=np.int64),
                                 price=np.asarray(tl.close)[g] if len(g) else np.zeros(0)))
    return out


class SignalSource(Protocol):
    def __call__(self, cfg: Config, tl: Timeline, wanted: list[Wanted]) -> list[StoredSignals]:
        """The sparse effective signals of each wanted variant on these bars, in order (see the module doc)."""
        ...


def _recording(fn: Callable[..., bool], log: list[bool]) -> Callable[..., bool]:
    def gate(signal: int, o: float, h: float, l: float, c: float, v: float) -> bool:
        ok = fn(signal, o, h, l, c, v)
        log.append(ok)
        return ok

    return gate


_SHARED: tuple[Config, Timeline, SignalSource] | None = None  # set before forking workers, read by _work


def _work(wanted: list[Wanted]) -> list[StoredSignals]:
    assert _SHARED is not None
    cfg, tl, source = _SHARED
    return source(cfg, tl, wanted)


@dataclass
class SignalsResult:
    """What `signals` did: the store, its run id, one index row per variant, counts."""

    store: Path
    run_id: str
    variants: pd.DataFrame
    generated: int
    skipped: int
    elapsed_s: float


def _days(ts: np.ndarray) -> int:
    return int(np.unique(calendar.ny_days(ts)).size)


def _index_row(w: Wanted, run_id: str, count: int, tl: Timeline, span: tuple[int, int, int, int]) -> dict[str, Any]:
    import json

    k = w.key
    row: dict[str, Any] = {
        "hash": k.hash, "run_id": run_id, "strategy": k.strategy, "book": w.book, "symbol": k.symbol,
        "timeframe": k.timeframe, "direction": k.direction, "constraints": ",".join(k.constraints),
        "filter": k.filter or "", "params": json.dumps(k.params, sort_keys=True), "label": w.label,
        "signal_count": count, "bars": span[0], "days": span[1],
        "first_ts": pd.Timestamp(span[2], tz="UTC"), "last_ts": pd.Timestamp(span[3], tz="UTC"),
        "bars_fingerprint": k.bars, "admf": k.admf,
    }
    for name, value in k.params.items():
        row[f"p_{name}" if name in INDEX_FIXED else name] = value
    return row


def signals(config: str | Path | dict | Config, *, store: str | Path, start: str | None = None,
            end: str | None = None, symbols: list[str] | None = None, bars: int | None = None,
            workers: int | None = None, progress: Callable[[int, int], None] | None = None,
            source: SignalSource | None = None) -> SignalsResult:
    """Generate and store the signals of every variant of a config; what the store holds is skipped.

    `source` computes the signals of a batch of variants; by default, as `engine: auto`, the
    compiled rules (`compiled_runs.compiled_source`) when every strategy has an array form, the
    event engine's strategies and slots (`generate_batch`) otherwise. Both give the same signals.
    """
    t0 = time.perf_counter()
    cfg = _as_config(config)
    if source is None:
        from admf.research.compiled import unsupported
        from admf.research.compiled_runs import compiled_source

        source = generate_batch if unsupported(cfg) else compiled_source
    st = SignalStore(store, create=True)
    tl = load_timeline(cfg, start=start, end=end, symbols=symbols, bars=bars)
    wanted = wanted_variants(cfg, tl)
    todo = [w for w in wanted if not st.has(w.key.hash)]
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    # equal batches, a multiple of the workers, none above BATCH: every worker finishes at about the same time
    n_batches = n_workers * max(1, -(-len(todo) // (BATCH * n_workers)))
    size = max(1, -(-len(todo) // n_batches))
    batches = [todo[i:i + size] for i in range(0, len(todo), size)]
    n_workers = min(n_workers, len(batches))
    done = 0
    if n_workers > 1 and "fork" in mp.get_all_start_methods():
        global _SHARED
        _SHARED = (cfg, tl, source)
        try:
            with cf.ProcessPoolExecutor(n_workers, mp_context=mp.get_context("fork")) as pool:
                for batch, result in zip(batches, pool.map(_work, batches), strict=True):
                    done = _write(st, batch, result, done, len(todo), progress)
        finally:
            _SHARED = None
    else:
        for batch in batches:
            done = _write(st, batch, source(cfg, tl, batch), done, len(todo), progress)
    run_id = new_run_id()
    spans = {}
    for k in range(len(tl.symbols)):
        ts = tl.ts[tl.rows[k]]
        spans[k] = (len(ts), _days(ts), int(ts[0]) if len(ts) else 0, int(ts[-1]) if len(ts) else 0)
    rows = [_index_row(w, run_id, st.count(w.key.hash), tl, spans[w.sym]) for w in wanted]
    st.write_index(run_id, rows)
    elapsed = time.perf_counter() - t0
    st.write_run(run_id, {
        "run_id": run_id, "time": pd.Timestamp.now(tz="UTC"), "config": str(cfg.source or ""), "name": cfg.name,
        "symbols": ",".join(tl.symbols), "timeframe": tl.timeframe, "bars": len(tl), "variants": len(wanted),
        "generated": len(todo), "skipped": len(wanted) - len(todo), "elapsed_s": round(elapsed, 3),
        "admf": wanted[0].key.admf if wanted else "",
    })
    return SignalsResult(store=st.root, run_id=run_id, variants=pd.DataFrame(rows), generated=len(todo),
                         skipped=len(wanted) - len(todo), elapsed_s=elapsed)


def _write(st: SignalStore, batch: list[Wanted], result: list[StoredSignals], done: int, total: int,
           progress: Callable[[int, int], None] | None) -> int:
    for w, sig in zip(batch, result, strict=True):
        st.write(w.key.hash, sig)
    done += len(batch)
    if progress is not None:
        progress(done, total)
    return done


__all__ = ["SignalSource", "SignalsResult", "effective_signals", "generate_batch", "signals", "wanted_variants"]
