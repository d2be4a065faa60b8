"""Regular-session calendar of each bar (America/New_York, correct across DST)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from admf.risk.slot import IN, LAST, OFF

NY = ZoneInfo("America/New_York")
OPEN_MIN = 9 * 60 + 30
CLOSE_MIN = 16 * 60


def session_codes(ts: np.ndarray, sym: np.ndarray | None, timeframe_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per bar: OFF/IN/LAST (the last bar of a regular session of its symbol) and the NY day number.

    A bar is in the session when it starts at or after 09:30 and before 16:00 New York time
    on a weekday. It is the session's last bar when it ends at or after 16:00, or when the
    next bar of the same symbol falls on another day or outside the session (an early close,
    a missing bar).
    """
    local = pd.DatetimeIndex(ts.astype("datetime64[ns]"), tz="UTC").tz_convert("America/New_York")
    minutes = (local.hour * 60 + local.minute).to_numpy()
    weekday = local.day_of_week.to_numpy()
    day = (local.tz_localize(None).normalize().asi8 // 86_400_000_000_000).astype(np.int64)
    inside = (minutes >= OPEN_MIN) & (minutes < CLOSE_MIN) & (weekday < 5)
    codes = np.where(inside, IN, OFF).astype(np.int8)
    end_min = minutes + timeframe_ns / 60e9
    last = inside & (end_min >= CLOSE_MIN)
    groups = [np.arange(len(ts))] if sym is None else [np.flatnonzero(sym == k) for k in np.unique(sym)]
    for rows in groups:
        if len(rows) == 0:
            continue
        nxt_in = np.append(inside[rows][1:], False)
        nxt_day = np.append(day[rows][1:], -1)
        last[rows] |= inside[rows] & (~nxt_in | (nxt_day != day[rows]))
    codes[last] = LAST
    return codes, day


def session_code(ts: int, timeframe_ns: int) -> tuple[int, int]:
    """One live bar's (OFF/IN/LAST, New York day ordinal), by its start and end time.

    The scalar twin of session_codes for a live session, which cannot see the next bar: the
    last bar of a session is the one that ends at or after 16:00.
    """
    local = dt.datetime.fromtimestamp(ts // 1_000_000_000, tz=NY)
    minutes = local.hour * 60 + local.minute
    day = local.date().toordinal()
    if local.weekday() >= 5 or not (OPEN_MIN <= minutes < CLOSE_MIN):
        return OFF, day
    return (LAST if minutes + timeframe_ns / 60e9 >= CLOSE_MIN else IN), day
