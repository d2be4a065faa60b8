"""infer_periods_per_year on synthetic calendars and on the real SPY bars.

Sessions per year, counted by hand from NYSE's published holidays (weekdays of the year minus the
weekday holidays): 2022: 260 - 9 = 251; 2023: 260 - 10 = 250; 2024: 262 - 10 = 252; 2025: 261 - 11
= 250 (the 2025-01-09 national day of mourning included). Early closes in 2024: 07-03, 11-29, 12-24.
"""

from __future__ import annotations

import pandas as pd
import pytest

from admf.analytics.annualization import infer_periods_per_year
from admf.core.errors import DataError


def sessions(days: pd.DatetimeIndex, start: str, end: str, freq: str) -> pd.DatetimeIndex:
    """Bars from `start` to `end` (New York wall clock, end exclusive) on each day, as UTC."""
    parts = []
    for d in days:
        day = d.strftime("%Y-%m-%d")
        local = pd.date_range(f"{day} {start}", f"{day} {end}", freq=freq, inclusive="left", tz="America/New_York")
        parts.append(local.tz_convert("UTC"))
    return parts[0].append(parts[1:])


# Crosses the 2024-03-10 DST change, so UTC times of the session shift by an hour.
WEEKDAYS = pd.bdate_range("2024-03-04", "2024-03-22")


def test_five_minute_regular_session():
    idx = sessions(WEEKDAYS, "09:30", "16:00", "5min")
    assert len(idx) == 78 * len(WEEKDAYS)
    assert infer_periods_per_year(idx) == 78 * 252


def test_half_day_does_not_move_the_median():
    full = sessions(WEEKDAYS[:-1], "09:30", "16:00", "5min")
    half = sessions(WEEKDAYS[-1:], "09:30", "13:00", "5min")
    assert infer_periods_per_year(full.append(half)) == 78 * 252


def test_bars_per_session_come_from_full_sessions_only():
    # three real early closes (42 bars to 13:00) outnumber two full days: a median over all dates
    # would give 42; the calendar knows they are half days
    half = sessions(pd.DatetimeIndex(["2024-07-03", "2024-11-29", "2024-12-24"]), "09:30", "13:00", "5min")
    full = sessions(pd.DatetimeIndex(["2024-12-26", "2024-12-27"]), "09:30", "16:00", "5min")
    assert infer_periods_per_year(half.append(full).sort_values()) == 78 * 252
    # only half days: their own median
    assert infer_periods_per_year(half) == 42 * 252


def test_holiday_bars_do_not_count_as_a_session():
    # 2024-07-04 (a holiday) with a few extended-hours bars, beside two full days
    full = sessions(pd.DatetimeIndex(["2024-07-02", "2024-07-05", "2024-07-08"]), "09:30", "16:00", "5min")
    holiday = sessions(pd.DatetimeIndex(["2024-07-04"]), "08:00", "08:30", "5min")
    assert infer_periods_per_year(full.append(holiday).sort_values()) == 78 * 252


def test_sessions_per_year_over_several_years():
    days = pd.bdate_range("2022-12-01", "2023-01-31", tz="America/New_York")
    # 2022 and 2023 whole: (251 + 250) / 2, whatever part of them the data covers
    assert infer_periods_per_year(sessions(days, "09:30", "16:00", "5min")) == 78 * 250.5
    assert infer_periods_per_year(days.tz_convert("UTC")) == 250.5
    assert infer_periods_per_year(pd.bdate_range("2025-01-02", periods=40, tz="UTC")) == 250
    # before the calendar's first year: the 252 convention
    assert infer_periods_per_year(pd.bdate_range("1985-01-02", periods=40, tz="UTC")) == 252


def test_extended_hours_count_their_bars():
    idx = sessions(WEEKDAYS, "04:00", "20:00", "5min")
    assert infer_periods_per_year(idx) == 192 * 252


def test_daily_bars():
    assert infer_periods_per_year(pd.bdate_range("2024-01-01", periods=60, tz="UTC")) == 252
    # Alpaca stamps daily bars at New York midnight (04:00/05:00 UTC).
    ny_midnight = pd.bdate_range("2024-01-01", periods=60, tz="America/New_York").tz_convert("UTC")
    assert infer_periods_per_year(ny_midnight) == 252


def test_round_the_clock_data():
    assert infer_periods_per_year(pd.date_range("2024-01-01", periods=60, freq="D", tz="UTC")) == 365
    minutes = pd.date_range("2024-01-01", periods=3 * 1440, freq="1min", tz="UTC")
    assert infer_periods_per_year(minutes) == 1440 * 365
    # Two weekdays only, but 24 hourly bars a day: no exchange session is that long.
    hours = pd.date_range("2024-01-02", periods=48, freq="1h", tz="UTC")
    assert infer_periods_per_year(hours) == 24 * 365


def test_weekly_bars():
    weeks = pd.date_range("2024-01-05", periods=30, freq="7D", tz="UTC")
    assert infer_periods_per_year(weeks) == pytest.approx(365.25 / 7)


def test_needs_two_distinct_bars():
    with pytest.raises(DataError):
        infer_periods_per_year(pd.DatetimeIndex(["2024-01-02"], tz="UTC"))
    with pytest.raises(DataError):
        infer_periods_per_year(pd.DatetimeIndex(["2024-01-02", "2024-01-02"], tz="UTC"))


def test_real_spy_five_minute_bars(shared_data):
    frame = pd.read_csv(shared_data / "SPY_5m.csv")
    idx = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True))
    # Independent count: bars per New York date, median over the dates that are not early closes
    # (the data, 2024-03-26 to 2025-04-02, has only trading days); years 2024 and 2025.
    per_day = pd.Series(1, index=idx.tz_convert("America/New_York").date).groupby(level=0).size()
    half = {pd.Timestamp(d).date() for d in ("2024-07-03", "2024-11-29", "2024-12-24")}
    assert half <= set(per_day.index)
    full = per_day[[d not in half for d in per_day.index]]
    assert infer_periods_per_year(idx) == full.median() * (252 + 250) / 2
    assert full.median() == 79  # 09:30-16:00 and a 16:00 bar
