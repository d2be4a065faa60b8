"""Momentum and oscillator strategies: RSI, stochastic, rate of change."""

from __future__ import annotations

from typing import Any

from admf.core.errors import ConfigError
from admf.strategies.base import CrossoverStrategy, Strategy
from admf.strategies.params import Param, feature_param
from admf.strategies.registry import register


@register("rsi_bands", period=feature_param("rsi", "period", 14), oversold=Param(float, 30.0, 0.0, 100.0),
          overbought=Param(float, 70.0, 0.0, 100.0), exit_level=Param(float, 50.0, 0.0, 100.0))
class RsiBands(Strategy):
    """Mean reversion: long below RSI `oversold`, short above `overbought`; exit when RSI crosses `exit_level`."""

    def setup(self, hub: Any) -> None:
        if self.oversold >= self.overbought:
            raise ConfigError("oversold must be below overbought", field="oversold", value=self.oversold,
                              accepted=f"< overbought ({self.overbought})")
        self.rsi = hub.get(self.symbol, "rsi", period=self.period)

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        r = self.rsi
        if not r.ready:
            return 0
        x = r.value
        s = self.signal
        if s == 1:
            if x >= self.exit_level:
                s = 0
        elif s == -1 and x <= self.exit_level:
            s = 0
        if s == 0:
            if x < self.oversold:
                s = 1
            elif x > self.overbought:
                s = -1
        self.signal = s
        return s


@register("rsi_threshold", period=feature_param("rsi", "period", 14), threshold=Param(float, 50.0, 0.0, 100.0))
class RsiThreshold(Strategy):
    """Momentum: long while RSI is above `threshold`, short while below."""

    def setup(self, hub: Any) -> None:
        self.rsi = hub.get(self.symbol, "rsi", period=self.period)

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        r = self.rsi
        if r.ready:
            x = r.value
            if x > self.threshold:
                self.signal = 1
            elif x < self.threshold:
                self.signal = -1
        return self.signal


@register("stochastic_crossover", k_period=feature_param("stochastic", "k_period", 14),
          k_smooth=feature_param("stochastic", "k_smooth", 3), d_period=feature_param("stochastic", "d_period", 3))
class StochasticCrossover(CrossoverStrategy):
    """Long when %K crosses above %D, short when it crosses below."""

    def setup(self, hub: Any) -> None:
        self.st = hub.get(self.symbol, "stochastic", k_period=self.k_period, k_smooth=self.k_smooth,
                          d_period=self.d_period)

    def lines(self) -> tuple[bool, float, float]:
        st = self.st
        return st.ready, st.k, st.d


@register("roc_momentum", period=feature_param("roc", "period", 10), threshold=Param(float, 0.0, 0.0, 100.0))
class RocMomentum(Strategy):
    """Long when the rate of change (percent) is above `threshold`, short below -`threshold`, flat between."""

    def setup(self, hub: Any) -> None:
        self.roc = hub.get(self.symbol, "roc", period=self.period)

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        r = self.roc
        if r.ready:
            x = r.value
            self.signal = 1 if x > self.threshold else (-1 if x < -self.threshold else 0)
        return self.signal
