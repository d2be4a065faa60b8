"""What a run's price chart shows: each symbol's bars and the indicator lines its strategies trade on.

The lines come from the features' whole-array twins (features/vectorized.py), which equal the
incremental indicators after warm-up. A strategy without a twin simply draws no lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from admf.config.schema import StrategyEntry
from admf.data.timeline import Timeline
from admf.features import vectorized as vec

Lines = dict[str, np.ndarray]


def _bands(name: str, upper: np.ndarray, middle: np.ndarray, lower: np.ndarray) -> Lines:
    return {f"{name} upper": upper, f"{name} middle": middle, f"{name} lower": lower}


def _bollinger(p: dict[str, Any], bars: pd.DataFrame) -> Lines:
    period, k = int(p.get("period", 20)), float(p.get("std_dev", 2.0))
    return _bands(f"bollinger({period}, {k:g})", *vec.bollinger(bars["close"].to_numpy(), period, k))


def _crossover(fn: Callable[[np.ndarray, int], np.ndarray], label: str) -> Callable[[dict[str, Any], pd.DataFrame],
                                                                                       Lines]:
    def lines(p: dict[str, Any], bars: pd.DataFrame) -> Lines:
        c = bars["close"].to_numpy()
        return {f"{label}({int(p[k])})": fn(c, int(p[k])) for k in ("fast", "slow") if k in p}

    return lines


def _donchian(p: dict[str, Any], bars: pd.DataFrame) -> Lines:
    period = int(p.get("period", 20))
    return _bands(f"donchian({period})", *vec.donchian(bars["high"].to_numpy(), bars["low"].to_numpy(), period))


OVERLAYS: dict[str, Callable[[dict[str, Any], pd.DataFrame], Lines]] = {
    "bollinger_bands": _bollinger,
    "bollinger_breakout": _bollinger,
    "sma_crossover": _crossover(vec.sma, "sma"),
    "ema_crossover": _crossover(vec.ema, "ema"),
    "donchian_breakout": _donchian,
}


def symbol_bars(tl: Timeline) -> dict[str, pd.DataFrame]:
    """Each symbol's OHLC as a DataFrame with a UTC index."""
    out = {}
    for k, sym in enumerate(tl.symbols):
        r = tl.rows[k]
        idx = pd.DatetimeIndex(tl.ts[r].astype("datetime64[ns]"), tz="UTC")
        out[sym] = pd.DataFrame({"open": tl.open[r], "high": tl.high[r], "low": tl.low[r], "close": tl.close[r]},
                                index=idx)
    return out


def indicator_lines(entries: Sequence[StrategyEntry], bars: dict[str, pd.DataFrame]) -> dict[str, Lines]:
    """symbol -> line name -> values, for every strategy entry with a vectorized twin (each line once)."""
    out: dict[str, Lines] = {}
    for sym, b in bars.items():
        lines: Lines = {}
        for e in entries:
            fn = OVERLAYS.get(e.type)
            if fn is None or (e.symbols and sym not in e.symbols):
                continue
            for name, v in fn(dict(e.params), b).items():
                lines.setdefault(name, v)
        out[sym] = lines
    return out
