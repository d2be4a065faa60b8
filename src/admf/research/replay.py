"""Signal replay: a backtest whose strategies read their stored signals instead of computing them.

Each strategy entry of the config becomes a `stored_signals` entry that plays back the
effective signal stored for it (see `signal_gen.py`), with the entry's direction and session
rule and no filter (the filter is already in the stored signal). Sizing, limits, risk exits,
costs, fills and books run exactly as in a backtest, so the trades equal the full backtest's;
no feature of a strategy is computed (an `atr` sizing rule still computes its ATR).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from admf.config.loader import expand
from admf.config.schema import Config, StrategyEntry
from admf.core.errors import ConfigError, DataError, UserError
from admf.data.timeline import Timeline
from admf.research.features import FeatureStore
from admf.research.rules import ARRAY_FORMS
from admf.research.search import SweepRunner
from admf.research.signal_store import SignalStore, bars_fingerprint, variant_key
from admf.runtime.backtest import BacktestResult, _as_config, book_ids, choose_engine, load_timeline, run_engine
from admf.strategies.base import Strategy
from admf.strategies.params import Param
from admf.strategies.registry import all_strategies, register

NAME = "stored_signals"


def _define() -> None:
    if NAME in all_strategies():
        return

    @register(NAME, store=Param(str, "", doc="signal store directory"),
              keys=Param(str, "", doc="SYMBOL=hash per symbol, separated by |"))
    class StoredSignalsStrategy(Strategy):
        """Plays back a variant's stored signal (written by `admf signals`); computes no features."""

        def setup(self, hub: Any) -> None:
            keys = dict(part.split("=", 1) for part in self.keys.split("|") if "=" in part)
            if self.symbol not in keys:
                raise ConfigError("no stored signals for this symbol", field="keys", value=self.symbol,
                                  accepted=", ".join(keys) or "SYMBOL=hash")
            sig = SignalStore(self.store).read(keys[self.symbol])
            self._at = sig.bar.tolist()
            self._ts = sig.ts.tolist()
            self._val = sig.value.tolist()
            self._i = 0
            self._j = 0
            self._next = self._at[0] if self._at else -1

        def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
            i = self._i
            self._i = i + 1
            if i == self._next:
                j = self._j
                if ts != self._ts[j]:
                    raise DataError("stored signals do not match these bars (a change is stored at another "
                                    "time)", field=self.symbol, value=self.keys,
                                    accepted="replay on the bars the signals were generated on")
                self.signal = self._val[j]
                self._j = j + 1
                self._next = self._at[j + 1] if j + 1 < len(self._at) else -1
            return self.signal


_define()


@lru_cache(maxsize=64)
def _read(store: str, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bar, ts, value) of a stored variant; the price column is not needed to trade."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    st = SignalStore(store)
    if not st.has(key):
        st.read(key)  # the store's own one-line error
    t = pq.read_table(st.path(key), columns=["bar", "ts", "value"])
    return (t["bar"].to_numpy().astype(np.int64), t["ts"].cast(pa.int64()).to_numpy(),
            t["value"].to_numpy().astype(np.int8))


def stored_signal_array(features: FeatureStore, k: int, p: dict[str, Any], c: np.ndarray) -> np.ndarray:
    """The array form of `stored_signals`: each stored change held until the next one (no features)."""
    sym = features.symbols[k]
    keys = dict(part.split("=", 1) for part in str(p["keys"]).split("|") if "=" in part)
    if sym not in keys:
        raise ConfigError("no stored signals for this symbol", field="keys", value=sym,
                          accepted=", ".join(keys) or "SYMBOL=hash")
    bar, ts, value = _read(str(p["store"]), keys[sym])
    own_ts = features.cols(k)[0]
    n = len(c)
    if len(bar) and (bar[-1] >= n or not np.array_equal(own_ts[bar], ts)):
        raise DataError("stored signals do not match these bars (a change is stored at another time)",
                        field=sym, value=p["keys"], accepted="replay on the bars the signals were generated on")
    out = np.zeros(n, dtype=np.int8)
    if len(bar):
        out[bar[0]:] = np.repeat(value, np.diff(np.append(bar, n)))
    return out


class _Prints:
    """The bars fingerprints of the last timeline asked for (a replay sweep asks once per combination)."""

    def __init__(self) -> None:
        self._tl: Timeline | None = None
        self._prints: list[str] = []

    def of(self, tl: Timeline) -> list[str]:
        if self._tl is not tl:
            self._prints = [bars_fingerprint(tl, k) for k in range(len(tl.symbols))]
            self._tl = tl
        return self._prints


_PRINTS = _Prints()


ARRAY_FORMS[NAME] = stored_signal_array


def replay_entries(cfg: Config, tl: Timeline, store: SignalStore) -> list[StrategyEntry]:
    """The config's entries as `stored_signals` entries (same books, direction, session rule)."""
    prints = _PRINTS.of(tl)
    out = []
    for i, (e, bid) in enumerate(zip(cfg.strategies, book_ids(cfg.strategies), strict=True)):
        if e.type == NAME:
            out.append(e)
            continue
        keys = []
        for k, sym in enumerate(tl.symbols):
            if e.symbols and sym not in e.symbols:
                continue
            h = variant_key(e, sym, tl.timeframe, prints[k], file=cfg.source).hash
            if not store.has(h):
                raise UserError("signals of this strategy on these bars are not in the store", file=cfg.source,
                                field=f"strategy[{i}].{e.type}", value=f"{sym} {e.params}",
                                accepted=f"generate them first: admf signals CONFIG --store {store.root}")
            keys.append(f"{sym}={h}")
        out.append(e.model_copy(update={"type": NAME, "name": bid, "filter": None,
                                        "params": {"store": str(store.root), "keys": "|".join(keys)}}))
    return out


