"""NYSE sessions: holidays, early closes, regular and extended hours, in ns since epoch UTC.

Rules follow the NYSE holiday schedule (observed dates, no Saturday New Year's holiday, Juneteenth
from 2022, 13:00 early closes on July 3, the day after Thanksgiving and Christmas Eve) plus the
one-off closures that fall inside the data we replay (e.g. 2025-01-09).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

from admf.emulator.wire import NS, NY

_SPECIAL_CLOSED = {
    date(2001, 9, 11), date(2001, 9, 12), date(2001, 9, 13), date(2001, 9, 14),
    date(2004, 6, 11), date(2007, 1, 2), date(2012, 10, 29), date(2012, 10, 30),
    date(2018, 12, 5), date(2025, 1, 9),
}  # fmt: skip

OPEN = time(9, 30)
CLOSE = time(16, 0)
EARLY_CLOSE = time(13, 0)
EXT_OPEN = time(4, 0)
EXT_CLOSE = time(20, 0)


def _easter(year: int) -> date:
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    d = date(year, month, 1)
    d += timedelta(days=(weekday - d.weekday()) % 7)
    return d + timedelta(weeks=n - 1)


def _last_weekday(year: int, month: int, weekday: int) -> date:
    d = date(year, month + 1, 1) - timedelta(days=1) if month < 12 else date(year, 12, 31)
    return d - timedelta(days=(d.weekday() - weekday) % 7)


def _observed(d: date) -> date:
    if d.weekday() == 5:
        return d - timedelta(days=1)
    if d.weekday() == 6:
        return d + timedelta(days=1)
    return d


@lru_cache(maxsize=64)
def holidays(year: int) -> frozenset[date]:
    out = set()
    ny = date(year, 1, 1)
    if ny.weekday() == 6:
        out.add(ny + timedelta(days=1))
    elif ny.weekday() != 5:
        out.add(ny)
    out.add(_nth_weekday(year, 1, 0, 3))
    out.add(_nth_weekday(year, 2, 0, 3))
    out.add(_easter(year) - timedelta(days=2))
    out.add(_last_weekday(year, 5, 0))
    if year >= 2022:
        out.add(_observed(date(year, 6, 19)))
    out.add(_observed(date(year, 7, 4)))
    out.add(_nth_weekday(year, 9, 0, 1))
    out.add(_nth_weekday(year, 11, 3, 4))
    out.add(_observed(date(year, 12, 25)))
    out.update(d for d in _SPECIAL_CLOSED if d.year == year)
    return frozenset(out)


def is_trading_day(d: date) -> bool:
    return d.weekday() < 5 and d not in holidays(d.year)


def close_time(d: date) -> time:
    early = (
        (d.month == 7 and d.day == 3 and d.weekday() < 4)
        or (d.month == 11 and d == _nth_weekday(d.year, 11, 3, 4) + timedelta(days=1))
        or (d.month == 12 and d.day == 24 and d.weekday() < 4)
    )
    return EARLY_CLOSE if early else CLOSE


def _ns(d: date, t: time) -> int:
    return int(datetime.combine(d, t, NY).timestamp()) * NS


@lru_cache(maxsize=4096)
def session(d: date) -> tuple[int, int] | None:
    """(open_ns, close_ns) of the regular session on date d (New York), or None when closed."""
    if not is_trading_day(d):
        return None
    return _ns(d, OPEN), _ns(d, close_time(d))


@lru_cache(maxsize=4096)
def ext_session(d: date) -> tuple[int, int] | None:
    """(04:00, 20:00) New York on a trading day, or None."""
    if not is_trading_day(d):
        return None
    return _ns(d, EXT_OPEN), _ns(d, EXT_CLOSE)


def ny_date(ns: int) -> date:
    return datetime.fromtimestamp(ns // NS, NY).date()


def is_open(ns: int) -> bool:
    s = session(ny_date(ns))
    return s is not None and s[0] <= ns < s[1]


def is_ext_open(ns: int) -> bool:
    s = ext_session(ny_date(ns))
    return s is not None and s[0] <= ns < s[1]


def next_session(ns: int) -> tuple[int, int]:
    """The first regular session whose close is after ns (the current one while open)."""
    d = ny_date(ns)
    for _ in range(30):
        s = session(d)
        if s is not None and s[1] > ns:
            return s
        d += timedelta(days=1)
    raise RuntimeError("no session within 30 days")  # unreachable on the NYSE calendar


def next_ext_session(ns: int) -> tuple[int, int]:
    d = ny_date(ns)
    for _ in range(30):
        s = ext_session(d)
        if s is not None and s[1] > ns:
            return s
        d += timedelta(days=1)
    raise RuntimeError("no session within 30 days")


def next_open_close(ns: int) -> tuple[int, int]:
    """Clock semantics: next_open is the next open strictly after now; next_close the next close."""
    cur_open, cur_close = next_session(ns)
    if cur_open > ns:
        return cur_open, cur_close
    nxt_open, _ = next_session(cur_close)
    return nxt_open, cur_close


def trading_days(start: date, end: date) -> list[date]:
    out = []
    d = start
    while d <= end:
        if is_trading_day(d):
            out.append(d)
        d += timedelta(days=1)
    return out
