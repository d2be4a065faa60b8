"""How many bars make a year, inferred from the bars themselves and the exchange calendar.

Rules (in this order):

1. The bar spacing is the median of the positive gaps between consecutive timestamps.
2. 24/7 data (core.calendar.round_the_clock: at least 10% of its dates on a Saturday or Sunday,
   or some New York date whose bars span 20 hours or more, which no exchange day does, extended
   hours being 04:00-20:00) uses 365 days a year: daily bars give 365, intraday bars the median
   bars per UTC calendar day * 365.
3. Coarser bars (spacing above 1.5 days, e.g. weekly or monthly): 365.25 / spacing in days.
4. Sessions per year S come from the XNYS calendar (core.calendar): the number of sessions in
   the whole calendar years the bars span, divided by the number of those years. 2024 data gives
   S = 252 (2024 had 252 sessions); data from 2024-03-26 to 2025-04-02 gives (252 + 250) / 2 =
   251. Years are the UTC years of daily bars and the New York years of intraday bars. Years
   outside the calendar's range (1990-2040) are left out; with none inside, S = 252.
5. Daily bars (spacing from 20 hours to 1.5 days): periods_per_year = S.
6. Intraday bars: periods_per_year = B * S, where B is the median number of bars per New York
   date over the dates that are FULL sessions (not holidays, not early closes). Every bar of
   such a date counts, extended hours included, because that is the number of bars the strategy
   sees. So 5-minute regular-session bars of 2024 give 78 * 252 = 19,656 and extended-hours
   5-minute bars 192 * 252. The median over full sessions, rather than over all dates or bars
   per session-hour, because a full session's bar count is what is constant: the three early
   closes a year (42 bars instead of 78) must not lower it, a missing bar or a partial first day
   does not move a median, and extended hours are not proportional to the regular session's
   length. An early close is counted as one session of B bars: a year of 5-minute bars is
   overstated by 3 * 36 bars in 19,656 (0.5%), a bias the volatility feels as 0.3%. With no full
   session among the dates (only half days, or only days without a session) B is the median
   over all New York dates.

A tz-naive index is taken as UTC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from admf.core import calendar
from admf.core.errors import DataError
from admf.core.units import DAY_NS as _NS_PER_DAY
from admf.core.units import NY_TZ_NAME as SESSION_TZ

__all__ = ["CALENDAR_DAYS_PER_YEAR", "SESSION_TZ", "TRADING_DAYS_PER_YEAR", "infer_periods_per_year",
           "sessions_per_year", "utc_index"]

TRADING_DAYS_PER_YEAR = 252  # only for data entirely outside the exchange calendar's years
CALENDAR_DAYS_PER_YEAR = 365


def utc_index(index: pd.Index) -> pd.DatetimeIndex:
    """The index as a nanosecond UTC DatetimeIndex (tz-naive means UTC)."""
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(
            "equity must be indexed by timestamps",
            field="index",
            value=type(index).__name__,
            accepted="a pandas DatetimeIndex (UTC)",
        )
    idx = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return idx.as_unit("ns")


def _median_count(day_numbers: np.ndarray) -> float:
    _, counts = np.unique(day_numbers, return_counts=True)
    return float(np.median(counts))


def _year(day_number: int) -> int:
    return int(np.datetime64(int(day_number), "D").astype(object).year)


def sessions_per_year(first_day: int, last_day: int) -> float:
    """Rule 4: XNYS sessions per year over the whole calendar years of two dates (days since 1970-01-01)."""
    s = calendar.sessions_per_year(_year(first_day), _year(last_day))
    return float(TRADING_DAYS_PER_YEAR if s is None else s)


def infer_periods_per_year(index: pd.Index) -> float:
    """Bars per year for `index` by the rules in the module docstring. Needs two distinct timestamps."""
    idx = utc_index(index)
    if len(idx) < 2:
        raise DataError("need at least two bars to infer the bar frequency", field="index", value=len(idx))
    ns = np.sort(idx.asi8)
    gaps = np.diff(ns)
    gaps = gaps[gaps > 0]
    if gaps.size == 0:
        raise DataError("all timestamps are equal; cannot infer the bar frequency", field="index")
    spacing = float(np.median(gaps))
    daily = spacing >= calendar.ROUND_THE_CLOCK_NS

    if daily and spacing > 1.5 * _NS_PER_DAY:
        return 365.25 * _NS_PER_DAY / spacing
    if calendar.round_the_clock(ns, int(spacing)):
        return float(CALENDAR_DAYS_PER_YEAR) * (1.0 if daily else _median_count(ns // _NS_PER_DAY))
    if daily:
        return sessions_per_year(int(ns[0] // _NS_PER_DAY), int(ns[-1] // _NS_PER_DAY))
    days = calendar.ny_days(ns)
    uniq, counts = np.unique(days, return_counts=True)
    full = calendar.session_kinds(uniq) == 1
    per_session = float(np.median(counts[full] if full.any() else counts))
    return per_session * sessions_per_year(int(days[0]), int(days[-1]))
