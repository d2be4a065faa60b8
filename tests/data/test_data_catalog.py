from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from admf.core.errors import ConfigError, DataError
from admf.data.catalog import load_spec, resolve, time_bound
from admf.data.loaders import load_bars, save_bars
from admf.data.resample import resample
from admf.data.sample import generate_sample

REPO_DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def minutes():
    return generate_sample("SPY", "1m", days=3)


def test_exact_prefers_parquet(tmp_path: Path, minutes) -> None:
    f5 = resample(minutes, "5m")
    for name in ("SPY_5m.csv", "SPY_5m.csv.gz", "SPY_5m.parquet", "SPY_1m.csv"):
        save_bars(f5 if "5m" in name else minutes, tmp_path / name)
    assert resolve("SPY_5m", tmp_path) == tmp_path / "SPY_5m.parquet"
    (tmp_path / "SPY_5m.parquet").unlink()
    assert resolve("SPY_5m", tmp_path) == tmp_path / "SPY_5m.csv"
    (tmp_path / "SPY_5m.csv").unlink()
    assert resolve("SPY_5m", tmp_path) == tmp_path / "SPY_5m.csv.gz"


def test_lowercase_symbol_and_dotted_symbol(tmp_path: Path, minutes) -> None:
    save_bars(minutes, tmp_path / "spy_1m.csv")
    save_bars(minutes, tmp_path / "BRK.B_1m.csv")
    assert resolve("SPY_1m", tmp_path) == tmp_path / "spy_1m.csv"
    f = load_spec("SPY_1m", tmp_path)
    assert (f.symbol, f.timeframe, len(f)) == ("SPY", "1m", 3 * 390)
    assert resolve("BRK.B_1m", tmp_path) == tmp_path / "BRK.B_1m.csv"


def test_finer_file_is_resampled(tmp_path: Path, minutes) -> None:
    save_bars(minutes, tmp_path / "SPY_1m.parquet")
    assert resolve("SPY_15m", tmp_path) == tmp_path / "SPY_1m.parquet"
    f = load_spec("SPY_15m", tmp_path)
    # Independent reference: pandas on the minute bars.
    want = (
        minutes.to_pandas()
        .resample("15min")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .dropna()
    )
    assert (f.symbol, f.timeframe, len(f)) == ("SPY", "15m", len(want)) and len(want) == 3 * 26
    pd.testing.assert_frame_equal(f.to_pandas(), want, check_freq=False, check_names=False)


def test_coarsest_usable_finer_file_wins(tmp_path: Path, minutes) -> None:
    save_bars(minutes, tmp_path / "SPY_1m.parquet")
    save_bars(resample(minutes, "5m"), tmp_path / "SPY_5m.csv")
    save_bars(resample(minutes, "10m"), tmp_path / "SPY_10m.csv")
    assert resolve("SPY_15m", tmp_path) == tmp_path / "SPY_5m.csv"  # 10m does not divide 15m
    assert resolve("SPY_30m", tmp_path) == tmp_path / "SPY_10m.csv"
    assert resolve("SPY_1d", tmp_path) == tmp_path / "SPY_10m.csv"
    daily = load_spec("SPY_1d", tmp_path)
    assert len(daily) == 3 and daily.timeframe == "1d"
    assert daily.volume.sum() == minutes.volume.sum()


def test_coarser_file_is_not_used(tmp_path: Path, minutes) -> None:
    save_bars(resample(minutes, "1h"), tmp_path / "SPY_1h.csv")
    with pytest.raises(DataError) as e:
        resolve("SPY_5m", tmp_path)
    assert "files for SPY there: SPY_1h.csv" in str(e.value)


def test_explicit_path(tmp_path: Path, minutes) -> None:
    p = save_bars(minutes, tmp_path / "sub" / "whatever.csv")
    assert resolve(str(p), tmp_path / "elsewhere") == p
    assert resolve("sub/whatever.csv", tmp_path) == tmp_path / "sub" / "whatever.csv"
    f = load_spec(p, tmp_path)
    assert len(f) == len(minutes) and np.array_equal(f.close, minutes.close)


def test_bad_spec_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_spec("SPY", tmp_path)
    assert "SPY_5m" in str(e.value)


def test_start_end(tmp_path: Path) -> None:
    f = load_spec("SPY_5m", REPO_DATA, start="2024-02-01", end="2024-02-29")
    assert f.ts[0] == time_bound("2024-02-01 14:30", "start")
    # A bare end date includes that day.
    assert f.ts[-1] == time_bound("2024-02-29 20:55", "end")
    g = load_spec("SPY_5m", REPO_DATA, start="2024-02-01T14:30:00Z", end="2024-02-01 15:00")
    assert len(g) == 6
    with pytest.raises(DataError) as e:
        load_spec("SPY_5m", REPO_DATA, start="2030-01-01")
    assert "no bars between 2030-01-01 and None" in str(e.value)
    with pytest.raises(ConfigError):
        load_spec("SPY_5m", REPO_DATA, start="yesterday-ish")


def test_time_bound_forms() -> None:
    want = int(np.datetime64("2024-02-01T14:30", "ns").astype(np.int64))
    assert time_bound("2024-02-01 14:30", "start") == want
    assert time_bound("2024-02-01T09:30:00-05:00", "start") == want
    assert time_bound(pd.Timestamp("2024-02-01 14:30", tz="UTC"), "start") == want
    assert time_bound(want, "start") == want
    assert time_bound("2024-02-01", "end", end=True) == int(np.datetime64("2024-02-02", "ns").astype(np.int64))
    assert time_bound(None, "start") is None


def test_shipped_files_load_validated() -> None:
    for sym in ("SPY", "QQQ"):
        f = load_spec(f"{sym}_5m", REPO_DATA)
        assert (f.symbol, f.timeframe, len(f)) == (sym, "5m", 126 * 78)
        assert f.source == str(REPO_DATA / f"{sym}_5m.csv")
        assert np.array_equal(f.close, load_bars(REPO_DATA / f"{sym}_5m.csv").close)
