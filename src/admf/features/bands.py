"""Price bands: Bollinger, Keltner, Donchian."""

from __future__ import annotations

from math import fsum, sqrt
from operator import mul

from .base import NAN, Indicator
from .cores import AtrCore, EmaCore, ExtremesCore
from .registry import Period, Positive, register


@register("bollinger", period=Period(20), std_dev=Positive(2.0))
class Bollinger(Indicator):
    """Bollinger bands: SMA(close) +/- std_dev * population std (ddof=0, as TA-Lib BBANDS).

    Accuracy: the window is kept as deviations from an anchor ``a``; s1 = sum(x - a) and
    s2 = sum((x - a)^2) are updated in O(1). Every ``period`` bars (when the ring index
    wraps) the anchor is reset to the window mean (math.fsum, correctly rounded) and s1, s2
    are rebuilt with fsum, so drift never outlives one window and the cancellation in
    s2/n - (s1/n)^2 is limited to how far the price moved from the anchor within it.
    Measured against exact rational arithmetic (tests/features): middle bit-identical,
    bands within 1 ulp and bit-identical on >99% of bars, on SPY 5m and synthetic data.
    """

    __slots__ = ("period", "std_dev", "upper", "middle", "lower", "_buf", "_i", "_n", "_a", "_s1", "_s2")
    outputs = ("upper", "middle", "lower")

    def __init__(self, period: int = 20, std_dev: float = 2.0) -> None:
        super().__init__()
        self.period = period
        self.std_dev = std_dev
        self.upper = self.middle = self.lower = NAN
        self._buf = [0.0] * period
        self._i = 0
        self._n = 0
        self._a = 0.0
        self._s1 = 0.0
        self._s2 = 0.0

    @property
    def warmup(self) -> int:
        return self.period

    def _rebuild(self) -> None:
        buf = self._buf
        a = self._a = fsum(buf) / self.period
        d = [x - a for x in buf]
        self._s1 = fsum(d)
        self._s2 = fsum(map(mul, d, d))

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        if self.ready:
            buf = self._buf
            i = self._i
            a = self._a
            old = buf[i] - a
            buf[i] = c
            i += 1
            if i != self.period:
                self._i = i
                d = c - a
                s1 = self._s1 = self._s1 + (d - old)
                s2 = self._s2 = self._s2 + (d * d - old * old)
            else:
                self._i = 0
                self._rebuild()
                a = self._a
                s1 = self._s1
                s2 = self._s2
        else:
            self._buf[self._n] = c
            self._n += 1
            if self._n < self.period:
                return
            self._rebuild()
            self.ready = True
            a = self._a
            s1 = self._s1
            s2 = self._s2
        p = self.period
        m = s1 / p
        var = s2 / p - m * m
        mid = self.value = self.middle = a + m
        if var > 0.0:
            w = self.std_dev * sqrt(var)
            self.upper = mid + w
            self.lower = mid - w
        else:
            self.upper = self.lower = mid


@register("keltner", period=Period(20), atr_period=Period(10, lo=1), multiplier=Positive(2.0))
class Keltner(Indicator):
    """Keltner channel: middle = EMA(close, period), bands = middle +/- multiplier * ATR(atr_period)
    (Wilder ATR, TA-Lib seeding). Ready once both the EMA and the ATR are."""

    __slots__ = ("period", "atr_period", "multiplier", "upper", "middle", "lower", "_ema", "_atr")
    outputs = ("upper", "middle", "lower")

    def __init__(self, period: int = 20, atr_period: int = 10, multiplier: float = 2.0) -> None:
        super().__init__()
        self.period = period
        self.atr_period = atr_period
        self.multiplier = multiplier
        self.upper = self.middle = self.lower = NAN
        self._ema = EmaCore(period)
        self._atr = AtrCore(atr_period)

    @property
    def warmup(self) -> int:
        return max(self.period, self.atr_period + 1)

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        mid = self._ema.push(c)
        atr = self._atr.push(h, l, c)
        if mid == mid and atr == atr:
            w = self.multiplier * atr
            self.value = self.middle = mid
            self.upper = mid + w
            self.lower = mid - w
            self.ready = True


@register("donchian", period=Period(20))
class Donchian(Indicator):
    """Donchian channel over the last ``period`` bars including the current one:
    upper = highest high, lower = lowest low, middle = their mean (value = middle).
    Monotonic deques make each update amortized O(1)."""

    __slots__ = ("period", "upper", "middle", "lower", "_ext")
    outputs = ("upper", "middle", "lower")

    def __init__(self, period: int = 20) -> None:
        super().__init__()
        self.period = period
        self.upper = self.middle = self.lower = NAN
        self._ext = ExtremesCore(period)

    @property
    def warmup(self) -> int:
        return self.period

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        ext = self._ext
        if ext.push(h, l):
            up = self.upper = ext.hv[0]
            lo = self.lower = ext.lv[0]
            self.value = self.middle = (up + lo) / 2.0
            self.ready = True
