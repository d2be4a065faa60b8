"""Regular-session code of each bar, from the exchange calendar (early closes, holidays, DST)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from admf.core import calendar
from admf.core.units import NS, NY
from admf.risk.slot import IN, LAST, OFF


def session_codes(ts: np.ndarray, sym: np.ndarray | None, timeframe_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per bar: OFF/IN/LAST (the last bar of a regular session of its symbol) and the NY day number.

    A bar is in the session when it starts at or after the session's open and before its real
    close (13:00 on an early close); holidays and weekends have no session. It is the session's
    last bar when it ends at or after the close, or when the next bar of the same symbol falls
    outside the session or in another one (a missing bar). Computed once per backtest, vectorized.
    """
    day = calendar.ny_days(ts)
    idx, _, close = calendar.locate(ts)
    inside = idx >= 0
    codes = np.where(inside, IN, OFF).astype(np.int8)
    last = inside & (ts + timeframe_ns >= close)
    groups = [np.arange(len(ts))] if sym is None else [np.flatnonzero(sym == k) for k in np.unique(sym)]
    for rows in groups:
        if len(rows) == 0:
            continue
        nxt_idx = np.append(idx[rows][1:], -1)
        last[rows] |= inside[rows] & (nxt_idx != idx[rows])
    codes[last] = LAST
    return codes, day


def session_code(ts: int, timeframe_ns: int) -> tuple[int, int]:
    """One live bar's (OFF/IN/LAST, New York day ordinal), by its start and end time.

    The scalar twin of session_codes for a live session, which cannot see the next bar: the
    last bar of a session is the one that ends at or after the session's real close.
    """
    day = dt.datetime.fromtimestamp(ts // NS, tz=NY).date().toordinal()
    s = calendar.session_at(ts)
    if s is None:
        return OFF, day
    return (LAST if ts + timeframe_ns >= s.close_ns else IN), day
