"""NYSE calendar against the published holiday lists and the real SPY data; wire formats."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from admf.emulator import calendar as cal
from admf.emulator.wire import dstr, iso_et, iso_ns, iso_us, parse_time

NY = ZoneInfo("America/New_York")

# NYSE's published holiday and early-close schedules.
HOLIDAYS = {
    2022: ["2022-01-17", "2022-02-21", "2022-04-15", "2022-05-30", "2022-06-20", "2022-07-04", "2022-09-05",
           "2022-11-24", "2022-12-26"],
    2024: ["2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27", "2024-06-19", "2024-07-04",
           "2024-09-02", "2024-11-28", "2024-12-25"],
    2025: ["2025-01-01", "2025-01-09", "2025-01-20", "2025-02-17", "2025-04-18", "2025-05-26", "2025-06-19",
           "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25"],
    2026: ["2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19", "2026-07-03",
           "2026-09-07", "2026-11-26", "2026-12-25"],
}
EARLY = ["2024-07-03", "2024-11-29", "2024-12-24", "2025-07-03", "2025-11-28", "2025-12-24", "2026-11-27",
         "2026-12-24"]


@pytest.mark.parametrize("year", sorted(HOLIDAYS))
def test_holidays_match_published_schedule(year: int) -> None:
    assert sorted(d.isoformat() for d in cal.holidays(year)) == HOLIDAYS[year]


def test_early_closes_and_normal_days() -> None:
    for d in EARLY:
        assert cal.close_time(date.fromisoformat(d)) == time(13, 0), d
    assert cal.close_time(date(2024, 7, 5)) == time(16, 0)
    # 2021-12-31 stays open: New Year's Day 2022 fell on a Saturday.
    assert cal.is_trading_day(date(2021, 12, 31))


def test_calendar_agrees_with_real_spy_sessions(shared_data) -> None:
    df = pd.read_csv(shared_data / "SPY_5m.csv", usecols=["timestamp"])
    ts = pd.to_datetime(df["timestamp"], utc=True).dt.tz_convert(NY)
    rth = ts[(ts.dt.time >= time(9, 30)) & (ts.dt.time < time(16, 0))]
    days_with_bars = set(rth.dt.date)
    first, last = min(days_with_bars), max(days_with_bars)
    assert days_with_bars == set(cal.trading_days(first, last))
    # Every session has its last regular bar (extended-hours bars follow early closes, so only presence
    # of the close bar is checked there).
    stamps = {t.to_pydatetime() for t in rth}
    for d in days_with_bars - {last}:  # the file ends mid-session
        close = datetime.combine(d, cal.close_time(d), NY)
        assert close - pd.Timedelta(minutes=5) in stamps, d


def test_clock_semantics() -> None:
    def ns(text: str) -> int:
        return parse_time(text)

    open_, close = cal.session(date(2024, 3, 28))
    assert iso_et(open_) == "2024-03-28T09:30:00-04:00"
    assert iso_et(close) == "2024-03-28T16:00:00-04:00"
    assert cal.is_open(ns("2024-03-28T13:30:00Z")) and not cal.is_open(ns("2024-03-28T20:00:00Z"))
    # Good Friday 2024-03-29 and the weekend are skipped.
    nxt_open, nxt_close = cal.next_open_close(ns("2024-03-28T20:00:00Z"))
    assert iso_et(nxt_open) == "2024-04-01T09:30:00-04:00"
    assert iso_et(nxt_close) == "2024-04-01T16:00:00-04:00"
    assert cal.is_ext_open(ns("2024-03-28T08:00:00Z")) and not cal.is_ext_open(ns("2024-03-28T07:59:00Z"))


def test_decimal_strings() -> None:
    assert dstr(Decimal("10.000")) == "10"
    assert dstr(Decimal("1E+2")) == "100"
    assert dstr(Decimal("171.2500")) == "171.25"
    assert dstr(Decimal("-0.0000001")) == "-0.0000001"
    assert dstr(Decimal("-0")) == "0"
    assert dstr(None) is None


def test_timestamps_round_trip() -> None:
    ns = 1_711_459_800_123_456_789
    assert iso_us(ns) == "2024-03-26T13:30:00.123456Z"
    assert iso_ns(ns) == "2024-03-26T13:30:00.123456789Z"
    assert iso_ns(1_711_459_800_000_000_000) == "2024-03-26T13:30:00Z"
    assert iso_et(ns) == "2024-03-26T09:30:00.123456789-04:00"
    assert parse_time("2024-03-26T13:30:00.123456789Z") == ns
    assert parse_time("2024-03-26T09:30:00.123456789-04:00") == ns
    # '+' decoded to a space in a query string, naive times and bare dates.
    assert parse_time("2024-03-26T13:30:00 00:00") == 1_711_459_800 * 10**9
    assert parse_time("2024-03-26T13:30:00") == 1_711_459_800 * 10**9
    assert parse_time("2024-03-26") == 1_711_411_200 * 10**9
