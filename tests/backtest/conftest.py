"""Helpers for the hand-computed backtest tests: tiny bar series and a scripted strategy.

`bt_scripted` emits the i-th value of its `script` parameter (space separated 1 / 0 / -1)
on the i-th bar of its symbol, so every signal of a test is written down next to its bars;
"A=0 1|B=1 0" gives each symbol its own script.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from admf.config.loader import config_from_dict
from admf.data.frame import BarFrame
from admf.data.timeline import Timeline, merge
from admf.runtime.backtest import BacktestResult, run_variant
from admf.strategies.base import Strategy
from admf.strategies.params import Param
from admf.strategies.registry import all_strategies, register

# a Monday, 09:30 New York (EST) = 14:30 UTC
T0 = int(pd.Timestamp("2024-01-08 14:30", tz="UTC").value)
MIN = 60_000_000_000

OHLC = tuple[float, float, float, float]

if "bt_scripted" not in all_strategies():

    @register("bt_scripted", script=Param(str, "0", doc="signals per bar, space separated"))
    class Scripted(Strategy):
        """Emits a scripted signal sequence, one value per bar (the last value repeats)."""

        def setup(self, hub: Any) -> None:
            script = self.script
            if "=" in script:  # per symbol: "A=0 1 1|B=0 0 1"
                script = dict(part.split("=", 1) for part in script.split("|"))[self.symbol]
            self.seq = [int(x) for x in script.split()]
            self.i = 0

        def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
            s = self.seq[min(self.i, len(self.seq) - 1)]
            self.i += 1
            return s


def frame(bars: Sequence[OHLC], *, symbol: str = "TEST", ts: Sequence[int] | None = None,
          timeframe: str = "5m", step_min: int = 5) -> BarFrame:
    """A BarFrame from (open, high, low, close) tuples, every `step_min` minutes from T0 unless `ts` is given."""
    a = np.array(bars, dtype=float).reshape(-1, 4)
    t = np.asarray(ts, dtype=np.int64) if ts is not None else T0 + np.arange(len(a), dtype=np.int64) * step_min * MIN
    return BarFrame(t, a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.full(len(a), 1000.0), symbol=symbol,
                    timeframe=timeframe)


def timeline(bars: Sequence[OHLC] | dict[str, Sequence[OHLC]], **kw: Any) -> Timeline:
    """One symbol's bars, or {symbol: bars} for several symbols on the same times."""
    if isinstance(bars, dict):
        return merge([frame(b, symbol=s, **kw) for s, b in bars.items()])
    return merge([frame(bars, **kw)])


def config(script: str | None = None, *, strategies: list[dict] | None = None, **top: Any) -> Any:
    """A validated Config for one scripted strategy (or the given entries) on the TEST symbol."""
    raw: dict[str, Any] = {"name": "t", "data": "TEST_5m",
                           "strategy": strategies or [{"bt_scripted": {"script": script or "0"}}],
                           "portfolio": {"initial_capital": 100_000}}
    raw.update(top)
    return config_from_dict(raw)


def run(bars: Sequence[OHLC] | dict[str, Sequence[OHLC]] | Timeline, script: str | None = None,
        **kw: Any) -> BacktestResult:
    tl = bars if isinstance(bars, Timeline) else timeline(bars)
    return run_variant(config(script, **kw), tl)


@pytest.fixture
def bt() -> SimpleNamespace:
    """The helpers above: bt.run(bars, script, **config keys), bt.timeline, bt.frame, bt.config, bt.T0, bt.MIN."""
    return SimpleNamespace(run=run, timeline=timeline, frame=frame, config=config,
                           T0=T0, MIN=MIN)
