"""Single-series building blocks that composite indicators own privately.

Each ``push`` takes one number and returns the current output (nan while warming up).
The arithmetic follows TA-Lib step for step so composites match it after warm-up.
"""

from __future__ import annotations

from collections import deque
from math import fsum

from .base import NAN


class EmaCore:
    """EMA seeded with the SMA of the first ``period`` inputs (TA-Lib default)."""

    __slots__ = ("period", "k", "n", "total", "value", "ready")

    def __init__(self, period: int) -> None:
        self.period = period
        self.k = 2.0 / (period + 1)
        self.n = 0
        self.total = 0.0
        self.value = NAN
        self.ready = False

    def push(self, x: float) -> float:
        if self.ready:
            prev = self.value
            v = self.value = (x - prev) * self.k + prev
            return v
        self.total += x
        self.n += 1
        if self.n == self.period:
            self.value = self.total / self.period
            self.ready = True
        return self.value


class SmaCore:
    """Rolling mean over a ring list; the sum is rebuilt exactly every ``period`` pushes."""

    __slots__ = ("period", "buf", "i", "n", "total", "value", "ready")

    def __init__(self, period: int) -> None:
        self.period = period
        self.buf = [0.0] * period
        self.i = 0
        self.n = 0
        self.total = 0.0
        self.value = NAN
        self.ready = False

    def push(self, x: float) -> float:
        buf = self.buf
        i = self.i
        if self.ready:
            total = self.total - buf[i] + x
        else:
            total = self.total + x
            self.n += 1
            if self.n == self.period:
                self.ready = True
        buf[i] = x
        i += 1
        if i == self.period:
            i = 0
            if self.ready:
                total = fsum(buf)
        self.i = i
        self.total = total
        if self.ready:
            self.value = total / self.period
        return self.value


class AtrCore:
    """Wilder ATR as TA-Lib computes it: SMA of the first ``period`` true ranges, then
    ``atr = (atr * (period - 1) + tr) / period``. The first bar has no true range."""

    __slots__ = ("period", "n", "total", "prev_close", "value", "ready")

    def __init__(self, period: int) -> None:
        self.period = period
        self.n = 0
        self.total = 0.0
        self.prev_close = NAN
        self.value = NAN
        self.ready = False

    def push(self, h: float, l: float, c: float) -> float:
        pc = self.prev_close
        self.prev_close = c
        if self.n == 0:
            self.n = 1
            return NAN
        tr = h - l
        t = abs(pc - h)
        if t > tr:
            tr = t
        t = abs(l - pc)
        if t > tr:
            tr = t
        if self.ready:
            p = self.period
            v = self.value = (self.value * (p - 1) + tr) / p
            return v
        self.total += tr
        self.n += 1
        if self.n > self.period:
            self.value = self.total / self.period
            self.ready = True
        return self.value


class ExtremesCore:
    """Highest/lowest of a sliding window with monotonic deques (amortized O(1)).

    Ties keep the most recent bar, as TA-Lib's AROON does.
    """

    __slots__ = ("size", "n", "hv", "hi", "lv", "li")

    def __init__(self, size: int) -> None:
        self.size = size
        self.n = 0
        self.hv: deque[float] = deque()
        self.hi: deque[int] = deque()
        self.lv: deque[float] = deque()
        self.li: deque[int] = deque()

    def push(self, h: float, l: float) -> bool:
        """Add one bar; True once the window is full."""
        n = self.n
        self.n = n + 1
        hv = self.hv
        hi = self.hi
        while hv and hv[-1] <= h:
            hv.pop()
            hi.pop()
        hv.append(h)
        hi.append(n)
        lv = self.lv
        li = self.li
        while lv and lv[-1] >= l:
            lv.pop()
            li.pop()
        lv.append(l)
        li.append(n)
        cut = n - self.size
        if hi[0] == cut:
            hv.popleft()
            hi.popleft()
        if li[0] == cut:
            lv.popleft()
            li.popleft()
        return n + 1 >= self.size
