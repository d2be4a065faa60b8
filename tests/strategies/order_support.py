"""Order-API test helpers: `t_orders` runs the plan registered under its `plan` parameter.

A plan is a function (strategy, i, (o, h, l, c)) called on the strategy's i-th bar, so every
order of a test is written next to its bars.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from admf.config.loader import config_from_dict
from admf.data.frame import BarFrame
from admf.data.timeline import Timeline, merge
from admf.runtime.backtest import BacktestResult, run_variant
from admf.strategies.base import Strategy
from admf.strategies.params import Param
from admf.strategies.registry import all_strategies, register

T0 = int(pd.Timestamp("2024-01-08 14:30", tz="UTC").value)  # a Monday, 09:30 New York
MIN = 60_000_000_000
PLANS: dict[str, Callable[[Any, int, tuple[float, float, float, float]], None]] = {}

if "t_orders" not in all_strategies():

    @register("t_orders", plan=Param(str, "", doc="key of the plan in PLANS"))
    class PlannedOrders(Strategy):
        """Places the orders of its plan."""

        uses_orders = True

        def setup(self, hub: Any) -> None:
            self.i = 0
            self.seen: list[tuple[float, Any, Any]] = []

        def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
            PLANS[self.plan](self, self.i, (o, h, l, c))
            self.seen.append((self.position, self.avg_price, [x.type for x in self.open_orders]))
            self.i += 1
            return 0


def timeline(bars: Sequence[tuple[float, float, float, float]], symbol: str = "TEST") -> Timeline:
    a = np.array(bars, dtype=float).reshape(-1, 4)
    t = T0 + np.arange(len(a), dtype=np.int64) * 5 * MIN
    return merge([BarFrame(t, a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.full(len(a), 1000.0), symbol=symbol,
                           timeframe="5m")])


def run_plan(bars: Sequence[tuple[float, float, float, float]],
             plan: Callable[[Any, int, tuple[float, float, float, float]], None], **top: Any) -> BacktestResult:
    PLANS[plan.__name__] = plan
    raw: dict[str, Any] = {"name": "t", "data": "TEST_5m", "strategy": [{"t_orders": {"plan": plan.__name__}}],
                           "portfolio": {"initial_capital": 100_000}}
    raw.update(top)
    return run_variant(config_from_dict(raw), timeline(bars))
