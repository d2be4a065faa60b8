"""Live 1-minute bars -> the strategy's timeframe, and detection of missing minutes.

Bars are stamped with their start (Alpaca's convention, and the one of the shared data files).
Buckets are aligned to the epoch, which for minute/hour timeframes matches Alpaca's own
aggregated bars (9:30, 9:35, ... ET for 5m). A daily bucket is one regular session of the
exchange calendar (as data.resample builds daily bars): minutes outside it are left out, it ends
at the session's real close (13:00 on an early close) and is stamped New York midnight.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import time

from admf.core import calendar
from admf.core.events import Bar
from admf.core.units import DAY_NS, MINUTE_NS, NS

__all__ = ["MINUTE_NS", "BarAggregator", "GapDetector"]

_MIDNIGHT = time(0, 0)


class _Bucket:
    __slots__ = ("start", "end", "open", "high", "low", "close", "volume", "deadline")

    def __init__(self, start: int, end: int, b: Bar, deadline: float) -> None:
        self.start = start
        self.end = end
        self.open = b.open
        self.high = b.high
        self.low = b.low
        self.close = b.close
        self.volume = b.volume
        self.deadline = deadline


class BarAggregator:
    """Folds 1-minute bars into `timeframe_s` buckets and calls `emit` when a bucket closes.

    A bucket closes on its last minute's bar, on the first bar of a later bucket, or by
    flush_due(): when `grace_s` has passed since the bucket's end, measured on the wall clock
    shifted by how late that symbol's bars have been arriving (so a replay at any speed is not
    cut short). Bars older than the last emitted bucket are counted in `late` and dropped.
    """

    def __init__(self, timeframe_s: int, emit: Callable[[Bar], None], grace_s: float | None = 5.0) -> None:
        if timeframe_s < 60 or timeframe_s % 60:
            raise ValueError("timeframe must be a whole number of minutes")
        self.tf_ns = timeframe_s * NS
        self.emit = emit
        self.grace_ns = None if grace_s is None else int(grace_s * NS)
        self._open: dict[str, _Bucket] = {}
        self._done_until: dict[str, int] = {}
        self.late = 0
        self.emitted = 0

    def add(self, bar: Bar, arrived_ns: int = 0) -> None:
        tf = self.tf_ns
        if tf == MINUTE_NS:
            if bar.ts < self._done_until.get(bar.symbol, -1):
                self.late += 1
                return
            self._done_until[bar.symbol] = bar.ts + MINUTE_NS
            self.emitted += 1
            self.emit(bar)
            return
        sym = bar.symbol
        if tf == DAY_NS:
            s = calendar.session_at(bar.ts)
            if s is None:
                return  # outside the regular session: in no daily bar
            start, end = calendar.ny_ns(s.day, _MIDNIGHT), s.close_ns
        else:
            start = bar.ts - bar.ts % tf
            end = start + tf
        cur = self._open.get(sym)
        if cur is not None and start != cur.start:
            if start < cur.start:
                self.late += 1
                return
            self._close(sym, cur)
            cur = None
        if cur is None:
            if bar.ts < self._done_until.get(sym, -1):
                self.late += 1
                return
            deadline = 0.0
            if self.grace_ns is not None and arrived_ns:
                lag = arrived_ns - (bar.ts + MINUTE_NS)
                deadline = end + lag + self.grace_ns
            self._open[sym] = cur = _Bucket(start, end, bar, deadline)
        else:
            if bar.high > cur.high:
                cur.high = bar.high
            if bar.low < cur.low:
                cur.low = bar.low
            cur.close = bar.close
            cur.volume += bar.volume
        if bar.ts + MINUTE_NS >= cur.end:
            self._close(sym, cur)

    def _close(self, sym: str, b: _Bucket) -> None:
        del self._open[sym]
        self._done_until[sym] = b.end
        self.emitted += 1
        self.emit(Bar(sym, b.start, b.open, b.high, b.low, b.close, b.volume))

    def flush_due(self, now_ns: int) -> int:
        """Close every bucket whose deadline has passed; returns how many were emitted."""
        due = [(s, b) for s, b in self._open.items() if b.deadline and b.deadline <= now_ns]
        for s, b in due:
            self._close(s, b)
        return len(due)

    def flush_all(self) -> int:
        items = list(self._open.items())
        for s, b in items:
            self._close(s, b)
        return len(items)


class GapDetector:
    """Counts minute bars missing between consecutive bars of a symbol.

    With session="rth" only minutes of the exchange calendar's regular sessions count (early
    closes and holidays included): the end of the previous session after its last bar, whole
    sessions without a bar, and the new session up to its first bar. With session="all" every
    minute between the two bars counts.
    """

    def __init__(self, session: str = "rth") -> None:
        if session not in ("rth", "all"):
            raise ValueError("session must be 'rth' or 'all'")
        self.session = session
        self._last: dict[str, int] = {}
        self.gaps = 0
        self.missing = 0

    def last(self, symbol: str) -> int | None:
        return self._last.get(symbol)

    def check(self, symbol: str, ts: int) -> tuple[int, int, int] | None:
        """Record a bar at `ts`; returns (first missing ts, ts, missing minutes) or None."""
        prev = self._last.get(symbol)
        if prev is not None and ts <= prev:
            return None
        self._last[symbol] = ts
        if prev is None or ts - prev <= MINUTE_NS:
            return None  # the next minute: nothing can be missing (the common case, kept cheap)
        n = missing_minutes(prev, ts, self.session)
        if n <= 0:
            return None
        self.gaps += 1
        self.missing += n
        return prev + MINUTE_NS, ts, n


def missing_minutes(prev: int, ts: int, session: str = "rth") -> int:
    """Minute starts strictly between `prev` and `ts` that should have had a bar."""
    if session == "all":
        return max(0, (ts - prev) // MINUTE_NS - 1)
    lo = prev + MINUTE_NS
    return sum(_count(max(lo, s.open_ns), min(ts, s.close_ns)) for s in calendar.sessions_overlapping(lo, ts))


def _count(lo: int, hi: int) -> int:
    if hi <= lo:
        return 0
    return (hi - lo + MINUTE_NS - 1) // MINUTE_NS
