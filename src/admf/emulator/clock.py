"""The replay clock: the emulator's only notion of "now" (ns since epoch UTC).

Manual mode (speed 0) holds time still between steps; a positive speed runs replay time at that
multiple of wall time. `stamp()` hands out strictly increasing microsecond stamps for orders and
fills, so in manual mode each event nudges the clock forward by at least one microsecond: ordering
and the exclusive `after`/`until` filters stay well defined when many orders share a bar.
"""

from __future__ import annotations

import time

from admf.core.units import US_NS

_US = US_NS


class ReplayClock:
    def __init__(self, start_ns: int, speed: float = 0.0) -> None:
        self._base = start_ns
        self._wall = time.monotonic_ns()
        self.speed = float(speed)
        self._last = start_ns - _US
        self.limit: int | None = None  # replay time never runs past this (end of data)

    def now(self) -> int:
        if self.speed <= 0:
            t = self._base
        else:
            t = self._base + int((time.monotonic_ns() - self._wall) * self.speed)
            if self.limit is not None and t > self.limit:
                t = max(self.limit, self._base)
        return t if t > self._last else self._last

    def stamp(self) -> int:
        """A unique, increasing event time (microsecond grid)."""
        t = self.now()
        t -= t % _US
        if t <= self._last:
            t = self._last + _US
        self._last = t
        if self.speed <= 0 and t > self._base:
            self._base = t
        return t

    def set(self, ns: int) -> None:
        """Move replay time forward to ns (never backwards)."""
        cur = self.now()
        if ns < cur:
            ns = cur
        self._base = ns
        self._wall = time.monotonic_ns()

    def set_speed(self, speed: float) -> None:
        self._base = self.now()
        self._wall = time.monotonic_ns()
        self.speed = float(speed)

    def restore(self, now_ns: int, last_ns: int) -> None:
        self._base = now_ns
        self._wall = time.monotonic_ns()
        self._last = last_ns

    @property
    def last_stamp(self) -> int:
        return self._last
