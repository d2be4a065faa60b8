"""The compiled engine behind the research workflow's interfaces.

`compiled_runner` is a `SweepRunner` (search.py): each combination runs through the array
rules and the portfolio kernel on one `MarketData` per process, so features are shared
across combinations, and its rows carry the metrics of `fastmetrics` (compute_metrics'
definitions). With several workers the combinations are split over forked processes that
inherit the bars. `compiled_source` is a `SignalSource` (signal_gen.py): the kernel's signal
records with the filter's bits applied give the same effective signals as the event slots.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing as mp
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from admf.config.schema import Config, PortfolioConfig, RiskConfig
from admf.core.errors import ConfigError
from admf.data.timeline import Timeline
from admf.research import kernel as K
from admf.research.compiled import MarketData, _params, book_arrays, plan_books, run_books
from admf.research.search import Combo, results_columns
from admf.research.signal_gen import Wanted, effective_signals
from admf.research.signal_store import StoredSignals

MIN_PER_WORKER = 16  # fewer combinations than this per worker run in this process (a fork costs more)
_STORED = "stored_signals"  # replay entries: valid by construction, their signal is read, not computed


class _Markets:
    """One MarketData per timeline in this process: the features of one combination serve the next."""

    def __init__(self) -> None:
        self._tl: Timeline | None = None
        self._md: MarketData | None = None

    def of(self, tl: Timeline) -> MarketData:
        if self._md is None or self._tl is not tl:
            self._tl, self._md = tl, MarketData(tl)
        return self._md


_MARKETS = _Markets()
_VALID: dict[str, str | None] = {}


def invalid_reason(cfg: Config) -> str | None:
    """Why the strategies of `cfg` refuse their parameters (fast >= slow), or None; as the event engine."""
    from admf.features.hub import FeatureHub
    from admf.strategies.registry import get_strategy

    for e in cfg.strategies:
        if e.type == _STORED:
            continue
        ck = json.dumps([e.type, e.params], sort_keys=True, default=str)
        if ck not in _VALID:
            try:
                get_strategy(e.type)("X", dict(e.params), FeatureHub())
                _VALID[ck] = None
            except ConfigError as exc:
                _VALID[ck] = str(exc)
        if _VALID[ck] is not None:
            return _VALID[ck]
    return None


def _rows(combos: Sequence[Combo], tl: Timeline) -> list[dict[str, Any] | None]:
    from admf.analytics.annualization import infer_periods_per_year
    from admf.research.fastmetrics import fast_metrics

    md = _MARKETS.of(tl)
    index = pd.DatetimeIndex(tl.ts.astype("datetime64[ns]"), tz="UTC", name="timestamp")
    ppy = infer_periods_per_year(index) if len(tl) > 1 else None
    out: list[dict[str, Any] | None] = []
    for c in combos:
        if invalid_reason(c.config) is not None:
            out.append(None)
            continue
        try:
            runs = run_books(c.config, md)
        except ConfigError:
            out.append(None)
            continue
        metrics = fast_metrics(runs, md, index, ppy, c.config.portfolio.initial_capital)
        out.append({**c.params, **{str(k): v for k, v in metrics.items()}, "label": c.label})
    return out


_SHARED: tuple[Sequence[Combo], Timeline] | None = None  # set before forking, read by _work


def _work(span: tuple[int, int]) -> list[dict[str, Any] | None]:
    assert _SHARED is not None
    combos, tl = _SHARED
    return _rows(combos[span[0]:span[1]], tl)


def compiled_runner(combos: Sequence[Combo], tl: Timeline, *, workers: int | None = None) -> pd.DataFrame:
    """The compiled engine over the combinations (every core by default); rows as `event_runner`'s."""
    global _SHARED
    n = max(1, min(workers or os.cpu_count() or 1, len(combos) // MIN_PER_WORKER))
    if n == 1 or "fork" not in mp.get_all_start_methods():
        rows = _rows(combos, tl)
    else:
        _MARKETS.of(tl)  # children inherit the market data (and what is compiled)
        cuts = np.linspace(0, len(combos), 4 * n + 1).astype(int)
        _SHARED = (combos, tl)
        try:
            with cf.ProcessPoolExecutor(n, mp_context=mp.get_context("fork")) as pool:
                rows = [r for part in pool.map(_work, list(zip(cuts[:-1], cuts[1:], strict=True))) for r in part]
        finally:
            _SHARED = None
    return pd.DataFrame([r for r in rows if r is not None], columns=results_columns(combos))


def compiled_source(cfg: Config, tl: Timeline, wanted: list[Wanted]) -> list[StoredSignals]:
    """The effective signals of the wanted variants from the array rules (see the module docstring)."""
    entries = [w.entry.model_copy(update={"name": f"v{i}", "symbols": [tl.symbols[w.sym]], "risk": None,
                                          "sizing": None})
               for i, w in enumerate(wanted)]
    gen = cfg.model_copy(update={"strategies": entries, "risk": RiskConfig.model_validate({}),
                                 "portfolio": PortfolioConfig(initial_capital=cfg.portfolio.initial_capital)})
    md = _MARKETS.of(tl)
    plans = plan_books(gen, tl)
    sess = md.sessions(any(p.intraday for p in plans))
    ts, close = tl.ts, np.asarray(tl.close)
    out = []
    for plan, w in zip(plans, wanted, strict=True):
        active, sig, fpass, atr = book_arrays(md, gen, plan)
        P = _params(gen, plan, gen.portfolio.initial_capital, md.n_sym > 1)
        _, _, sigs, _, _ = K.run(md.o, md.h, md.l, md.c, md.sym, sess, sig, active, fpass, atr, P, md.n_sym)
        rows = sigs[:, 0].astype(np.int64)
        vals = sigs[:, 1].astype(np.int64)
        records = list(zip(rows.tolist(), ts[rows].tolist(), vals.tolist(), strict=True))
        gates = [bool(fpass[r] & (1 if v > 0 else 2)) for r, v in zip(rows.tolist(), vals.tolist(), strict=True)
                 if v != 0] if plan.filter else []
        recs = effective_signals(records, gates)
        g = np.array([r[0] for r in recs], dtype=np.int64)
        out.append(StoredSignals(bar=np.searchsorted(tl.rows[w.sym], g),
                                 ts=np.array([r[1] for r in recs], dtype=np.int64),
                                 value=np.array([r[2] for r in recs], dtype=np.int64),
                                 price=close[g] if len(g) else np.zeros(0)))
    return out


__all__ = ["compiled_runner", "compiled_source", "invalid_reason"]
