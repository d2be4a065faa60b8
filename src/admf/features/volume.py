"""Volume indicators: OBV and session VWAP."""

from __future__ import annotations

from datetime import time, timedelta

from admf.core import calendar
from admf.core.units import DAY_NS, NS

from .base import NAN, Indicator
from .registry import Choice, register


@register("obv")
class OBV(Indicator):
    """On-balance volume (TA-Lib OBV): starts at the first bar's volume, then adds the
    volume on an up close and subtracts it on a down close."""

    __slots__ = ("_pc",)

    def __init__(self) -> None:
        super().__init__()
        self._pc = NAN

    @property
    def warmup(self) -> int:
        return 1

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        pc = self._pc
        self._pc = c
        if c > pc:
            self.value += v
        elif c < pc:
            self.value -= v
        elif not self.ready:
            self.value = float(v)
            self.ready = True


def session_bounds(ts: int, session: str) -> tuple[int, int]:
    """[start, end) in ns of the session holding ``ts``: its calendar day in New York
    ("ny") or UTC ("utc"); "rth" the exchange calendar's regular session (from its open to
    its real close; a bar outside it starts a span of its own up to the next open); "none"
    is one endless session."""
    if session == "none":
        return -(2**63), 2**63
    if session == "rth":
        s = calendar.next_session(ts)
        if s.open_ns <= ts:
            return s.open_ns, s.close_ns
        prev = calendar.sessions_overlapping(ts - 7 * 86_400 * NS, ts)
        return (prev[-1].close_ns if prev else ts), s.open_ns
    if session == "ny":
        day = calendar.ny_date(ts)
        return calendar.ny_ns(day, time(0)), calendar.ny_ns(day + timedelta(days=1), time(0))
    start = ts - ts % DAY_NS
    return start, start + DAY_NS


@register("vwap", session=Choice("ny", "ny", "rth", "utc", "none"))
class VWAP(Indicator):
    """Volume-weighted average of the typical price (h+l+c)/3, reset at each session.

    ``session="ny"`` (default) starts a new session at midnight America/New_York, so a
    trading day's pre-market, regular and after-hours bars share one VWAP; "rth" resets at
    each regular session's open (exchange calendar, early closes included) and keeps the
    bars outside it apart; "utc" resets at midnight UTC; "none" never resets. The session
    bounds are cached, so the per-bar cost is one comparison. While the session has no
    volume yet the value is the typical price.
    """

    __slots__ = ("session", "_start", "_end", "_pv", "_vol")

    def __init__(self, session: str = "ny") -> None:
        super().__init__()
        self.session = session
        self._start = 0
        self._end = 0  # empty: the first bar opens a session
        self._pv = 0.0
        self._vol = 0.0

    @property
    def warmup(self) -> int:
        return 1

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        tp = (h + l + c) / 3.0
        if ts >= self._end or ts < self._start:
            self._start, self._end = session_bounds(ts, self.session)
            self._pv = 0.0
            self._vol = 0.0
        pv = self._pv = self._pv + tp * v
        vol = self._vol = self._vol + v
        self.value = pv / vol if vol > 0.0 else tp
        self.ready = True
