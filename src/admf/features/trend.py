"""Range and trend indicators: ATR, ADX, Supertrend."""

from __future__ import annotations

from .base import NAN, Indicator
from .cores import AtrCore
from .registry import Period, Positive, register


@register("atr", period=Period(14, lo=1))
class ATR(Indicator):
    """Average true range, Wilder smoothing seeded as TA-Lib ATR (ready at bar ``period``+1)."""

    __slots__ = ("period", "_core")

    def __init__(self, period: int = 14) -> None:
        super().__init__()
        self.period = period
        self._core = AtrCore(period)

    @property
    def warmup(self) -> int:
        return self.period + 1

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        core = self._core
        atr = core.push(h, l, c)
        if core.ready:
            self.value = atr
            self.ready = True


@register("adx", period=Period(14))
class ADX(Indicator):
    """ADX with +DI/-DI, step for step as TA-Lib ADX (Wilder smoothing, unrounded).

    Ready after 2*period bars; plus_di/minus_di then equal TA-Lib PLUS_DI/MINUS_DI.
    """

    __slots__ = (
        "period", "adx", "plus_di", "minus_di",
        "_n", "_ph", "_pl", "_pc", "_pdm", "_mdm", "_tr", "_sum_dx", "_pdi", "_mdi",
    )  # fmt: skip
    outputs = ("adx", "plus_di", "minus_di")

    def __init__(self, period: int = 14) -> None:
        super().__init__()
        self.period = period
        self.adx = self.plus_di = self.minus_di = NAN
        self._n = 0
        self._ph = self._pl = self._pc = NAN
        self._pdm = self._mdm = self._tr = 0.0
        self._sum_dx = 0.0
        self._pdi = self._mdi = 0.0

    @property
    def warmup(self) -> int:
        return 2 * self.period

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        n = self._n
        if n == 0:
            self._n = 1
            self._ph = h
            self._pl = l
            self._pc = c
            return
        p = self.period
        dp = h - self._ph
        dm = self._pl - l
        pc = self._pc
        self._ph = h
        self._pl = l
        self._pc = c
        tr = h - l
        t = abs(h - pc)
        if t > tr:
            tr = t
        t = abs(l - pc)
        if t > tr:
            tr = t
        if n < p:
            # First period-1 bars after the first: plain sums.
            self._n = n + 1
            if dm > 0 and dp < dm:
                self._mdm += dm
            elif dp > 0 and dp > dm:
                self._pdm += dp
            self._tr += tr
            return
        mdm = self._mdm
        pdm = self._pdm
        mdm -= mdm / p
        pdm -= pdm / p
        if dm > 0 and dp < dm:
            mdm += dm
        elif dp > 0 and dp > dm:
            pdm += dp
        prev_tr = self._tr
        prev_tr = prev_tr - prev_tr / p + tr
        self._mdm = mdm
        self._pdm = pdm
        self._tr = prev_tr
        dx = NAN
        if prev_tr != 0.0:
            mdi = self._mdi = 100.0 * (mdm / prev_tr)
            pdi = self._pdi = 100.0 * (pdm / prev_tr)
            s = mdi + pdi
            if s != 0.0:
                dx = 100.0 * (abs(mdi - pdi) / s)
            self.plus_di = pdi
            self.minus_di = mdi
        else:
            # TA-Lib's PLUS_DI/MINUS_DI output 0 when the smoothed range is 0.
            self.plus_di = self.minus_di = 0.0
        if self.ready:
            if dx == dx:
                self.value = self.adx = (self.adx * (p - 1) + dx) / p
            return
        self._n = n + 1
        if dx == dx:
            self._sum_dx += dx
        if n + 1 == 2 * p:
            self.value = self.adx = self._sum_dx / p
            self.ready = True
        else:
            self.plus_di = self.minus_di = NAN


@register("supertrend", period=Period(10, lo=1), multiplier=Positive(3.0))
class Supertrend(Indicator):
    """Supertrend on hl2 = (h+l)/2 with Wilder ATR(period) (TA-Lib seeding).

    basic bands: hl2 +/- multiplier*ATR. The final upper band only moves down (and the
    lower only up) unless the previous close crossed it. Direction follows TradingView's
    ta.supertrend: on the first ready bar it is -1 (line = upper band); afterwards, if the
    previous line was the upper band, direction is +1 when close > upper, else -1; if it
    was the lower band, direction is -1 when close < lower, else +1. value = the line:
    lower band when direction is +1, upper band when -1.
    """

    __slots__ = ("period", "multiplier", "direction", "upper", "lower", "_atr", "_pc")
    outputs = ("value", "direction")

    def __init__(self, period: int = 10, multiplier: float = 3.0) -> None:
        super().__init__()
        self.period = period
        self.multiplier = multiplier
        self.direction = 0
        self.upper = self.lower = NAN
        self._atr = AtrCore(period)
        self._pc = NAN

    @property
    def warmup(self) -> int:
        return self.period + 1

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        atr = self._atr.push(h, l, c)
        pc = self._pc
        self._pc = c
        if atr != atr:
            return
        hl2 = (h + l) / 2.0
        w = self.multiplier * atr
        up = hl2 + w
        lo = hl2 - w
        if not self.ready:
            self.upper = up
            self.lower = lo
            self.direction = -1
            self.value = up
            self.ready = True
            return
        prev_up = self.upper
        prev_lo = self.lower
        if not (up < prev_up or pc > prev_up):
            up = prev_up
        if not (lo > prev_lo or pc < prev_lo):
            lo = prev_lo
        if self.value == prev_up:
            d = 1 if c > up else -1
        else:
            d = -1 if c < lo else 1
        self.upper = up
        self.lower = lo
        self.direction = d
        self.value = lo if d == 1 else up
