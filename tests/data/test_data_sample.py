from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from admf.core.calendar import holidays as nyse_holidays
from admf.data.resample import resample
from admf.data.sample import generate_sample, main, trading_days, write_samples
from admf.data.validate import validate_bars

REPO_DATA = Path(__file__).resolve().parents[2] / "data"


def test_regenerates_shipped_files_byte_for_byte(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    for name in ("SPY_5m.csv", "QQQ_5m.csv"):
        assert (tmp_path / name).read_bytes() == (REPO_DATA / name).read_bytes(), name
        assert (REPO_DATA / name).stat().st_size < 1_000_000


def test_same_arguments_same_bars_other_seed_other_bars() -> None:
    a = generate_sample("IWM", "15m", days=5)
    b = generate_sample("IWM", "15m", days=5)
    c = generate_sample("IWM", "15m", days=5, seed=1)
    assert np.array_equal(a.close, b.close) and np.array_equal(a.volume, b.volume)
    assert not np.array_equal(a.close, c.close)


def test_nyse_holidays() -> None:
    d = dt.date
    assert nyse_holidays(2024) == {
        d(2024, 1, 1), d(2024, 1, 15), d(2024, 2, 19), d(2024, 3, 29), d(2024, 5, 27),
        d(2024, 6, 19), d(2024, 7, 4), d(2024, 9, 2), d(2024, 11, 28), d(2024, 12, 25),
    }  # fmt: skip
    # 2022: New Year on Saturday is not observed; Juneteenth and Christmas fall on Sunday.
    h22 = nyse_holidays(2022)
    assert d(2021, 12, 31) not in nyse_holidays(2021) and d(2022, 6, 20) in h22 and d(2022, 12, 26) in h22
    assert d(2025, 4, 18) in nyse_holidays(2025)  # Good Friday 2025


def test_early_close_days_end_at_13() -> None:
    f = generate_sample("SPY", "5m", start="2024-07-02", days=3)
    local = pd.DatetimeIndex(pd.to_datetime(f.ts, unit="ns", utc=True)).tz_convert("America/New_York")
    per_day = pd.Series(local.date).value_counts().sort_index()
    assert per_day.to_dict() == {dt.date(2024, 7, 2): 78, dt.date(2024, 7, 3): 42, dt.date(2024, 7, 5): 78}
    assert local[local.date == dt.date(2024, 7, 3)].max().strftime("%H:%M") == "12:55"


def test_sessions_weekdays_dst_and_holidays() -> None:
    f = generate_sample("SPY", "5m", start="2024-03-07", days=20)
    validate_bars(f)
    local = pd.DatetimeIndex(pd.to_datetime(f.ts, unit="ns", utc=True)).tz_convert("America/New_York")
    minutes = local.hour * 60 + local.minute
    assert minutes.min() == 9 * 60 + 30 and minutes.max() == 15 * 60 + 55
    assert set(local.day_of_week) <= {0, 1, 2, 3, 4}
    days = sorted(set(local.date))
    assert len(days) == 20 and dt.date(2024, 3, 29) not in days  # Good Friday
    assert np.all(pd.Series(local.date).value_counts() == 78)
    # 09:30 New York is 14:30 UTC before the March 10 DST change and 13:30 UTC after it.
    utc = pd.DatetimeIndex(pd.to_datetime(f.ts, unit="ns", utc=True))
    assert utc[0] == pd.Timestamp("2024-03-07 14:30", tz="UTC")
    assert pd.Timestamp("2024-03-11 13:30", tz="UTC") in utc
    assert trading_days("2024-03-28", 2) == [dt.date(2024, 3, 28), dt.date(2024, 4, 1)]


def test_plausible_bars() -> None:
    f = generate_sample("SPY", "5m")
    assert np.array_equal(np.round(f.close * 100), f.close * 100)  # whole cents
    day = f.to_pandas()
    by_time = day["volume"].groupby(day.index.tz_convert("America/New_York").time).mean()
    assert by_time.iloc[0] > 2 * by_time.iloc[39] and by_time.iloc[-1] > 1.5 * by_time.iloc[39]  # U shape
    r = np.diff(np.log(f.close))
    assert 0.0005 < r.std() < 0.002
    # A long-only Bollinger(20, 2) rule (numpy reference) enters many times.
    c = pd.Series(f.close)
    mid = c.rolling(20).mean().to_numpy()
    lower = mid - 2 * c.rolling(20).std(ddof=0).to_numpy()
    entries, long = 0, False
    for price, m, lo in zip(f.close.tolist(), mid.tolist(), lower.tolist(), strict=True):
        if not long and price < lo:
            long, entries = True, entries + 1
        elif long and price > m:
            long = False
    assert entries > 100


def test_timeframes_are_consistent_and_1m_supported(tmp_path: Path) -> None:
    m = generate_sample("QQQ", "1m", days=2)
    assert m.timeframe == "1m" and len(m) == 780
    h = generate_sample("QQQ", "1h", days=2)
    assert np.array_equal(h.close, resample(m, "1h").close)
    (p,) = write_samples(tmp_path, (("QQQ", "1d"),))
    assert p.name == "QQQ_1d.csv" and len(p.read_text().splitlines()) == 1 + 126
