"""Moving averages of the close: SMA, EMA, WMA, DEMA, TEMA (TA-Lib definitions)."""

from __future__ import annotations

from math import fsum

from .base import Indicator
from .cores import EmaCore
from .registry import Period, register


@register("sma", period=Period(20))
class SMA(Indicator):
    """Simple moving average. Running sum, rebuilt exactly (fsum) every ``period`` bars
    so drift never accumulates past one window."""

    __slots__ = ("period", "_buf", "_i", "_n", "_total")

    def __init__(self, period: int = 20) -> None:
        super().__init__()
        self.period = period
        self._buf = [0.0] * period
        self._i = 0
        self._n = 0
        self._total = 0.0

    @property
    def warmup(self) -> int:
        return self.period

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        buf = self._buf
        i = self._i
        if self.ready:
            total = self._total - buf[i] + c
            buf[i] = c
            i += 1
            if i == self.period:
                i = 0
                total = fsum(buf)
            self._i = i
            self._total = total
            self.value = total / self.period
            return
        buf[i] = c
        self._i = i + 1
        self._total += c
        self._n += 1
        if self._n == self.period:
            self._i = 0
            self._total = fsum(buf)
            self.value = self._total / self.period
            self.ready = True


@register("ema", period=Period(20))
class EMA(Indicator):
    """Exponential moving average, k = 2/(period+1), seeded with the SMA of the first
    ``period`` closes (TA-Lib's default)."""

    __slots__ = ("period", "_k", "_n", "_total")

    def __init__(self, period: int = 20) -> None:
        super().__init__()
        self.period = period
        self._k = 2.0 / (period + 1)
        self._n = 0
        self._total = 0.0

    @property
    def warmup(self) -> int:
        return self.period

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        if self.ready:
            prev = self.value
            self.value = (c - prev) * self._k + prev
            return
        self._total += c
        self._n += 1
        if self._n == self.period:
            self.value = self._total / self.period
            self.ready = True


@register("wma", period=Period(20))
class WMA(Indicator):
    """Linearly weighted moving average (weights 1..period, newest heaviest).

    Keeps the weighted sum W and plain sum S: dropping the oldest and adding x gives
    W' = W - S + period*x and S' = S - oldest + x; both are rebuilt every ``period`` bars.
    """

    __slots__ = ("period", "_buf", "_i", "_n", "_wsum", "_sum", "_div")

    def __init__(self, period: int = 20) -> None:
        super().__init__()
        self.period = period
        self._buf = [0.0] * period
        self._i = 0
        self._n = 0
        self._wsum = 0.0
        self._sum = 0.0
        self._div = period * (period + 1) / 2.0

    @property
    def warmup(self) -> int:
        return self.period

    def _rebuild(self) -> None:
        # Ring position _i holds the oldest value after the write-and-advance.
        buf = self._buf
        i = self._i
        ordered = buf[i:] + buf[:i]
        self._sum = fsum(ordered)
        self._wsum = fsum([x * (j + 1) for j, x in enumerate(ordered)])

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        buf = self._buf
        i = self._i
        p = self.period
        if self.ready:
            s = self._sum
            self._wsum = self._wsum - s + p * c
            self._sum = s - buf[i] + c
            buf[i] = c
            i += 1
            if i == p:
                i = 0
                self._i = 0
                self._rebuild()
            self._i = i
            self.value = self._wsum / self._div
            return
        buf[i] = c
        self._n += 1
        self._i = i + 1
        if self._n == p:
            self._i = 0
            self._rebuild()
            self.value = self._wsum / self._div
            self.ready = True


@register("dema", period=Period(20))
class DEMA(Indicator):
    """Double EMA: 2*EMA(close) - EMA(EMA(close)); ready after 2*period-1 bars."""

    __slots__ = ("period", "_e1", "_e2")

    def __init__(self, period: int = 20) -> None:
        super().__init__()
        self.period = period
        self._e1 = EmaCore(period)
        self._e2 = EmaCore(period)

    @property
    def warmup(self) -> int:
        return 2 * self.period - 1

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        e1 = self._e1.push(c)
        if e1 == e1:
            e2 = self._e2.push(e1)
            if e2 == e2:
                self.value = 2.0 * e1 - e2
                self.ready = True


@register("tema", period=Period(20))
class TEMA(Indicator):
    """Triple EMA: 3*E1 - 3*E2 + E3 with E2 = EMA(E1), E3 = EMA(E2); ready after 3*period-2 bars."""

    __slots__ = ("period", "_e1", "_e2", "_e3")

    def __init__(self, period: int = 20) -> None:
        super().__init__()
        self.period = period
        self._e1 = EmaCore(period)
        self._e2 = EmaCore(period)
        self._e3 = EmaCore(period)

    @property
    def warmup(self) -> int:
        return 3 * self.period - 2

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        e1 = self._e1.push(c)
        if e1 == e1:
            e2 = self._e2.push(e1)
            if e2 == e2:
                e3 = self._e3.push(e2)
                if e3 == e3:
                    self.value = e3 + (3.0 * e1 - 3.0 * e2)
                    self.ready = True
