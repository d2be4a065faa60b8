"""Band strategies: Bollinger, Keltner and VWAP deviation."""

from __future__ import annotations

from typing import Any

from admf.strategies.base import BandBreakoutStrategy, BandReversionStrategy, Strategy
from admf.strategies.params import Param, feature_param
from admf.strategies.registry import register

_PERIOD = feature_param("bollinger", "period", 20, doc="lookback in bars")
_STD = feature_param("bollinger", "std_dev", 2.0, doc="band width in standard deviations")


@register("bollinger_bands", period=_PERIOD, std_dev=_STD)
class BollingerBands(BandReversionStrategy):
    """Mean reversion: long below the lower Bollinger band, short above the upper; exit at the middle band."""

    def setup(self, hub: Any) -> None:
        self.band = hub.get(self.symbol, "bollinger", period=self.period, std_dev=self.std_dev)


@register("bollinger_breakout", period=_PERIOD, std_dev=_STD)
class BollingerBreakout(BandBreakoutStrategy):
    """Breakout: long above the upper Bollinger band, short below the lower; exit at the middle band."""

    def setup(self, hub: Any) -> None:
        self.band = hub.get(self.symbol, "bollinger", period=self.period, std_dev=self.std_dev)


_KELTNER = dict(
    period=feature_param("keltner", "period", 20, doc="EMA period of the middle line"),
    atr_period=feature_param("keltner", "atr_period", 10, doc="ATR period"),
    multiplier=feature_param("keltner", "multiplier", 2.0, doc="band width in ATRs"),
)


@register("keltner_bands", **_KELTNER)
class KeltnerBands(BandReversionStrategy):
    """Mean reversion on Keltner channels: long below the lower band, short above the upper; exit at the middle."""

    def setup(self, hub: Any) -> None:
        self.band = hub.get(self.symbol, "keltner", period=self.period, atr_period=self.atr_period,
                            multiplier=self.multiplier)


@register("keltner_breakout", **_KELTNER)
class KeltnerBreakout(BandBreakoutStrategy):
    """Breakout on Keltner channels: long above the upper band, short below the lower; exit at the middle."""

    def setup(self, hub: Any) -> None:
        self.band = hub.get(self.symbol, "keltner", period=self.period, atr_period=self.atr_period,
                            multiplier=self.multiplier)


@register("vwap_deviation", threshold=Param(float, 0.002, 0.0, 1.0, doc="distance from VWAP as a fraction"))
class VwapDeviation(Strategy):
    """Mean reversion to the session VWAP: long when price is `threshold` below it, short above; exit at VWAP."""

    def setup(self, hub: Any) -> None:
        self.vwap = hub.get(self.symbol, "vwap")

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        w = self.vwap
        if not w.ready:
            return 0
        vw = w.value
        s = self.signal
        if s == 1:
            if c >= vw:
                s = 0
        elif s == -1 and c <= vw:
            s = 0
        if s == 0:
            if c < vw * (1.0 - self.threshold):
                s = 1
            elif c > vw * (1.0 + self.threshold):
                s = -1
        self.signal = s
        return s