def replay_config(cfg: Config, tl: Timeline, store: SignalStore) -> Config:
    return cfg.model_copy(update={"strategies": replay_entries(cfg, tl, store)})


def replay(config: str | Path | dict | Config, *, store: str | Path, start: str | None = None,
           end: str | None = None, symbols: list[str] | None = None,
           bars: int | None = None, engine: str | None = "auto") -> BacktestResult | list[BacktestResult]:
    """Python API: what `admf.backtest` returns, on the stored signals. A grid returns a list.

    engine: auto (the compiled kernel on the stored signals), event or compiled."""
    cfg = _as_config(config)
    st = SignalStore(store)
    tl = load_timeline(cfg, start=start, end=end, symbols=symbols, bars=bars)
    results = []
    for v in expand(cfg):
        rc = replay_config(v.config, tl, st)
        results.append(run_engine(rc, tl, choose_engine(rc, engine), label=v.label))
    return results[0] if len(results) == 1 else results


# risk and cost parameters a replay sweep may vary, and where each goes in the config
RISK_KEYS = ("stop_loss", "take_profit", "trailing_stop", "max_holding_bars", "max_position", "max_notional",
             "max_gross_exposure")
COST_KEYS = {"slippage": ("slippage", "value"), "commission": ("commission", "rate")}
SWEEP_KEYS = (*RISK_KEYS, *COST_KEYS, "fill")


def with_overrides(cfg: Config, values: Mapping[str, Any]) -> Config:
    """The config with risk keys set on every entry and cost keys in `execution`."""
    from admf.config.schema import RiskConfig

    entries = []
    risk = {k: v for k, v in values.items() if k in RISK_KEYS}
    for e in cfg.strategies:
        base = e.risk or RiskConfig.model_validate({})
        entries.append(e.model_copy(update={"risk": RiskConfig.model_validate({**base.model_dump(exclude_unset=True),
                                                                              **risk})}) if risk else e)
    ex = cfg.execution
    for key, (section, field) in COST_KEYS.items():
        if key in values:
            sub = getattr(ex, section)
            update: dict[str, Any] = {field: float(values[key])}
            if sub.type == "none":
                update["type"] = "bps" if key == "slippage" else "per_share"
            ex = ex.model_copy(update={section: type(sub).model_validate({**sub.model_dump(), **update})})
    if "fill" in values:
        ex = ex.model_copy(update={"fill": values["fill"]})
    return cfg.model_copy(update={"strategies": entries, "execution": ex})


def parse_sweep(items: Sequence[str]) -> dict[str, list[Any]]:
    """`stop_loss=0.002,0.005` (repeatable) into {"stop_loss": [0.002, 0.005]}."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, _, vals = item.partition("=")
        key = key.strip()
        if key not in SWEEP_KEYS or not vals:
            raise UserError("not a replay sweep axis", field="--sweep", value=item,
                            accepted=f"KEY=V1,V2,... with KEY one of {', '.join(SWEEP_KEYS)}")
        parsed: list[Any] = []
        for v in vals.split(","):
            v = v.strip()
            if key == "fill":
                parsed.append(v)
                continue
            try:
                parsed.append(int(v) if key == "max_holding_bars" else float(v))
            except ValueError:
                raise UserError("not a number", field=f"--sweep {key}", value=v,
                                accepted="numbers separated by commas") from None
        out[key] = parsed
    return out


def replay_sweep(config: str | Path | dict | Config, *, store: str | Path, sweep: Mapping[str, Sequence[Any]],
                 runner: SweepRunner | None = None, start: str | None = None, end: str | None = None,
                 symbols: list[str] | None = None, bars: int | None = None) -> pd.DataFrame:
    """Every combination of the config's grid and the risk/cost `sweep`, on fixed stored signals.

    The results table of a sweep: a column per varied parameter, every metric, `label`.
    """
    from admf.config.grid import product
    from admf.research.search import Combo, auto_runner, grid_combos

    for key in sweep:
        if key not in SWEEP_KEYS:
            raise UserError("not a replay sweep axis", field="sweep", value=key, accepted=", ".join(SWEEP_KEYS))
    cfg = _as_config(config)
    st = SignalStore(store)
    tl = load_timeline(cfg, start=start, end=end, symbols=symbols, bars=bars)
    combos = []
    for c in grid_combos(cfg):
        base = replay_config(c.config, tl, st)
        for values in product({k: list(v) for k, v in sweep.items()}):
            tag = ",".join(f"{k}={v}" for k, v in values.items())
            label = ";".join(x for x in (c.label if c.params else "", tag) if x) or c.label
            try:
                rc = with_overrides(base, values)
            except ValidationError as exc:
                raise UserError("invalid sweep value", field="sweep", value=values,
                                accepted=str(exc.errors()[0].get("msg", ""))) from None
            combos.append(Combo(label, rc, {**c.params, **values}))
    return (runner or auto_runner)(combos, tl)


__all__ = ["NAME", "SWEEP_KEYS", "parse_sweep", "replay", "replay_config", "replay_entries", "replay_sweep",
           "with_overrides"]
