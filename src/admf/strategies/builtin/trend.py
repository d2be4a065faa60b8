"""Trend strategies: moving-average and MACD crossovers, Donchian breakout, Supertrend."""

from __future__ import annotations

from typing import Any

from admf.core.errors import ConfigError
from admf.strategies.base import CrossoverStrategy, Strategy
from admf.strategies.params import feature_param
from admf.strategies.registry import register


def _check_fast_slow(fast: int, slow: int) -> None:
    if fast >= slow:
        raise ConfigError("fast must be shorter than slow", field="fast", value=fast, accepted=f"< slow ({slow})")


@register("sma_crossover", fast=feature_param("sma", "period", 10), slow=feature_param("sma", "period", 30))
class SmaCrossover(CrossoverStrategy):
    """Long when the fast SMA crosses above the slow SMA, short when it crosses below."""

    def setup(self, hub: Any) -> None:
        _check_fast_slow(self.fast, self.slow)
        self.f = hub.get(self.symbol, "sma", period=self.fast)
        self.s = hub.get(self.symbol, "sma", period=self.slow)

    def lines(self) -> tuple[bool, float, float]:
        return self.s.ready, self.f.value, self.s.value


@register("ema_crossover", fast=feature_param("ema", "period", 12), slow=feature_param("ema", "period", 26))
class EmaCrossover(CrossoverStrategy):
    """Long when the fast EMA crosses above the slow EMA, short when it crosses below."""

    def setup(self, hub: Any) -> None:
        _check_fast_slow(self.fast, self.slow)
        self.f = hub.get(self.symbol, "ema", period=self.fast)
        self.s = hub.get(self.symbol, "ema", period=self.slow)

    def lines(self) -> tuple[bool, float, float]:
        return self.s.ready, self.f.value, self.s.value


@register("macd_crossover", fast=feature_param("macd", "fast", 12), slow=feature_param("macd", "slow", 26),
          signal=feature_param("macd", "signal", 9))
class MacdCrossover(CrossoverStrategy):
    """Long when MACD crosses above its signal line, short when it crosses below."""

    def __init__(self, symbol: str, params: dict[str, Any], hub: Any) -> None:
        # `signal` is both a parameter and the strategy's state; keep the parameter apart
        params = dict(params)
        self.signal_period = params.pop("signal")
        super().__init__(symbol, params, hub)
        self.values["signal"] = self.signal_period

    def setup(self, hub: Any) -> None:
        _check_fast_slow(self.fast, self.slow)
        self.m = hub.get(self.symbol, "macd", fast=self.fast, slow=self.slow, signal=self.signal_period)

    def lines(self) -> tuple[bool, float, float]:
        m = self.m
        return m.ready, m.macd, m.signal


@register("donchian_breakout", period=feature_param("donchian", "period", 20))
class DonchianBreakout(Strategy):
    """Long on a close above the prior `period`-bar high, short below the prior low; exit at the channel middle."""

    def setup(self, hub: Any) -> None:
        self.ch = hub.get(self.symbol, "donchian", period=self.period)
        self._up = self._lo = self._mid = None

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        ch = self.ch
        up, lo, mid = self._up, self._lo, self._mid
        if ch.ready:
            self._up, self._lo, self._mid = ch.upper, ch.lower, ch.middle
        if up is None:
            return self.signal
        s = self.signal
        if s == 1:
            if c < mid:
                s = 0
        elif s == -1 and c > mid:
            s = 0
        if s == 0:
            if c > up:
                s = 1
            elif c < lo:
                s = -1
        self.signal = s
        return s


@register("supertrend", period=feature_param("supertrend", "period", 10),
          multiplier=feature_param("supertrend", "multiplier", 3.0))
class Supertrend(Strategy):
    """Follows the Supertrend direction: long in an up trend, short in a down trend."""

    def setup(self, hub: Any) -> None:
        self.st = hub.get(self.symbol, "supertrend", period=self.period, multiplier=self.multiplier)

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        st = self.st
        if st.ready:
            self.signal = 1 if st.direction > 0 else -1
        return self.signal
