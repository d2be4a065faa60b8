"""Live bar aggregation and gap detection, against the real SPY files and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from admf.adapters.alpaca.aggregator import MINUTE_NS, BarAggregator, GapDetector, missing_minutes
from admf.core.events import Bar

T0 = pd.Timestamp("2024-03-26T13:30:00Z").value  # 09:30 New York


def _bar(i: int, o: float = 1.0, h: float = 2.0, l: float = 0.5, c: float = 1.5, v: float = 10.0) -> Bar:
    return Bar("SPY", T0 + i * MINUTE_NS, o, h, l, c, v)


def _load_1m(shared_data) -> pd.DataFrame:
    d = pd.read_parquet(shared_data / "SPY_1m.parquet")
    d["ts"] = d["timestamp"].dt.as_unit("ns").astype("int64")
    return d


@pytest.mark.parametrize(("tf", "name"), [(300, "SPY_5m.csv"), (900, "SPY_15m.csv")])
def test_aggregating_real_1m_bars_reproduces_the_5m_and_15m_files(shared_data, tf, name):
    d = _load_1m(shared_data)
    out: list[Bar] = []
    agg = BarAggregator(tf, out.append, grace_s=None)
    for t, o, h, l, c, v in zip(d.ts, d.open, d.high, d.low, d.close, d.volume, strict=True):
        agg.add(Bar("SPY", int(t), o, h, l, c, float(v)))
    agg.flush_all()
    ref = pd.read_csv(shared_data / name, parse_dates=["timestamp"])
    ref["ts"] = ref["timestamp"].dt.as_unit("ns").astype("int64")
    got = pd.DataFrame(
        [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in out],
        columns=["ts", "open", "high", "low", "close", "volume"],
    )
    assert len(got) == len(ref)
    assert np.array_equal(got.ts.to_numpy(), ref.ts.to_numpy())
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(got[col].to_numpy(), ref[col].to_numpy(), rtol=0, atol=1e-9)


def test_bucket_emits_on_its_last_minute_without_waiting_for_the_next():
    out: list[Bar] = []
    agg = BarAggregator(300, out.append, grace_s=None)
    for i, (o, h, l, c, v) in enumerate(
        [(10, 11, 9, 10.5, 1), (10.5, 12, 10, 11, 2), (11, 11.5, 8, 9, 3), (9, 10, 8.5, 9.5, 4)]
    ):
        agg.add(_bar(i, o, h, l, c, v))
    assert out == []
    agg.add(_bar(4, 9.5, 9.8, 9.1, 9.7, 5))
    assert out == [Bar("SPY", T0, 10, 12, 8, 9.7, 15)]


def test_bucket_with_a_missing_last_minute_closes_on_the_next_bucket_or_the_timer():
    out: list[Bar] = []
    agg = BarAggregator(300, out.append, grace_s=2.0)
    arrive = T0 + MINUTE_NS + 500_000_000  # bars arrive 0.5 s after their minute ends
    agg.add(_bar(0, c=1.0), arrive)
    agg.add(_bar(1, c=2.0), arrive + MINUTE_NS)
    # bucket ends at minute 5; deadline = end + 0.5 s lag + 2 s grace
    assert agg.flush_due(T0 + 5 * MINUTE_NS + 2_400_000_000) == 0
    assert agg.flush_due(T0 + 5 * MINUTE_NS + 2_600_000_000) == 1
    assert out[0].close == 2.0 and out[0].volume == 20.0
    agg.add(_bar(4))  # a late bar of the emitted bucket is dropped, not re-emitted
    assert agg.late == 1 and len(out) == 1
    agg.add(_bar(6, c=3.0))
    agg.add(_bar(11, c=4.0))  # next-next bucket closes [5, 10)
    assert [b.ts for b in out] == [T0, T0 + 5 * MINUTE_NS]


def test_one_minute_timeframe_passes_bars_through_in_order():
    out: list[Bar] = []
    agg = BarAggregator(60, out.append)
    agg.add(_bar(0))
    agg.add(_bar(2))
    agg.add(_bar(1))  # late
    assert [b.ts for b in out] == [T0, T0 + 2 * MINUTE_NS] and agg.late == 1


def test_missing_minutes_hand_cases():
    m = MINUTE_NS
    assert missing_minutes(T0, T0 + 3 * m) == 2  # 09:31, 09:32
    assert missing_minutes(T0, T0 + m) == 0
    close = T0 + 390 * m  # 16:00
    assert missing_minutes(close - 2 * m, close + 30 * m) == 1  # only 15:59 is inside the session
    next_open = pd.Timestamp("2024-03-27T13:30:00Z").value
    assert missing_minutes(close - m, next_open + 2 * m) == 2  # overnight: 09:30, 09:31 of the next day
    assert missing_minutes(close - 5 * m, next_open + 2 * m) == 6  # 15:56-15:59, then 09:30, 09:31
    # 2024-03-28 -> 2024-04-01 skips Good Friday and the weekend: 15:59 of Thursday, 09:30 of Monday
    thu_close = pd.Timestamp("2024-03-28T20:00:00Z").value
    mon_open = pd.Timestamp("2024-04-01T13:30:00Z").value
    assert missing_minutes(thu_close - 2 * m, mon_open + m) == 2
    # an early close: 2024-11-29 closes at 13:00 EST (18:00 UTC); bars after it are not expected
    half_close = pd.Timestamp("2024-11-29T18:00:00Z").value
    assert missing_minutes(half_close - 2 * m, half_close + 60 * m) == 1
    assert missing_minutes(close - m, next_open + 2 * m, "all") == (next_open + 2 * m - close) // m
    pre = T0 - 60 * m  # 08:30 pre-market
    assert missing_minutes(pre, T0 + m) == 1  # 09:30


def test_gap_detector_counts_match_pandas_on_real_bars(shared_data):
    d = _load_1m(shared_data)
    det = GapDetector("all")
    events = [g for t in d.ts for g in [det.check("SPY", int(t))] if g is not None]
    diffs = np.diff(d.ts.to_numpy()) // MINUTE_NS
    assert det.missing == int((diffs - 1).sum())
    assert det.gaps == int((diffs > 1).sum()) == len(events)


def test_rth_gap_count_matches_a_set_difference_per_day(shared_data):
    d = _load_1m(shared_data)
    det = GapDetector("rth")
    for t in d.ts:
        det.check("SPY", int(t))
    # reference: every minute of every session (exchange_calendars' own schedule, early closes
    # included) between the file's first and last bar, minus the minutes that have a bar
    import warnings

    import exchange_calendars as xc

    first, last = int(d.ts.min()), int(d.ts.max())
    with warnings.catch_warnings():  # the library's own pandas deprecations
        warnings.simplefilter("ignore")
        sched = xc.get_calendar("XNYS").schedule.loc["2024-03-01":"2025-05-01"]
    have = set(d.ts.tolist())

    def missing(closes: pd.Series) -> int:
        expected: set[int] = set()
        for o, c in zip(sched["open"], closes, strict=True):
            mins = pd.date_range(o, c, freq="1min", inclusive="left").as_unit("ns").asi8
            expected.update(int(x) for x in mins if first < x < last)
        return len(expected - have)

    assert det.missing == missing(sched["close"])
    # a fixed 16:00 close would see the half days' afternoons as missing: the calendar matters here
    assert missing(sched["open"] + pd.Timedelta(minutes=390)) > 0


# early closes (13:00 New York): 07-03, 11-29, 12-24; 11-01 and 11-04 are either side of the
# 2024-11-03 DST change (regular close 20:00, then 21:00 UTC)
DAYS = ["2024-07-03", "2024-11-01", "2024-11-04", "2024-11-29", "2024-12-24"]


def test_daily_buckets_are_sessions_on_real_1m_bars(shared_data):
    from admf.data.frame import BarFrame
    from admf.data.resample import resample

    d = _load_1m(shared_data)
    ny = pd.DatetimeIndex(d["timestamp"]).tz_convert("America/New_York").strftime("%Y-%m-%d")
    d = d[np.isin(ny, DAYS)]
    out: list[tuple[Bar, int]] = []
    seen: list[int] = []
    agg = BarAggregator(86_400, lambda b: out.append((b, seen[-1])), grace_s=None)
    for t, o, h, l, c, v in zip(d.ts, d.open, d.high, d.low, d.close, d.volume, strict=True):
        seen.append(int(t))
        agg.add(Bar("SPY", int(t), o, h, l, c, float(v)))
    assert agg.flush_all() == 0  # every session's bucket closed on its last minute
    # against the backtest's daily bars of the same minutes
    ref = resample(BarFrame(d.ts.to_numpy(), d.open.to_numpy(), d.high.to_numpy(), d.low.to_numpy(),
                            d.close.to_numpy(), d.volume.to_numpy(dtype=float), "SPY", "1m"), "1d")
    assert [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b, _ in out] == list(
        zip(ref.ts.tolist(), ref.open.tolist(), ref.high.tolist(), ref.low.tolist(), ref.close.tolist(),
            ref.volume.tolist(), strict=True))
    # by hand: stamped New York midnight, emitted on the minute that ends at the real close
    closes = {"2024-07-03": "16:59", "2024-11-29": "17:59", "2024-12-24": "17:59", "2024-11-01": "19:59",
              "2024-11-04": "20:59"}
    day_of = np.asarray(ny)[np.isin(ny, DAYS)]
    for (b, emitted_on), day in zip(out, DAYS, strict=True):
        assert b.ts == pd.Timestamp(day, tz="America/New_York").value
        last = pd.Timestamp(f"{day} {closes[day]}", tz="UTC").value
        assert emitted_on == last
        assert b.close == float(d.close[d.ts == last].iloc[0])
        assert ((day_of == day) & (d.ts.to_numpy() > last)).sum() > 0  # the data goes on after the close
