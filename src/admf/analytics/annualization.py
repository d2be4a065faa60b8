"""How many bars make a year, inferred from the bars themselves.

Rules (in this order):

1. The bar spacing is the median of the positive gaps between consecutive timestamps.
2. Daily bars (spacing from 20 hours to 1.5 days): 252 for an exchange calendar, 365 when the
   data trades 24/7 (at least 10% of its UTC dates fall on a Saturday or Sunday).
3. Coarser bars (spacing above 1.5 days, e.g. weekly or monthly): 365.25 / spacing in days.
4. Intraday bars: bars are grouped by their America/New_York calendar date (one group is one
   trading session, extended hours included). periods_per_year = median bars per session * 252.
   So 5-minute regular-session bars give 78 * 252 = 19,656, and extended-hours data counts its
   extended bars, because that is the real number of bars the strategy sees.
5. 24/7 intraday data (at least 10% of its New York dates on a weekend, or some New York date
   whose bars span 20 hours or more, which no exchange session does, extended hours being
   04:00-20:00): median bars per UTC calendar day * 365.

A tz-naive index is taken as UTC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from admf.core.errors import DataError
from admf.core.units import DAY_NS as _NS_PER_DAY
from admf.core.units import HOUR_NS as _NS_PER_HOUR
from admf.core.units import NY_TZ_NAME as SESSION_TZ

TRADING_DAYS_PER_YEAR = 252  # the convention; the XNYS calendar has 250-253 sessions a year
CALENDAR_DAYS_PER_YEAR = 365
_WEEKEND_SHARE = 0.10
_ROUND_THE_CLOCK_NS = 20 * _NS_PER_HOUR


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


def _weekend_share(day_numbers: np.ndarray) -> float:
    days = np.unique(day_numbers)
    # 1970-01-01 was a Thursday: weekday (Monday=0) is (day + 3) % 7.
    weekday = (days + 3) % 7
    return float(np.mean(weekday >= 5))


def _median_bars_per_day(day_numbers: np.ndarray) -> float:
    _, counts = np.unique(day_numbers, return_counts=True)
    return float(np.median(counts))


def _longest_day_span(sorted_ns: np.ndarray, days: np.ndarray) -> float:
    starts = np.flatnonzero(np.diff(days, prepend=days[0] - 1))
    ends = np.append(starts[1:], days.size) - 1
    return float((sorted_ns[ends] - sorted_ns[starts]).max())


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

    if spacing >= _ROUND_THE_CLOCK_NS:
        if spacing > 1.5 * _NS_PER_DAY:
            return 365.25 * _NS_PER_DAY / spacing
        # UTC dates here: a daily bar stamped 00:00 UTC Monday is Sunday evening in New York.
        weekend = _weekend_share(ns // _NS_PER_DAY) >= _WEEKEND_SHARE
        return float(CALENDAR_DAYS_PER_YEAR if weekend else TRADING_DAYS_PER_YEAR)

    # New York dates here: Friday's after-hours bars fall on Saturday in UTC.
    local_ns = np.sort(idx.tz_convert(SESSION_TZ).tz_localize(None).as_unit("ns").asi8)
    local_days = local_ns // _NS_PER_DAY
    weekend = _weekend_share(local_days) >= _WEEKEND_SHARE
    if weekend or _longest_day_span(local_ns, local_days) + spacing >= _ROUND_THE_CLOCK_NS:
        return _median_bars_per_day(ns // _NS_PER_DAY) * CALENDAR_DAYS_PER_YEAR
    return _median_bars_per_day(local_days) * TRADING_DAYS_PER_YEAR
