from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from admf.core.errors import DataError
from admf.data.frame import BarFrame
from admf.data.loaders import load_bars, save_bars

# 2024-03-26 13:30:00 UTC, computed independently of the loader.
T0 = int(np.datetime64("2024-03-26T13:30:00", "ns").astype(np.int64))
FIVE = 300_000_000_000

ROWS = [
    (521.23, 521.44, 520.88, 521.36, 888901),
    (521.35, 521.43, 520.97, 521.09, 551002),
    (521.09, 521.2084, 520.83, 521.155, 1697396),
]


def _csv(path: Path, header: str, stamps: list[str], rows=ROWS) -> Path:
    lines = [header] + [f"{t},{o},{h},{l},{c},{v}" for t, (o, h, l, c, v) in zip(stamps, rows, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _check(frame: BarFrame) -> None:
    assert frame.ts.tolist() == [T0, T0 + FIVE, T0 + 2 * FIVE]
    assert frame.open.tolist() == [r[0] for r in ROWS]
    assert frame.high.tolist() == [r[1] for r in ROWS]
    assert frame.low.tolist() == [r[2] for r in ROWS]
    assert frame.close.tolist() == [r[3] for r in ROWS]
    assert frame.volume.tolist() == [float(r[4]) for r in ROWS]
    assert frame.ts.dtype == np.int64 and frame.close.dtype == np.float64


UTC_STAMPS = ["2024-03-26 13:30:00+00:00", "2024-03-26 13:35:00+00:00", "2024-03-26 13:40:00+00:00"]


def test_csv_basic_and_name(tmp_path: Path) -> None:
    f = load_bars(_csv(tmp_path / "SPY_5m.csv", "timestamp,open,high,low,close,volume", UTC_STAMPS))
    _check(f)
    assert (f.symbol, f.timeframe, f.source) == ("SPY", "5m", str(tmp_path / "SPY_5m.csv"))
    assert len(f) == 3


@pytest.mark.parametrize(
    "header",
    [
        "Timestamp,Open,High,Low,Close,Volume",
        "TIMESTAMP,OPEN,HIGH,LOW,CLOSE,VOLUME",
        "date,open,HIGH,low,Close,vol",
        " time , open , high , low , close , volume ",
        "datetime,volume_unused,open,high,low,close,volume",
    ],
)
def test_column_names_any_case(tmp_path: Path, header: str) -> None:
    if "volume_unused" in header:
        lines = [header] + [f"{t},0,{o},{h},{l},{c},{v}" for t, (o, h, l, c, v) in zip(UTC_STAMPS, ROWS, strict=True)]
        p = tmp_path / "X_5m.csv"
        p.write_text("\n".join(lines) + "\n")
    else:
        p = _csv(tmp_path / "X_5m.csv", header, UTC_STAMPS)
    _check(load_bars(p))


def test_tz_aware_offsets_converted_to_utc(tmp_path: Path) -> None:
    # 09:30 New York on 2024-03-26 is 13:30 UTC (EDT, -04:00).
    stamps = ["2024-03-26T09:30:00-04:00", "2024-03-26T09:35:00-04:00", "2024-03-26T09:40:00-04:00"]
    _check(load_bars(_csv(tmp_path / "A_5m.csv", "timestamp,open,high,low,close,volume", stamps)))


def test_mixed_offsets_across_dst(tmp_path: Path) -> None:
    stamps = ["2024-03-08T09:30:00-05:00", "2024-03-11T09:30:00-04:00", "2024-03-11T09:35:00-04:00"]
    f = load_bars(_csv(tmp_path / "A_5m.csv", "timestamp,open,high,low,close,volume", stamps))
    want = pd.DatetimeIndex(["2024-03-08 14:30", "2024-03-11 13:30", "2024-03-11 13:35"]).as_unit("ns").asi8
    assert f.ts.tolist() == want.tolist()


def test_naive_times_are_utc(tmp_path: Path) -> None:
    stamps = ["2024-03-26 13:30:00", "2024-03-26 13:35:00", "2024-03-26 13:40:00"]
    _check(load_bars(_csv(tmp_path / "A_5m.csv", "timestamp,open,high,low,close,volume", stamps)))


@pytest.mark.parametrize("scale", [1, 1_000, 1_000_000_000])
def test_epoch_integers(tmp_path: Path, scale: int) -> None:
    # 1711459800 s is 2024-03-26 13:30:00 UTC.
    stamps = [str((1711459800 + 300 * i) * scale) for i in range(3)]
    _check(load_bars(_csv(tmp_path / "A_5m.csv", "ts,open,high,low,close,volume", stamps)))


def test_csv_gz(tmp_path: Path) -> None:
    plain = _csv(tmp_path / "plain.csv", "timestamp,open,high,low,close,volume", UTC_STAMPS)
    gz = tmp_path / "SPY_5m.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    f = load_bars(gz)
    _check(f)
    assert (f.symbol, f.timeframe) == ("SPY", "5m")


def _pandas_frame(index: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Open": [r[0] for r in ROWS],
            "High": [r[1] for r in ROWS],
            "Low": [r[2] for r in ROWS],
            "Close": [r[3] for r in ROWS],
            "Volume": [r[4] for r in ROWS],
        },
        index=index,
    )


def test_parquet_with_tz_index(tmp_path: Path) -> None:
    idx = pd.date_range("2024-03-26 09:30", periods=3, freq="5min", tz="America/New_York")
    p = tmp_path / "SPY_5m.parquet"
    _pandas_frame(idx).to_parquet(p)
    _check(load_bars(p))


def test_parquet_with_named_index_and_extra_columns(tmp_path: Path) -> None:
    idx = pd.date_range("2024-03-26 13:30", periods=3, freq="5min", tz="UTC", unit="us", name="Datetime")
    df = _pandas_frame(idx)
    df.insert(0, "bar_index", range(3))
    p = tmp_path / "X_5m.parquet"
    df.to_parquet(p)
    _check(load_bars(p))


def test_parquet_naive_column(tmp_path: Path) -> None:
    df = _pandas_frame(pd.RangeIndex(3))
    df["time"] = pd.date_range("2024-03-26 13:30", periods=3, freq="5min")
    p = tmp_path / "X_5m.parquet"
    df.to_parquet(p)
    _check(load_bars(p))


def test_shared_parquet(shared_data: Path) -> None:
    f = load_bars(shared_data / "SPY_1m.parquet")
    ref = pd.read_parquet(shared_data / "SPY_1m.parquet")
    assert len(f) == len(ref) == 102236
    assert f.ts.tolist() == pd.DatetimeIndex(ref["timestamp"]).as_unit("ns").asi8.tolist()
    assert np.array_equal(f.close, ref["close"].to_numpy())
    assert f.ts[0] == T0
    assert (f.symbol, f.timeframe) == ("SPY", "1m")


def test_from_pandas_and_to_pandas_round_trip() -> None:
    idx = pd.date_range("2024-03-26 09:30", periods=3, freq="5min", tz="America/New_York")
    f = BarFrame.from_pandas(_pandas_frame(idx), "SPY", "5m")
    _check(f)
    df = f.to_pandas()
    assert str(df.index.tz) == "UTC"
    assert df.index[0] == pd.Timestamp("2024-03-26 13:30", tz="UTC")
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert df["close"].tolist() == [r[3] for r in ROWS]


def test_slice_time_half_open(tmp_path: Path) -> None:
    f = load_bars(_csv(tmp_path / "A_5m.csv", "timestamp,open,high,low,close,volume", UTC_STAMPS))
    assert f.slice_time(T0 + FIVE, T0 + 2 * FIVE).ts.tolist() == [T0 + FIVE]
    assert f.slice_time(None, T0 + 1).ts.tolist() == [T0]
    assert len(f.slice_time(T0 + 10 * FIVE, None)) == 0
    assert f.bar(1).close == 521.09 and f.bar(1).ts == T0 + FIVE


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_save_round_trip(tmp_path: Path, suffix: str) -> None:
    f = load_bars(_csv(tmp_path / "A_5m.csv", "timestamp,open,high,low,close,volume", UTC_STAMPS))
    back = load_bars(save_bars(f, tmp_path / f"B_5m{suffix}"))
    _check(back)


def test_save_csv_text(tmp_path: Path) -> None:
    f = load_bars(_csv(tmp_path / "A_5m.csv", "timestamp,open,high,low,close,volume", UTC_STAMPS))
    text = save_bars(f, tmp_path / "B_5m.csv", price_decimals=2).read_text().splitlines()
    assert text[0] == "timestamp,open,high,low,close,volume"
    # 521.155 is stored as 521.15499999..., so two decimals give 521.15.
    assert text[3] == "2024-03-26 13:40:00+00:00,521.09,521.21,520.83,521.15,1697396"


def test_bad_number_names_row_column_value(tmp_path: Path) -> None:
    p = tmp_path / "A_5m.csv"
    p.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-03-26 13:30:00+00:00,1,2,0.5,1.5,10\n"
        "2024-03-26 13:35:00+00:00,1,2,0.5,abc,10\n"
    )
    with pytest.raises(DataError) as e:
        load_bars(p)
    msg = str(e.value)
    assert str(p) in msg and "row 2" in msg and "column close" in msg and "'abc'" in msg


