"""Bar files, the synthetic walk and the replay timeline."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from admf.core.errors import DataError
from admf.emulator import calendar as cal
from admf.emulator.market import FAKEPACA, Market, synthetic


def test_csv_replay_matches_file_rows(shared_data: Path) -> None:
    m = Market.build(shared_data / "SPY_5m.csv", ["SPY"])
    with open(shared_data / "SPY_5m.csv") as fh:
        rows = [r for _, r in zip(range(3), csv.DictReader(fh), strict=False)]
    assert m.tf_ns == 300 * 10**9
    s = m.series["SPY"]
    for i, r in enumerate(rows):
        t = datetime.fromisoformat(r["timestamp"])
        assert s.t[i] == int(t.timestamp()) * 10**9
        assert (s.o[i], s.h[i], s.l[i], s.c[i], s.v[i]) == (
            float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]), int(r["volume"]))
    ts, items = m.advance()
    assert ts == s.t[0] and m.price("SPY") == float(rows[0]["close"])
    assert {it[0].symbol for it in items} == {"SPY", FAKEPACA}


def test_parquet_and_extra_symbols_share_the_timeline(shared_data: Path) -> None:
    m = Market.build(shared_data / "SPY_1m.parquet", ["SPY", "QQQ"])
    spy, qqq = m.series["SPY"], m.series["QQQ"]
    assert m.tf_ns == 60 * 10**9
    assert np.array_equal(spy.t, qqq.t)
    m.seek(100)
    assert spy.ptr == 100 and qqq.ptr == 100 and m.current_start() == spy.t[99]


def test_symbol_column_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "two.csv"
    p.write_text(
        "time,symbol,open,high,low,close,volume\n"
        "2024-01-02 14:31:00+00:00,BBB,5,6,4,5.5,10\n"
        "2024-01-02 14:30:00+00:00,AAA,1,2,0.5,1.5,100\n"
        "2024-01-02 14:31:00+00:00,AAA,1.5,2,1,1.8,200\n"
    )
    m = Market.build(p, ["AAA", "BBB"])
    assert m.series["AAA"].c.tolist() == [1.5, 1.8]
    assert m.series["BBB"].t.tolist() == [1704205860 * 10**9]
    ts, items = m.advance()
    assert [s.symbol for s, _ in items] == ["AAA", FAKEPACA]
    ts, items = m.advance()
    assert {s.symbol for s, _ in items} == {"AAA", "BBB", FAKEPACA}

    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,open,high,low,volume\n2024-01-02 14:30:00+00:00,1,2,0.5,100\n")
    with pytest.raises(DataError) as e:
        Market.build(bad, ["AAA"])
    assert e.value.field == "close" and e.value.file == str(bad)
    with pytest.raises(DataError):
        Market.build(tmp_path / "missing.parquet", ["AAA"])


def test_synthetic_walk_is_seeded_and_plausible() -> None:
    a = Market.build(None, ["SPY", "QQQ"], seed=7, synthetic_days=3)
    b = Market.build(None, ["SPY", "QQQ"], seed=7, synthetic_days=3)
    c = Market.build(None, ["SPY", "QQQ"], seed=8, synthetic_days=3)
    s = a.series["SPY"]
    assert np.array_equal(s.c, b.series["SPY"].c) and not np.array_equal(s.c, c.series["SPY"].c)
    assert not np.array_equal(s.c, a.series["QQQ"].c)
    assert len(s) == 3 * 390
    assert np.all(s.l <= np.minimum(s.o, s.c)) and np.all(s.h >= np.maximum(s.o, s.c))
    assert np.all(s.v > 0) and np.all(np.round(s.c, 2) == s.c)
    assert all(cal.is_open(int(t)) for t in s.t)
    # Minute returns of the order of a real large-cap (well under 1 % per minute).
    r = np.abs(np.diff(np.log(s.c)))
    assert 1e-5 < float(np.median(r)) < 2e-3


def test_synthetic_helper_is_independent_of_symbol_order() -> None:
    grid = Market.build(None, ["SPY"], synthetic_days=1).times
    x = synthetic("ABC", grid, 42)
    y = synthetic("ABC", grid, 42)
    assert np.array_equal(x.c, y.c) and np.array_equal(x.v, y.v)


def test_start_by_time_plays_earlier_bars() -> None:
    m = Market.build(None, ["SPY"], synthetic_days=2)
    pos = m.index_of("2024-01-02T10:00:00")
    assert pos == 30
    m.seek(pos)
    assert m.price("SPY") == float(m.series["SPY"].c[29])
