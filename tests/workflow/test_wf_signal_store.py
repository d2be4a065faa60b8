"""The signal store: typed, content-addressed keys; sparse files; skip what is stored; queries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from workflow_support import REPO, cfg

from admf.config.loader import config_from_dict
from admf.core.errors import UserError
from admf.research.signal_gen import effective_signals, signals
from admf.research.signal_store import SignalStore, canonical_filter, query, variant_key
from admf.runtime.backtest import load_timeline

BB = {"bollinger_bands": {"period": 20, "std_dev": 2.0}}


def _key(entry: dict, symbol: str = "SPY", timeframe: str = "5m", bars: str = "f" * 32) -> str:
    c = config_from_dict(cfg(entry))
    return variant_key(c.strategies[0], symbol, timeframe, bars).hash


def test_int_and_float_spellings_give_one_hash() -> None:
    h = _key({"bollinger_bands": {"period": 20, "std_dev": 2.0}})
    assert _key({"bollinger_bands": {"period": 20, "std_dev": 2}}) == h
    assert _key({"bollinger_bands": {"period": 20.0, "std_dev": 2}}) == h  # an int parameter given as 20.0
    assert _key({"bollinger_bands": {}}) == h  # the defaults are the same parameters
    assert _key({"bollinger_bands": {"period": 21, "std_dev": 2.0}}) != h


def test_everything_the_signal_depends_on_changes_the_hash() -> None:
    h = _key(BB)
    others = {
        _key(BB, symbol="QQQ"), _key(BB, timeframe="1m"), _key(BB, bars="e" * 32),
        _key({**BB, "constraints": "intraday"}), _key({**BB, "direction": "long"}),
        _key({**BB, "filter": "volume > 10"}), _key({"bollinger_breakout": {"period": 20, "std_dev": 2.0}}),
    }
    assert h not in others and len(others) == 7
    # the filter as parsed: spacing does not matter, the expression does
    assert _key({**BB, "filter": "volume>10"}) == _key({**BB, "filter": "volume > 10"})
    assert canonical_filter("close > sma(20)") != canonical_filter("close > sma(21)")


def test_hash_is_stable_across_processes() -> None:
    code = ("from admf.config.loader import config_from_dict as f;from admf.research.signal_store import variant_key"
            " as k;c=f({'data':'SPY_5m','strategy':[{'bollinger_bands':{'period':20,'std_dev':2}}]});"
            "print(k(c.strategies[0],'SPY','5m','f'*32).hash)")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONPATH": str(REPO / "src"), "PYTHONHASHSEED": str(seed)}).stdout.strip()
            for seed in (1, 2)}
    assert outs == {_key(BB)}


def test_effective_signals_apply_the_filter_and_keep_only_changes() -> None:
    recs = [(3, 30, 1), (5, 50, 0), (7, 70, -1), (9, 90, 1), (11, 110, 0), (12, 120, 0)]
    # the filter is asked once per non-zero record: refuses the -1 entry
    assert effective_signals(recs, [True, False, True]) == [(3, 30, 1), (5, 50, 0), (9, 90, 1), (11, 110, 0)]
    assert effective_signals(recs, []) == [(3, 30, 1), (5, 50, 0), (7, 70, -1), (9, 90, 1), (11, 110, 0)]


def test_store_written_twice_holds_each_variant_once(tmp_path: Path) -> None:
    grid = cfg({"sma_crossover": {"fast": [5, 10], "slow": [30, 60]}, "constraints": "intraday"},
               {"bollinger_bands": {"period": 20, "std_dev": [2, 2.0]}})  # 2 and 2.0: one variant
    first = signals(grid, store=tmp_path / "st", bars=3000)
    assert (first.generated, first.skipped) == (5, 0)
    files = sorted((tmp_path / "st" / "signals").rglob("*.parquet"))
    assert len(files) == 5
    again = signals(grid, store=tmp_path / "st", bars=3000)
    assert (again.generated, again.skipped) == (0, 5)
    assert sorted((tmp_path / "st" / "signals").rglob("*.parquet")) == files
    n = query(tmp_path / "st", "SELECT count(*) AS n, count(DISTINCT hash) AS d FROM strategies")
    assert n.iloc[0].tolist() == [5, 5]
    runs = query(tmp_path / "st", "SELECT generated, skipped FROM runs ORDER BY run_id")
    assert runs.to_numpy().tolist() == [[5, 0], [0, 5]]


def test_file_layout_and_content(tmp_path: Path) -> None:
    c = cfg({"sma_crossover": {"fast": 5, "slow": 30}})
    res = signals(c, store=tmp_path / "st", bars=2000)
    row = res.variants.iloc[0]
    h = row["hash"]
    path = tmp_path / "st" / "signals" / h[:2] / f"{h}.parquet"
    t = pq.read_table(path)
    assert t.column_names == ["ts", "bar", "value", "price"]
    assert str(t.schema.field("ts").type) == "timestamp[ns, tz=UTC]"
    bar, value = t["bar"].to_numpy(), t["value"].to_numpy()
    assert str(t.schema.field("price").type) == "decimal128(18, 4)"  # exact: cent prices
    price = SignalStore(tmp_path / "st").read(h).price
    tl = load_timeline(config_from_dict(c), bars=2000)
    assert row["signal_count"] == len(bar) > 10 and (np.diff(bar) > 0).all()
    assert (np.diff(value) != 0).all() and value[0] != 0  # sparse: a row only where the value changes
    assert np.array_equal(price, tl.close[bar]) and np.array_equal(t["ts"].cast("int64").to_numpy(), tl.ts[bar])
    sql = query(tmp_path / "st", f"SELECT price FROM signals WHERE hash = '{h}' ORDER BY bar")
    assert np.array_equal(sql["price"].to_numpy(), tl.close[bar])  # exact through DuckDB too
    assert (row["fast"], row["slow"], json.loads(row["params"])) == (5, 30, {"fast": 5, "slow": 30})
    assert row["bars"] == 2000 and row["days"] == 26
    assert json.loads((tmp_path / "st" / "store.json").read_text())["format"] == 1


def test_unknown_or_foreign_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown signal store: no such directory"):
        SignalStore(tmp_path / "nope")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("mine")
    with pytest.raises(UserError, match="not a signal store"):
        SignalStore(tmp_path / "other")
    with pytest.raises(UserError, match="not empty; refusing"):
        signals(cfg(BB), store=tmp_path / "other", bars=500)
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["x.txt"]


README_QUERIES = {
    "changes_per_day": "SELECT label, strategy, signal_count, round(signal_count / days, 2) AS changes_per_day "
                       "FROM strategies ORDER BY changes_per_day DESC LIMIT 10",
    "by_hour": "SELECT hour(timezone('America/New_York', ts)) AS hour_ny, count(*) AS changes, "
               "sum(CASE WHEN value = 1 THEN 1 ELSE 0 END) AS longs FROM signals GROUP BY 1 ORDER BY 1",
    "fewest": "SELECT s.* EXCLUDE (params, bars_fingerprint) FROM strategies s ORDER BY signal_count LIMIT 10",
}


def test_readme_queries(tmp_path: Path) -> None:
    signals(cfg({"sma_crossover": {"fast": [5, 10, 15], "slow": [30, 60]}, "constraints": "intraday"}),
            store=tmp_path / "st")
    per_day = query(tmp_path / "st", README_QUERIES["changes_per_day"])
    assert len(per_day) == 6 and per_day["changes_per_day"].is_monotonic_decreasing
    assert per_day.iloc[0]["label"] == "fast=5,slow=30"  # the fastest pair changes most often
    hours = query(tmp_path / "st", README_QUERIES["by_hour"])
    # intraday: changes only in the regular session, New York time (the 15h row holds the flat-at-close rows)
    assert hours["hour_ny"].min() >= 9 and hours["hour_ny"].max() <= 15
    total = query(tmp_path / "st", "SELECT sum(signal_count) AS n FROM strategies").iloc[0, 0]
    assert hours["changes"].sum() == total
    fewest = query(tmp_path / "st", README_QUERIES["fewest"])
    assert list(fewest["signal_count"]) == sorted(fewest["signal_count"]) and {"fast", "slow"} <= set(fewest)


def test_bad_sql_is_one_clear_error(tmp_path: Path) -> None:
    signals(cfg(BB), store=tmp_path / "st", bars=500)
    with pytest.raises(UserError, match="query failed: .*syntax error") as e:
        query(tmp_path / "st", "SELEC 1")
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="query failed: Catalog Error"):
        query(tmp_path / "st", "SELECT * FROM nope")


def test_one_or_two_worker_processes_store_the_same_files(tmp_path: Path) -> None:
    grid = cfg({"bollinger_bands": {"period": [10, 20, 30], "std_dev": [1.5, 2.0]}, "constraints": "intraday"})
    for n in (1, 2):
        signals(grid, store=tmp_path / f"w{n}", bars=2000, workers=n)
    files = [sorted((tmp_path / f"w{n}" / "signals").rglob("*.parquet")) for n in (1, 2)]
    assert [p.name for p in files[0]] == [p.name for p in files[1]] and len(files[0]) == 6
    for a, b in zip(*files, strict=True):
        assert pq.read_table(a).equals(pq.read_table(b))