def test_bad_time_far_down_names_row(tmp_path: Path) -> None:
    # More than one 1 MB read block, so the bad value is not in the first block.
    n = 40_000
    ts = pd.date_range("2024-01-01", periods=n, freq="1min", tz="UTC").astype(str).tolist()
    ts[n - 5] = "not a time"
    body = "".join(f"{t},1,2,0.5,1.5,10\n" for t in ts)
    p = tmp_path / "A_1m.csv"
    p.write_text("timestamp,open,high,low,close,volume\n" + body)
    with pytest.raises(DataError) as e:
        load_bars(p)
    msg = str(e.value)
    assert f"row {n - 4}" in msg and "column timestamp" in msg and "'not a time'" in msg


def test_unknown_suffix(tmp_path: Path) -> None:
    p = tmp_path / "SPY_5m.xlsx"
    p.write_text("x")
    with pytest.raises(DataError) as e:
        load_bars(p)
    assert ".parquet, .csv, .csv.gz" in str(e.value)


def test_bars_as_core_events(tmp_path: Path) -> None:
    from admf.core.events import Bar

    f = load_bars(_csv(tmp_path / "SPY_5m.csv", "timestamp,open,high,low,close,volume", UTC_STAMPS))
    bars = list(f.iter_bars())
    assert bars[2] == Bar("SPY", T0 + 2 * FIVE, 521.09, 521.2084, 520.83, 521.155, 1697396.0)
    assert bars == [f.bar(i) for i in range(3)]
    assert type(bars[0].ts) is int and type(bars[0].close) is float


def test_arrays_are_read_only(tmp_path: Path) -> None:
    f = load_bars(_csv(tmp_path / "SPY_5m.csv", "timestamp,open,high,low,close,volume", UTC_STAMPS))
    with pytest.raises(ValueError):
        f.close[0] = 1.0


def test_dataframe_without_time_is_refused() -> None:
    df = pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [1.0]})
    with pytest.raises(DataError) as e:
        BarFrame.from_pandas(df, "SPY", "5m")
    assert "SPY_5m: columns: missing column timestamp; columns found: open, high, low, close, volume" in str(e.value)
