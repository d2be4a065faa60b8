"""How YAML text becomes a config: dates stay text, duplicate keys are errors, files get symbol and timeframe."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from admf.config.loader import load_config, read_yaml
from admf.core.errors import ConfigError, DataError
from admf.data.catalog import infer_timeframe, load_spec
from admf.data.loaders import load_bars
from admf.runtime.backtest import load_timeline, resolve_data_dir

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"


def test_dates_stay_text_so_a_bad_one_is_reported_later_with_its_field() -> None:
    assert read_yaml("start: 2024-13-45\nend: 2024-02-01\n") == {"start": "2024-13-45", "end": "2024-02-01"}


def test_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("name: a\ndata: SPY_5m\nrisk:\n  stop_loss: 0.01\n  stop_loss: 0.02\nstrategy: [bollinger_bands]\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'stop_loss' \(lines 4 and 5\)") as e:
        load_config(p, env={})
    assert e.value.file == str(p)
    # the same key in two different mappings is fine
    assert read_yaml("a: {x: 1}\nb: {x: 2}\n") == {"a": {"x": 1}, "b": {"x": 2}}


def test_a_file_with_symbol_and_timeframe_from_the_config(tmp_path: Path) -> None:
    pd.read_csv(DATA / "SPY_5m.csv").head(500).to_csv(tmp_path / "export.csv", index=False)
    p = tmp_path / "c.yaml"
    p.write_text("data: {file: export.csv, symbol: SPY, timeframe: 5min}\nstrategy: [bollinger_bands]\n")
    cfg = load_config(p, env={})
    assert cfg.data.specs == ["export.csv"] and cfg.data.symbols == ["SPY"] and cfg.data.timeframe == "5min"
    tl = load_timeline(cfg)
    assert tl.symbols == ["SPY"] and tl.timeframe == "5m" and len(tl) == 500
    p.write_text("data: {files: [export.csv], symbols: [SPY, QQQ]}\nstrategy: [bollinger_bands]\n")
    with pytest.raises(ConfigError, match="one symbol per file"):
        load_config(p, env={})


def test_timeframe_inferred_from_the_bars(tmp_path: Path) -> None:
    pd.read_csv(DATA / "SPY_5m.csv").head(300).to_csv(tmp_path / "bars.csv", index=False)
    assert infer_timeframe(load_bars(tmp_path / "bars.csv")) == "5m"  # nights and weekends do not count
    frame = load_spec("bars.csv", tmp_path / "nowhere", base_dir=tmp_path)
    assert frame.symbol == "bars" and frame.timeframe == "5m"
    daily = pd.DataFrame({"timestamp": pd.bdate_range("2024-01-01", periods=30, tz="UTC"), "open": 1.0,
                          "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1})
    daily.to_csv(tmp_path / "d.csv", index=False)
    assert infer_timeframe(load_bars(tmp_path / "d.csv")) == "1d"
    daily.head(1).to_csv(tmp_path / "one.csv", index=False)
    with pytest.raises(DataError, match="single bar"):
        load_spec(tmp_path / "one.csv", tmp_path)


def test_data_dir_beside_the_config_wins_over_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "cfg" / "data").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    p = tmp_path / "cfg" / "c.yaml"
    p.write_text("data: SPY_5m\nstrategy: [bollinger_bands]\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir(load_config(p, env={})) == tmp_path / "cfg" / "data"
    (tmp_path / "cfg" / "data").rmdir()
    assert resolve_data_dir(load_config(p, env={})) == Path("data")  # the working directory's, when only it exists
