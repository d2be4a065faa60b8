"""The Python API: `admf.backtest(config_or_path)` returns pandas trades and equity with their metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import admf
from admf.config.loader import load_config
from admf.core.errors import ConfigError, UserError

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
BOLLINGER = REPO / "config" / "bollinger" / "test.yaml"


def test_backtest_from_a_path_gives_pandas_results() -> None:
    r = admf.backtest(BOLLINGER, start="2024-01-02", end="2024-01-05")
    spy = pd.read_csv(DATA / "SPY_5m.csv")
    ts = pd.to_datetime(spy["timestamp"], utc=True)
    want = ts[(ts >= "2024-01-02") & (ts < "2024-01-06")]
    assert isinstance(r.equity, pd.Series) and isinstance(r.trades, pd.DataFrame)
    assert list(r.equity.index) == list(want)
    assert str(r.equity.index.tz) == "UTC"
    assert {"entry_time", "exit_time", "entry_price", "exit_price", "qty", "pnl", "costs", "exit_reason"} <= set(
        r.trades.columns)
    m = pd.Series(r.metrics)  # a mapping of scalars, ready for pandas
    assert m["bars"] == len(want) and m["trade_count"] == len(r.trades) > 0
    assert m["final_equity"] == pytest.approx(r.equity.iloc[-1])
    assert m["total_return"] == pytest.approx(r.equity.iloc[-1] / 100_000 - 1)
    # intraday: flat at each close, so equity gained is the sum of closed trades' P&L
    assert r.equity.iloc[-1] - 100_000 == pytest.approx(r.trades["pnl"].sum(), abs=1e-6)
    assert (r.trades["exit_time"] > r.trades["entry_time"]).all()


def test_path_dict_and_config_give_the_same_result() -> None:
    cfg = load_config(BOLLINGER, env={})
    raw = {"name": "bollinger", "data_dir": str(DATA), "data": "SPY_5m",
           "strategy": [{"bollinger_bands": {"period": 20, "std_dev": 2.0}, "constraints": "intraday",
                         "risk": {"stop_loss": 0.005, "take_profit": 0.01}}],
           "execution": {"fill": "next_open", "commission": {"type": "per_share", "rate": 0.005, "min": 1.0},
                         "slippage": {"type": "bps", "value": 1}}}
    a = admf.backtest(str(BOLLINGER), bars=800)
    b = admf.backtest(cfg, bars=800)
    c = admf.backtest(raw, bars=800)
    for other in (b, c):
        pd.testing.assert_frame_equal(a.trades, other.trades)
        pd.testing.assert_series_equal(a.equity, other.equity)
    # a different parameter gives a different run, so the comparison above can fail
    raw["strategy"][0]["bollinger_bands"]["period"] = 10
    assert not admf.backtest(raw, bars=800).trades.equals(a.trades)


def test_a_grid_returns_a_sweep_with_one_row_per_combination(tmp_path: Path) -> None:
    sweep = admf.backtest(REPO / "config" / "sma" / "grid.yaml", bars=500, out=tmp_path)
    t = sweep.table
    assert len(t) == 6 and t["label"].tolist() == [f"fast={f},slow={s}" for f in (5, 10, 15) for s in (30, 60)]
    assert t[["fast", "slow"]].values.tolist() == [[f, s] for f in (5, 10, 15) for s in (30, 60)]
    assert (t["bars"] == 500).all()
    assert t["total_return"].round(12).nunique() > 1  # the combinations really differ
    assert all(len(r.equity) == 500 for r in sweep.top.values())


def test_bad_input_raises_a_config_error_not_exit() -> None:
    with pytest.raises(ConfigError) as e:
        admf.backtest({"data_dir": str(DATA), "data": "SPY_5m", "strategy": [{"sma_crossover": {"fats": 3}}]})
    assert e.value.field == "strategy[0].sma_crossover.fats" and "did you mean 'fast'" in str(e.value)


def test_user_strategy_registering_a_builtin_name_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "dup.py").write_text(
        "from admf.strategies.base import Strategy\n"
        "from admf.strategies.registry import register\n\n\n"
        "@register('sma_crossover')\n"
        "class Mine(Strategy):\n"
        "    pass\n")
    with pytest.raises(ConfigError) as e:
        admf.backtest({"data_dir": str(DATA), "data": "SPY_5m", "strategy_files": [str(tmp_path / "dup.py")],
                       "strategy": ["sma_crossover"]}, bars=50)
    assert e.value.field == "strategy_files" and "registered twice" in str(e.value)
    # the built-in is untouched
    r = admf.backtest({"data_dir": str(DATA), "data": "SPY_5m", "strategy": ["sma_crossover"]}, bars=300)
    assert np.isfinite(r.equity).all()


@pytest.mark.parametrize("path", sorted((REPO / "config").rglob("*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_example_config_runs_on_the_shipped_data(path: Path, tmp_path: Path) -> None:
    out = admf.backtest(path, bars=2000, out=tmp_path)
    results = list(out.top.values()) if hasattr(out, "table") else [out]
    for r in results:
        assert len(r.equity) == 2000 and np.isfinite(r.equity).all()
        assert len(r.trades) > 0, r.label or r.name
        assert r.equity.iloc[0] == pytest.approx(r.config.portfolio.initial_capital, rel=1e-3)


def test_metrics_is_a_dict_and_plot_gives_each_chart(tmp_path: Path) -> None:
    r = admf.backtest(BOLLINGER, bars=2000)
    assert type(r.metrics).__mro__[1] is dict and isinstance(r.metrics, dict)
    assert r.metrics.to_dict() == dict(r.metrics) and r.run_dir is None
    assert r.plot().layout.yaxis.title.text == "equity ($)"
    assert [t.type for t in r.plot("price").data].count("candlestick") == 1
    assert r.plot("monthly").data[0].type == "heatmap"
    assert r.plot("returns").data[0].type == "bar"
    assert "Rolling Sharpe" in r.plot("rolling_sharpe").layout.title.text
    with pytest.raises(ConfigError, match="chart"):
        r.plot("books")  # one book: no per-book chart
    with pytest.raises(ConfigError, match="unknown chart"):
        r.plot("candles")


def test_backtest_out_writes_the_run_directory(tmp_path: Path) -> None:
    r = admf.backtest(BOLLINGER, bars=800, out=tmp_path / "runs")
    assert r.run_dir is not None and r.run_dir.parent == tmp_path / "runs"
    assert {"config.yaml", "trades.csv", "fills.csv", "orders.csv", "signals.csv", "equity.parquet",
            "metrics.json", "report.html"} == {p.name for p in r.run_dir.iterdir()}
    trades = pd.read_csv(r.run_dir / "trades.csv")
    assert len(trades) == len(r.trades)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        admf.backtest(BOLLINGER, bars=800, out=tmp_path / "a_file")
