"""Example order strategies: limit entries with bracket exits, and a two-symbol pairs trade.

Both place their own orders (the order API, strategies/orders.py); neither has an array form,
so `engine: auto` runs them on the event engine.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from admf.core.errors import ConfigError
from admf.strategies.base import BarValues, Strategy
from admf.strategies.params import Param, feature_param
from admf.strategies.registry import register


@register("limit_bracket", period=feature_param("bollinger", "period", 20, doc="lookback in bars"),
          std_dev=feature_param("bollinger", "std_dev", 2.0, doc="band width in standard deviations"),
          offset=Param(float, 0.001, 0.0, 0.1, doc="entry limit below the close, as a fraction"),
          stop=Param(float, 0.01, 0.0, 0.5, min_open=True, doc="stop-loss below the entry, as a fraction"),
          target=Param(float, 0.02, 0.0, 1.0, min_open=True, doc="take-profit above the entry, as a fraction"),
          shares=Param(int, 10, 1, 10_000_000, doc="shares per entry"),
          wait=Param(int, 3, 1, 10_000, doc="bars an unfilled entry rests before it is cancelled"))
class LimitBracket(Strategy):
    """Long entries by limit order below a close under the lower Bollinger band, with a bracket
    (stop-loss and take-profit, one cancels the other); an entry unfilled after `wait` bars is
    cancelled. Prices are rounded to the cent (brokers refuse sub-penny prices)."""

    uses_orders = True

    def setup(self, hub: Any) -> None:
        self.band = hub.get(self.symbol, "bollinger", period=self.period, std_dev=self.std_dev)
        self.entry: str | None = None
        self.age = 0

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        working = {x.id for x in self.open_orders}
        if self.entry is not None and self.entry in working:
            self.age += 1
            if self.age >= self.wait:
                self.orders.cancel(self.entry)
            return 0
        self.entry = None
        if self.position or working or not self.band.ready or c >= self.band.lower:
            return 0
        limit = round(c * (1.0 - self.offset), 2)
        bracket = (round(limit * (1.0 - self.stop), 2), round(limit * (1.0 + self.target), 2))
        self.entry = self.orders.buy(self.shares, limit=limit, bracket=bracket)
        self.age = 0
        return 0


@register("pairs_zscore", period=Param(int, 60, 2, 100_000, doc="bars of the spread's rolling mean and deviation"),
          entry=Param(float, 2.0, 0.0, 100.0, min_open=True, doc="|z| that opens the pair"),
          exit=Param(float, 0.5, 0.0, 100.0, doc="|z| at or below which the pair is closed"),
          hedge_ratio=Param(float, 1.0, 0.0, 100.0, min_open=True, doc="beta of log(b) in the spread"),
          notional=Param(float, 10_000.0, 0.0, 1e12, min_open=True, doc="dollars per leg"))
class PairsZScore(Strategy):
    """Pairs trade on two symbols a, b (the entry's `symbols`, in data order): spread =
    log(a) - hedge_ratio * log(b), z = (spread - mean) / std over the last `period` steps
    (population deviation, the current step included). z > entry: short a, long b; z < -entry:
    long a, short b; |z| <= exit: both legs closed. Each leg is floor(notional / price) shares,
    sent as market orders (`target`)."""

    uses_orders = True
    multi_symbol = True

    def setup(self, hub: Any) -> None:
        if len(self.symbols) != 2:
            raise ConfigError("pairs_zscore trades exactly two symbols", field="symbols",
                              value=",".join(self.symbols), accepted="symbols: [A, B]")
        if self.exit >= self.entry:
            raise ConfigError("exit must be below entry", field="exit", value=self.exit, accepted=f"< {self.entry}")
        self.a, self.b = self.symbols
        self.spreads: deque[float] = deque(maxlen=self.period)
        self.side = 0  # 1: long a / short b, -1: short a / long b
        self.z = math.nan

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        return 0

    def on_bars(self, ts: int, bars: dict[str, BarValues]) -> None:
        pa, pb = bars[self.a][3], bars[self.b][3]
        self.spreads.append(math.log(pa) - self.hedge_ratio * math.log(pb))
        if len(self.spreads) < self.period:
            return
        n = len(self.spreads)
        mean = sum(self.spreads) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in self.spreads) / n)
        if sd <= 0.0:
            return
        z = self.z = (self.spreads[-1] - mean) / sd
        side = self.side
        if side == 0 and z > self.entry:
            side = -1
        elif side == 0 and z < -self.entry:
            side = 1
        elif side != 0 and abs(z) <= self.exit:
            side = 0
        if side == self.side:
            return
        self.side = side
        qa = math.floor(self.notional / pa)
        qb = math.floor(self.notional / pb)
        self.orders.target(side * qa, self.a)
        self.orders.target(-side * qb, self.b)
