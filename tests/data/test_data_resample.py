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


def test_daily_bar_is_the_regular_session() -> None:
    rows = [
        ("2024-01-02 14:30", 1.0, 2.0, 0.5, 1.5, 1.0),  # winter: 09:30 New York, NY midnight is 05:00 UTC
        ("2024-03-26 12:00", 7.0, 30.0, 1.0, 7.0, 64.0),  # 08:00 New York: pre-market, left out
        ("2024-03-26 13:30", 10.0, 11.0, 9.0, 10.5, 1.0),  # summer: 09:30 New York
        ("2024-03-26 19:59", 10.5, 12.0, 10.0, 11.0, 2.0),  # 15:59 New York, the session's last minute
        ("2024-03-26 20:00", 11.0, 31.0, 1.0, 9.0, 4.0),  # 16:00 New York: after the close, left out
        ("2024-03-27 01:00", 11.0, 11.5, 8.0, 9.0, 4.0),  # 21:00 New York on March 26, left out
        ("2024-03-27 13:30", 9.0, 9.5, 8.5, 9.2, 8.0),
        ("2024-03-29 14:00", 9.0, 99.0, 0.5, 9.2, 8.0),  # Good Friday: no session, no bar
        ("2024-07-03 16:59", 5.0, 6.0, 4.0, 5.5, 3.0),  # 12:59 New York on an early close
        ("2024-07-03 17:00", 5.5, 60.0, 0.1, 5.0, 9.0),  # 13:00: after the early close, left out
    ]
    out = resample(_frame(rows), "1d")
    assert _rows(out) == [
        (_ns("2024-01-02 05:00"), 1.0, 2.0, 0.5, 1.5, 1.0),
        (_ns("2024-03-26 04:00"), 10.0, 12.0, 9.0, 11.0, 3.0),
        (_ns("2024-03-27 04:00"), 9.0, 9.5, 8.5, 9.2, 8.0),
        (_ns("2024-07-03 04:00"), 5.0, 6.0, 4.0, 5.5, 3.0),
    ]
    assert len(resample(_frame(rows[1:2]), "1d")) == 0  # only a pre-market bar: no daily bar


def test_daily_bar_of_hour_bars_keeps_the_hour_that_holds_the_open() -> None:
    rows = [
        ("2024-03-26 12:00", 1.0, 2.0, 0.5, 1.0, 1.0),  # 08:00-09:00 New York: before the open
        ("2024-03-26 13:00", 1.0, 3.0, 0.9, 2.0, 2.0),  # 09:00-10:00 holds the 09:30 open
        ("2024-03-26 19:00", 2.0, 2.5, 1.5, 2.2, 4.0),  # 15:00-16:00
        ("2024-03-26 20:00", 2.2, 9.0, 0.1, 2.4, 8.0),  # 16:00-17:00: after the close
    ]
    assert _rows(resample(_frame(rows, tf="1h"), "1d")) == [(_ns("2024-03-26 04:00"), 1.0, 3.0, 0.9, 2.2, 6.0)]


def test_daily_bars_of_round_the_clock_data_are_new_york_days() -> None:
    ts = pd.date_range("2024-03-01", periods=14 * 24, freq="1h", tz="UTC")
    f = BarFrame(ts.as_unit("ns").asi8, *(np.arange(len(ts), dtype=float),) * 4, np.ones(len(ts)), symbol="BTCUSD",
                 timeframe="1h")
    out = resample(f, "1d")
    days = ts.tz_convert("America/New_York").normalize().unique()
    assert out.ts.tolist() == days.tz_convert("UTC").as_unit("ns").asi8.tolist()  # weekends included
    assert out.volume.sum() == len(ts)


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

    # daily: the bars inside each session of exchange_calendars' own XNYS schedule, by pandas
    sched = _xnys(df.index[0], df.index[-1])
    pos = sched["close"].searchsorted(df.index, side="right")
    ok = pos < len(sched)
    inside = np.zeros(len(df), dtype=bool)
    inside[ok] = sched["open"].to_numpy()[pos[ok]] <= df.index[ok]
    rth = df[inside]
    want_d = rth.tz_convert("America/New_York").resample("1D").agg(AGG).dropna().tz_convert("UTC")
    got_d = resample(f, "1d").to_pandas()
    pd.testing.assert_frame_equal(got_d, want_d, check_freq=False, check_names=False)
    assert len(got_d) == len(sched) and inside.sum() < len(df)  # the data has extended-hours bars


def _xnys(first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    import warnings

    import exchange_calendars as xc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = xc.get_calendar("XNYS").schedule
    sched = sched.loc[str(first.tz_convert("America/New_York").date()):str(last.tz_convert("America/New_York").date())]
    return pd.DataFrame({"open": pd.DatetimeIndex(sched["open"]).tz_convert("UTC"),
                         "close": pd.DatetimeIndex(sched["close"]).tz_convert("UTC")})


@pytest.mark.parametrize(("day", "first", "last"), [
    ("2024-07-03", "13:30", "16:55"),  # early closes: 09:30-13:00 New York (EDT)
    ("2024-11-29", "14:30", "17:55"),  # EST
    ("2024-12-24", "14:30", "17:55"),
    ("2024-11-01", "13:30", "19:55"),  # the Friday before the 2024-11-03 change: EDT
    ("2024-11-04", "14:30", "20:55"),  # the Monday after: EST
    ("2025-03-07", "14:30", "20:55"),  # the Friday before the 2025-03-09 change: EST
    ("2025-03-10", "13:30", "19:55"),  # the Monday after: EDT
])
def test_shared_half_days_and_dst_daily_bars(shared_data: Path, day: str, first: str, last: str) -> None:
    f = load_bars(shared_data / "SPY_5m.csv")
    df = f.to_pandas()
    that_day = df[df.index.tz_convert("America/New_York").strftime("%Y-%m-%d") == day]
    session = that_day[f"{day} {first}":f"{day} {last}"]  # the regular session's 5-minute bars (UTC)
    assert len(that_day) > len(session) > 0  # the data holds bars outside the session that day
    got = resample(f, "1d").to_pandas().loc[pd.Timestamp(day, tz="America/New_York").tz_convert("UTC")]
    assert got["open"] == session["open"].iloc[0] and got["close"] == session["close"].iloc[-1]
    assert got["high"] == session["high"].max() and got["low"] == session["low"].min()
    assert got["volume"] == session["volume"].sum()
