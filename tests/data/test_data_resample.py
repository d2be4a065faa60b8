from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from admf.core.errors import DataError
from admf.data.frame import BarFrame
from admf.data.loaders import load_bars
from admf.data.resample import resample


def _ns(s: str) -> int:
    return int(pd.Timestamp(s, tz="UTC").as_unit("ns").value)


def _frame(rows: list[tuple], tf: str = "1m") -> BarFrame:
    cols = list(zip(*rows, strict=True))
    return BarFrame(np.array([_ns(t) for t in cols[0]]), *map(np.array, cols[1:]), symbol="X", timeframe=tf)


HAND = [
    ("2024-03-26 13:30", 10.0, 11.0, 9.0, 10.5, 100.0),
    ("2024-03-26 13:31", 10.5, 12.0, 10.0, 11.0, 200.0),
    ("2024-03-26 13:34", 11.0, 11.5, 8.0, 9.0, 50.0),
    ("2024-03-26 13:35", 9.0, 9.5, 8.5, 9.2, 10.0),
    ("2024-03-26 13:42", 9.2, 10.0, 9.0, 9.8, 5.0),
    ("2024-03-26 14:01", 9.8, 10.0, 9.7, 9.9, 1.0),
]


def _rows(f: BarFrame) -> list[tuple]:
    return list(
        zip(
            f.ts.tolist(),
            f.open.tolist(),
            f.high.tolist(),
            f.low.tolist(),
            f.close.tolist(),
            f.volume.tolist(),
            strict=True,
        )
    )


def test_hand_case_5m() -> None:
    out = resample(_frame(HAND), "5m")
    assert out.timeframe == "5m" and out.symbol == "X"
    # 13:45..13:55 have no bars and are left out.
    assert _rows(out) == [
        (_ns("2024-03-26 13:30"), 10.0, 12.0, 8.0, 9.0, 350.0),
        (_ns("2024-03-26 13:35"), 9.0, 9.5, 8.5, 9.2, 10.0),
        (_ns("2024-03-26 13:40"), 9.2, 10.0, 9.0, 9.8, 5.0),
        (_ns("2024-03-26 14:00"), 9.8, 10.0, 9.7, 9.9, 1.0),
    ]


def test_hand_case_1h_aligned_to_utc_hour() -> None:
    out = resample(_frame(HAND), "1h")
    assert _rows(out) == [
        (_ns("2024-03-26 13:00"), 10.0, 12.0, 8.0, 9.8, 365.0),
        (_ns("2024-03-26 14:00"), 9.8, 10.0, 9.7, 9.9, 1.0),
    ]


def test_daily_uses_new_york_session_date() -> None:
    rows = [
        ("2024-01-02 14:30", 1.0, 2.0, 0.5, 1.5, 1.0),  # winter: NY midnight is 05:00 UTC
        ("2024-03-26 13:30", 10.0, 11.0, 9.0, 10.5, 1.0),
        ("2024-03-26 23:00", 10.5, 12.0, 10.0, 11.0, 2.0),  # 19:00 New York
        ("2024-03-27 01:00", 11.0, 11.5, 8.0, 9.0, 4.0),  # 21:00 New York, still March 26 there
        ("2024-03-27 13:30", 9.0, 9.5, 8.5, 9.2, 8.0),
    ]
    out = resample(_frame(rows), "1d")
    assert _rows(out) == [
        (_ns("2024-01-02 05:00"), 1.0, 2.0, 0.5, 1.5, 1.0),
        (_ns("2024-03-26 04:00"), 10.0, 12.0, 8.0, 9.0, 7.0),
        (_ns("2024-03-27 04:00"), 9.0, 9.5, 8.5, 9.2, 8.0),
    ]


def test_same_timeframe_is_identity() -> None:
    f = _frame(HAND)
    out = resample(f, "1min")
    assert out.timeframe == "1m" and np.shares_memory(out.close, f.close)


def test_finer_and_misaligned_refused() -> None:
    f = _frame(HAND, tf="5m")
    with pytest.raises(DataError) as e:
        resample(f, "1m")
    assert "cannot resample 5m bars to the finer timeframe 1m" in str(e.value)
    assert "accepted: 5m or coarser" in str(e.value)
    with pytest.raises(DataError) as e:
        resample(f, "7m")
    assert "not a whole multiple" in str(e.value)


def test_unsorted_refused() -> None:
    rows = [HAND[1], HAND[0]]
    with pytest.raises(DataError) as e:
        resample(_frame(rows), "5m")
    assert "sorted" in str(e.value)


def test_shared_5m_to_15m_equals_shared_15m(shared_data: Path) -> None:
    # The shared files were checked to agree row for row (7093 buckets, no missing bars), so
    # the whole series is compared, not an overlap.
    got = resample(load_bars(shared_data / "SPY_5m.csv"), "15m")
    want = load_bars(shared_data / "SPY_15m.csv")
    assert len(got) == len(want) == 7093
    for c in ("ts", "open", "high", "low", "close", "volume"):
        assert np.array_equal(got.column(c), want.column(c)), c


def test_shared_1m_to_5m_equals_shared_5m(shared_data: Path) -> None:
    got = resample(load_bars(shared_data / "SPY_1m.parquet"), "5m")
    want = load_bars(shared_data / "SPY_5m.csv")
    assert len(got) == len(want)
    for c in ("ts", "open", "high", "low", "close", "volume"):
        assert np.array_equal(got.column(c), want.column(c)), c


AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def test_shared_1h_and_1d_match_pandas(shared_data: Path) -> None:
    f = load_bars(shared_data / "SPY_5m.csv")
    df = f.to_pandas()
    want_h = df.resample("1h").agg(AGG).dropna()
    got_h = resample(f, "1h").to_pandas()
    pd.testing.assert_frame_equal(got_h, want_h, check_freq=False, check_names=False)

    want_d = df.tz_convert("America/New_York").resample("1D").agg(AGG).dropna().tz_convert("UTC")
    got_d = resample(f, "1d").to_pandas()
    pd.testing.assert_frame_equal(got_d, want_d, check_freq=False, check_names=False)
    assert len(got_d) > 250
