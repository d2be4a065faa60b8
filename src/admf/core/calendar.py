"""The exchange calendar (NYSE, from exchange_calendars' XNYS): sessions, early closes, holidays.

One table of regular sessions (open and close as ns UTC, New York session date) is built once per
process, lazily, and everything asks it: the intraday constraint and the live flatten, resampling
to days, annualization, the emulator's clock and calendar, the sample data, VWAP's session reset
and the live gap detector. A holiday has no session; an early close (13:00 New York on the day
before Independence Day, the day after Thanksgiving, Christmas Eve) is the session's real close.

exchange_calendars was chosen over pandas_market_calendars: it is already a dependency of the
Python quant stack we test against, it is maintained against the exchanges' own notices (one-off
closures such as 2025-01-09 are in it), its schedule is plain UTC arrays we can search with numpy,
and it has no further dependencies beyond pandas and numpy.

Extended hours (04:00-20:00 New York) are kept on every trading day, also on early-close days,
as the broker's calendar endpoint reports them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from admf.core.errors import DataError
from admf.core.units import DAY_NS, HOUR_NS, NS, NY, NY_TZ_NAME

EXCHANGE = "XNYS"
FIRST_DAY = "1990-01-02"
LAST_DAY = "2040-12-31"
EXT_OPEN = dt.time(4, 0)
EXT_CLOSE = dt.time(20, 0)
OPEN = dt.time(9, 30)
CLOSE = dt.time(16, 0)
FULL_SESSION_NS = 6 * HOUR_NS + 30 * 60 * NS  # 09:30-16:00; shorter is an early close (or a late open)
ROUND_THE_CLOCK_NS = 20 * HOUR_NS  # longer than any exchange day, extended hours (04:00-20:00) included
WEEKEND_SHARE = 0.10  # dates on a weekend from which data is taken to trade 24/7


class Session(NamedTuple):
    day: dt.date
    open_ns: int
    close_ns: int

    @property
    def early_close(self) -> bool:
        return dt.datetime.fromtimestamp(self.close_ns // NS, NY).time() < CLOSE


class _Table:
    """Sessions as parallel sorted arrays (numpy for bar arrays, lists for one live bar)."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.open_ns, self.close_ns = _schedule(cache_dir)
        # a session opens at 09:30 New York, the same UTC date
        epoch = dt.date(1970, 1, 1).toordinal()
        self.days: list[dt.date] = [dt.date.fromordinal(epoch + d) for d in (self.open_ns // (86_400 * NS)).tolist()]
        self.open_list: list[int] = self.open_ns.tolist()
        self.close_list: list[int] = self.close_ns.tolist()
        self.index = {d: i for i, d in enumerate(self.days)}


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "admf"


def _schedule(where: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(open ns, close ns) of every session. Building them from the library takes about half a
    second, so they are kept in the user's cache per library version (rebuilt when unreadable)."""
    from importlib.metadata import version

    path = None
    if where is not None:
        path = where / f"{EXCHANGE}-{version('exchange_calendars')}-{FIRST_DAY}-{LAST_DAY}.npy"
        try:
            both = np.load(path)
            if both.ndim == 2 and both.shape[0] == 2 and both.dtype == np.int64 and both.shape[1] > 0:
                return both[0].copy(), both[1].copy()
        except (OSError, ValueError, EOFError):
            pass
    import warnings

    import exchange_calendars as xc  # type: ignore[import-untyped]
    import pandas as pd

    with warnings.catch_warnings():  # the library's own pandas deprecations, not ours to fix
        warnings.simplefilter("ignore")
        cal = xc.get_calendar(EXCHANGE, start=FIRST_DAY, end=LAST_DAY)
    sched = cal.schedule
    opens = pd.DatetimeIndex(sched["open"]).as_unit("ns").asi8.copy()
    closes = pd.DatetimeIndex(sched["close"]).as_unit("ns").asi8.copy()
    if path is not None:
        try:  # written whole, then renamed: a reader never sees half a file
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.npy")
            np.save(tmp, np.stack([opens, closes]))
            os.replace(tmp, path)
        except OSError:
            pass
    return opens, closes


@lru_cache(maxsize=1)
def _table() -> _Table:
    return _Table(cache_dir())


def _check(ns: int) -> None:
    t = _table()
    if not (t.open_list[0] - 400 * 86_400 * NS <= ns < t.close_list[-1]):
        raise DataError("time outside the exchange calendar's range", field="timestamp",
                        value=dt.datetime.fromtimestamp(ns // NS, dt.UTC).isoformat(),
                        accepted=f"{FIRST_DAY} to {LAST_DAY}")


def ny_date(ns: int) -> dt.date:
    """The New York calendar date of a UTC ns time."""
    return dt.datetime.fromtimestamp(ns // NS, NY).date()


def ny_ns(d: dt.date, t: dt.time) -> int:
    """ns UTC of the New York wall time `t` on date `d` (DST by zoneinfo)."""
    return int(dt.datetime.combine(d, t, NY).timestamp()) * NS


def session(d: dt.date) -> Session | None:
    """The regular session on New York date `d`, or None (weekend, holiday)."""
    t = _table()
    i = t.index.get(d)
    return None if i is None else Session(d, t.open_list[i], t.close_list[i])


def is_session(d: dt.date) -> bool:
    return d in _table().index


def sessions_between(start: dt.date, end: dt.date) -> list[Session]:
    """Every session with start <= day <= end."""
    t = _table()
    lo = bisect.bisect_left(t.days, start)
    hi = bisect.bisect_right(t.days, end)
    return [Session(t.days[i], t.open_list[i], t.close_list[i]) for i in range(lo, hi)]


def sessions_from(start: dt.date, count: int) -> list[Session]:
    """The first `count` sessions on or after `start`."""
    t = _table()
    lo = bisect.bisect_left(t.days, start)
    if lo + count > len(t.days):
        raise DataError("not enough sessions in the exchange calendar", field="days", value=count,
                        accepted=f"sessions up to {LAST_DAY}")
    return [Session(t.days[i], t.open_list[i], t.close_list[i]) for i in range(lo, lo + count)]


def sessions_overlapping(lo_ns: int, hi_ns: int) -> list[Session]:
    """Every session with close > lo_ns and open < hi_ns."""
    t = _table()
    i = bisect.bisect_right(t.close_list, lo_ns)
    out = []
    while i < len(t.days) and t.open_list[i] < hi_ns:
        out.append(Session(t.days[i], t.open_list[i], t.close_list[i]))
        i += 1
    return out


def next_session(ns: int) -> Session:
    """The first session whose close is after `ns` (the current one while it is open)."""
    _check(ns)
    t = _table()
    i = bisect.bisect_right(t.close_list, ns)
    return Session(t.days[i], t.open_list[i], t.close_list[i])


def session_at(ns: int) -> Session | None:
    """The session that `ns` falls in (open <= ns < close), or None."""
    s = next_session(ns)
    return s if s.open_ns <= ns else None


def is_open(ns: int) -> bool:
    return session_at(ns) is not None


def ext_session(d: dt.date) -> tuple[int, int] | None:
    """(04:00, 20:00) New York on a trading day, or None."""
    if not is_session(d):
        return None
    return ny_ns(d, EXT_OPEN), ny_ns(d, EXT_CLOSE)


def locate(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each UTC ns bar start: (session index or -1, its open ns, its close ns).

    A time belongs to a session when open <= ts < close; otherwise the index is -1 and the
    open/close are those of the next session. One searchsorted, no time-zone conversion.
    """
    t = _table()
    ts = np.asarray(ts, dtype=np.int64)
    if len(ts):
        _check(int(ts.min()))
        _check(int(ts.max()))
    i = np.searchsorted(t.close_ns, ts, side="right")
    op = t.open_ns[i]
    cl = t.close_ns[i]
    inside = op <= ts
    return np.where(inside, i, -1), op, cl


def ny_days(ts: np.ndarray) -> np.ndarray:
    """For each UTC ns time, its New York date as days since 1970-01-01."""
    import pandas as pd

    if len(ts) == 0:
        return np.empty(0, dtype=np.int64)
    local = pd.DatetimeIndex(np.asarray(ts, dtype=np.int64).astype("datetime64[ns]"), tz="UTC").tz_convert(NY_TZ_NAME)
    return (local.tz_localize(None).as_unit("ns").asi8 // DAY_NS).astype(np.int64)


def session_kinds(days: np.ndarray) -> np.ndarray:
    """For New York dates (days since 1970-01-01): 0 no session, 1 a full session, 2 a shorter one
    (an early close)."""
    t = _table()
    open_day = t.open_ns // DAY_NS  # 09:30 New York is on the same UTC date
    days = np.asarray(days, dtype=np.int64)
    i = np.minimum(np.searchsorted(open_day, days), len(open_day) - 1)
    hit = open_day[i] == days
    full = (t.close_ns[i] - t.open_ns[i]) >= FULL_SESSION_NS
    return np.where(hit, np.where(full, 1, 2), 0).astype(np.int8)


def sessions_per_year(first_year: int, last_year: int) -> float | None:
    """Sessions in the calendar years first_year..last_year (whole years) / their number; None when
    none of them is in the calendar's range. Years outside the range are left out."""
    lo, hi = max(first_year, int(FIRST_DAY[:4])), min(last_year, int(LAST_DAY[:4]))
    if lo > hi:
        return None
    days = _table().days
    n = bisect.bisect_left(days, dt.date(hi + 1, 1, 1)) - bisect.bisect_left(days, dt.date(lo, 1, 1))
    return n / (hi - lo + 1)


def round_the_clock(ts: np.ndarray, spacing_ns: int) -> bool:
    """Whether bars at these UTC ns times (sorted) trade 24/7 rather than on the exchange's days:
    at least WEEKEND_SHARE of their dates fall on a Saturday or Sunday, or (intraday bars) some
    date's bars span ROUND_THE_CLOCK_NS, which no exchange day does. Intraday bars are dated in
    New York (Friday's after-hours bars are Saturday in UTC); daily and coarser bars in UTC (a
    daily bar stamped 00:00 UTC Monday is Sunday evening in New York)."""
    ts = np.asarray(ts, dtype=np.int64)
    if len(ts) == 0:
        return False
    daily = spacing_ns >= ROUND_THE_CLOCK_NS
    days = ts // DAY_NS if daily else ny_days(ts)
    uniq = np.unique(days)
    if float(np.mean((uniq + 3) % 7 >= 5)) >= WEEKEND_SHARE:  # 1970-01-01 was a Thursday
        return True
    if daily:
        return False
    starts = np.flatnonzero(np.diff(days, prepend=days[0] - 1))
    ends = np.append(starts[1:], days.size) - 1
    return bool((ts[ends] - ts[starts]).max() + spacing_ns >= ROUND_THE_CLOCK_NS)


def session_day_start(ts: np.ndarray) -> np.ndarray:
    """For each UTC ns time, New York midnight of its date, in ns UTC."""
    import pandas as pd

    if len(ts) == 0:
        return np.empty(0, dtype=np.int64)
    local = pd.DatetimeIndex(pd.to_datetime(ts, unit="ns", utc=True)).tz_convert(NY.key)
    return local.normalize().as_unit("ns").asi8.copy()


def holidays(year: int) -> frozenset[dt.date]:
    """Weekdays of `year` without a session (standing holidays and one-off closures)."""
    d = dt.date(year, 1, 1)
    out = set()
    while d.year == year:
        if d.weekday() < 5 and not is_session(d):
            out.add(d)
        d += dt.timedelta(days=1)
    return frozenset(out)
