"""Momentum oscillators: RSI, MACD, Stochastic, Williams %R, CCI, ROC, Aroon."""

from __future__ import annotations

from typing import Any

from admf.core.errors import ConfigError

from .base import NAN, Indicator
from .cores import EmaCore, ExtremesCore, SmaCore
from .registry import Period, register

# Ranges and deviations below this fraction of the price level are rounding noise; TA-Lib
# (0.6, measured) then outputs 0 for STOCH, WILLR and CCI, and so do we.
_REL_ZERO = 1e-14


@register("rsi", period=Period(14))
class RSI(Indicator):
    """Wilder RSI as TA-Lib: average gain/loss seeded with the mean of the first ``period``
    changes, then smoothed ``avg = (avg * (period - 1) + x) / period``."""

    __slots__ = ("period", "_n", "_prev", "_gain", "_loss")

    def __init__(self, period: int = 14) -> None:
        super().__init__()
        self.period = period
        self._n = 0
        self._prev = NAN
        self._gain = 0.0
        self._loss = 0.0

    @property
    def warmup(self) -> int:
        return self.period + 1

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        d = c - self._prev
        self._prev = c
        p = self.period
        if self.ready:
            gain = self._gain * (p - 1)
            loss = self._loss * (p - 1)
            if d < 0.0:
                loss -= d
            else:
                gain += d
            gain /= p
            loss /= p
        else:
            n = self._n
            self._n = n + 1
            if n == 0:
                return
            if d < 0.0:
                self._loss -= d
            else:
                self._gain += d
            if n < p:
                return
            gain = self._gain / p
            loss = self._loss / p
            self.ready = True
        self._gain = gain
        self._loss = loss
        t = gain + loss
        self.value = 100.0 * (gain / t) if t != 0.0 else 0.0


@register("macd", fast=Period(12), slow=Period(26), signal=Period(9, lo=1))
class MACD(Indicator):
    """MACD = EMA(fast) - EMA(slow); signal = EMA(signal) of MACD; hist = macd - signal.

    Matches TA-Lib MACD, including its seeding quirk: both EMAs start at bar ``slow-1``;
    the slow one is seeded with the mean of the first ``slow`` closes and the fast one with
    the mean of the last ``fast`` of those.
    """

    __slots__ = ("fast", "slow", "signal", "macd", "hist", "_seed", "_kf", "_ks", "_ef", "_es", "_sig")
    outputs = ("macd", "signal", "hist")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        super().__init__()
        self.fast = fast
        self.slow = slow
        # ``signal`` is both a parameter and an output; the output replaces it once ready,
        # so the parameter lives in _sig.period.
        self.signal: float = NAN
        self.macd = self.hist = NAN
        self._seed: list[float] | None = []
        self._kf = 2.0 / (fast + 1)
        self._ks = 2.0 / (slow + 1)
        self._ef = NAN
        self._es = NAN
        self._sig = EmaCore(signal)

    @staticmethod
    def check_params(params: dict[str, Any]) -> None:
        if params["fast"] >= params["slow"]:
            raise ConfigError(
                "fast must be shorter than slow",
                field="macd.fast",
                value=params["fast"],
                accepted=f"integer 2..{params['slow'] - 1}",
            )

    @property
    def params(self) -> dict[str, Any]:
        return {"fast": self.fast, "slow": self.slow, "signal": self._sig.period}

    @property
    def warmup(self) -> int:
        return self.slow + self._sig.period - 1

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        seed = self._seed
        if seed is None:
            ef = self._ef
            es = self._es
            ef = self._ef = (c - ef) * self._kf + ef
            es = self._es = (c - es) * self._ks + es
        else:
            seed.append(c)
            if len(seed) < self.slow:
                return
            total = 0.0
            for x in seed:
                total += x
            es = self._es = total / self.slow
            total = 0.0
            for x in seed[self.slow - self.fast :]:
                total += x
            ef = self._ef = total / self.fast
            self._seed = None
        m = ef - es
        s = self._sig.push(m)
        if s == s:
            self.value = self.macd = m
            self.signal = s
            self.hist = m - s
            self.ready = True


