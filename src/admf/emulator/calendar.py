"""NYSE sessions for the emulator's clock, calendar endpoint and order rules: a view of core.calendar.

Times are ns since epoch UTC; regular sessions (early closes included) come from the exchange
calendar, extended hours are 04:00-20:00 New York on every trading day.
"""

from __future__ import annotations

from datetime import date, datetime, time

from admf.core import calendar as core
from admf.core.calendar import holidays, ny_date
from admf.core.units import NS, NY

__all__ = ["close_time", "ext_session", "holidays", "is_ext_open", "is_open", "is_trading_day",
           "next_ext_session", "next_open_close", "next_session", "ny_date", "open_time", "session", "trading_days"]


def is_trading_day(d: date) -> bool:
    return core.is_session(d)


def close_time(d: date) -> time:
    """The regular close (New York wall time) of a trading day."""
    return datetime.fromtimestamp(_session(d).close_ns // NS, NY).time()


def open_time(d: date) -> time:
    """The regular open (New York wall time) of a trading day."""
    return datetime.fromtimestamp(_session(d).open_ns // NS, NY).time()


def _session(d: date) -> core.Session:
    s = core.session(d)
    if s is None:
        raise ValueError(f"{d} is not a trading day")
    return s


def session(d: date) -> tuple[int, int] | None:
    """(open_ns, close_ns) of the regular session on date d (New York), or None when closed."""
    s = core.session(d)
    return None if s is None else (s.open_ns, s.close_ns)


ext_session = core.ext_session
is_open = core.is_open


def is_ext_open(ns: int) -> bool:
    s = core.ext_session(ny_date(ns))
    return s is not None and s[0] <= ns < s[1]


def next_session(ns: int) -> tuple[int, int]:
    """The first regular session whose close is after ns (the current one while open)."""
    s = core.next_session(ns)
    return s.open_ns, s.close_ns


def next_ext_session(ns: int) -> tuple[int, int]:
    """The first extended session (04:00-20:00) whose end is after ns."""
    today = core.ext_session(ny_date(ns))
    if today is not None and today[1] > ns:
        return today
    ext = core.ext_session(core.next_session(ns).day)
    assert ext is not None  # a session's day is a trading day
    return ext


def next_open_close(ns: int) -> tuple[int, int]:
    """Clock semantics: next_open is the next open strictly after now; next_close the next close."""
    cur_open, cur_close = next_session(ns)
    if cur_open > ns:
        return cur_open, cur_close
    nxt_open, _ = next_session(cur_close)
    return nxt_open, cur_close


def trading_days(start: date, end: date) -> list[date]:
    return [s.day for s in core.sessions_between(start, end)]