@register("stochastic", k_period=Period(14, lo=1), k_smooth=Period(3, lo=1), d_period=Period(3, lo=1))
class Stochastic(Indicator):
    """Slow stochastic as TA-Lib STOCH with SMA smoothing: fast %K over ``k_period`` bars,
    k = SMA(fast %K, k_smooth), d = SMA(k, d_period). value = k."""

    __slots__ = ("k_period", "k_smooth", "d_period", "k", "d", "_ext", "_ksma", "_dsma")
    outputs = ("k", "d")

    def __init__(self, k_period: int = 14, k_smooth: int = 3, d_period: int = 3) -> None:
        super().__init__()
        self.k_period = k_period
        self.k_smooth = k_smooth
        self.d_period = d_period
        self.k = self.d = NAN
        self._ext = ExtremesCore(k_period)
        self._ksma = SmaCore(k_smooth)
        self._dsma = SmaCore(d_period)

    @property
    def warmup(self) -> int:
        return self.k_period + self.k_smooth + self.d_period - 2

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        ext = self._ext
        if not ext.push(h, l):
            return
        lowest = ext.lv[0]
        highest = ext.hv[0]
        rng = highest - lowest
        if rng > _REL_ZERO * (abs(highest) + abs(lowest)):
            fast_k = (c - lowest) / (rng / 100.0)
        else:
            fast_k = 0.0
        k = self._ksma.push(fast_k)
        if k == k:
            d = self._dsma.push(k)
            if d == d:
                self.value = self.k = k
                self.d = d
                self.ready = True


@register("willr", period=Period(14))
class WilliamsR(Indicator):
    """Williams %R (TA-Lib WILLR): -100 * (highest high - close) / (highest high - lowest low)."""

    __slots__ = ("period", "_ext")

    def __init__(self, period: int = 14) -> None:
        super().__init__()
        self.period = period
        self._ext = ExtremesCore(period)

    @property
    def warmup(self) -> int:
        return self.period

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        ext = self._ext
        if not ext.push(h, l):
            return
        highest = ext.hv[0]
        lowest = ext.lv[0]
        rng = highest - lowest
        if rng > _REL_ZERO * (abs(highest) + abs(lowest)):
            self.value = (highest - c) / (rng * -0.01)
        else:
            self.value = 0.0
        self.ready = True


@register("cci", period=Period(20))
class CCI(Indicator):
    """Commodity Channel Index (TA-Lib CCI) of the typical price (h+l+c)/3.

    The mean deviation sum |tp - mean| has no O(1) update (the mean moves every bar), so it
    is summed over the window each bar with C-level builtins, in TA-Lib's order.
    """

    __slots__ = ("period", "_buf", "_i", "_n")

    def __init__(self, period: int = 20) -> None:
        super().__init__()
        self.period = period
        self._buf = [0.0] * period
        self._i = 0
        self._n = 0

    @property
    def warmup(self) -> int:
        return self.period

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        tp = (h + l + c) / 3
        buf = self._buf
        i = self._i
        buf[i] = tp
        i += 1
        self._i = 0 if i == self.period else i
        if not self.ready:
            self._n += 1
            if self._n < self.period:
                return
            self.ready = True
        p = self.period
        avg = sum(buf) / p
        dev = sum([x - avg if x > avg else avg - x for x in buf])  # = sum(fabs(x - avg)), bit for bit
        t = tp - avg
        tiny = _REL_ZERO * abs(avg)
        if abs(t) > tiny and dev / p > tiny:
            self.value = t / (0.015 * (dev / p))
        else:
            self.value = 0.0


@register("roc", period=Period(10, lo=1))
class ROC(Indicator):
    """Rate of change in percent (TA-Lib ROC): (close / close[period bars ago] - 1) * 100."""

    __slots__ = ("period", "_buf", "_i", "_n")

    def __init__(self, period: int = 10) -> None:
        super().__init__()
        self.period = period
        self._buf = [0.0] * period
        self._i = 0
        self._n = 0

    @property
    def warmup(self) -> int:
        return self.period + 1

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        buf = self._buf
        i = self._i
        old = buf[i]
        buf[i] = c
        i += 1
        self._i = 0 if i == self.period else i
        if not self.ready:
            self._n += 1
            if self._n <= self.period:
                return
            self.ready = True
        self.value = (c / old - 1.0) * 100.0 if old != 0.0 else 0.0


@register("aroon", period=Period(14))
class Aroon(Indicator):
    """Aroon (TA-Lib AROON/AROONOSC) over ``period``+1 bars: up/down = 100 * (period - bars
    since the highest high / lowest low) / period; osc = up - down; value = osc."""

    __slots__ = ("period", "up", "down", "osc", "_ext", "_factor")
    outputs = ("up", "down", "osc")

    def __init__(self, period: int = 14) -> None:
        super().__init__()
        self.period = period
        self.up = self.down = self.osc = NAN
        self._ext = ExtremesCore(period + 1)
        self._factor = 100.0 / period

    @property
    def warmup(self) -> int:
        return self.period + 1

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        ext = self._ext
        if not ext.push(h, l):
            return
        today = ext.n - 1
        hi = ext.hi[0]
        lo = ext.li[0]
        f = self._factor
        p = self.period
        self.up = f * (p - (today - hi))
        self.down = f * (p - (today - lo))
        self.value = self.osc = f * (hi - lo)
        self.ready = True
