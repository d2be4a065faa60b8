"""Walk-forward: windows by hand, a grid with one winner, no lookahead, warm-up, the run directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workflow_support import SAMPLE, cfg

from admf.analytics.metrics import compute_metrics, metrics_from_json
from admf.core.errors import UserError
from admf.research.walkforward import Window, make_windows, parse_span, walkforward
from admf.runtime.backtest import backtest

NS_DAY = 86_400_000_000_000


def test_windows_by_hand() -> None:
    days = np.repeat(np.arange(100, 200), 3)  # days 100..199, three bars each
    assert make_windows(days, train=60, test=20) == [Window(0, 100, 160, 160, 180), Window(1, 120, 180, 180, 200)]
    assert make_windows(days, train=60, test=20, anchored=True)[1] == Window(1, 100, 180, 180, 200)
    assert make_windows(days, train=50, test=20, step=30) == [Window(0, 100, 150, 150, 170),
                                                              Window(1, 130, 180, 180, 200)]
    # the last test window is cut at the data's end
    assert make_windows(days, train=70, test=20)[-1] == Window(1, 120, 190, 190, 200)
    assert make_windows(days, split=0.7) == [Window(0, 100, 170, 170, 200)]
    assert parse_span("60d", "--train") == 60 and parse_span("2w", "--train") == 14


@pytest.mark.parametrize(("kw", "match"), [
    ({"train": 100, "test": 5}, "train window longer than the data"),
    ({"train": 10, "test": 5, "step": 3}, "test windows would overlap"),
    ({"split": 1.5}, "split must be a fraction"),
    ({"split": 0.001}, "empty train or test window"),
])
def test_bad_windows(kw: dict, match: str) -> None:
    with pytest.raises(UserError, match=match):
        make_windows(np.arange(100, 150), **kw)


@pytest.mark.parametrize("text", ["60", "d", "0d", "6m", "-5d", "1.5d"])
def test_bad_spans(text: str) -> None:
    with pytest.raises(UserError, match="not a window length"):
        parse_span(text, "--train")


def _sessions_csv(path: Path, first_day: str, days: int, close_of) -> Path:
    """5-minute regular-session bars on the weekdays of `days` calendar days; close_of(i) gives bar i's close."""
    rows, i = [], 0
    for d in pd.date_range(first_day, periods=days, freq="D"):
        if d.weekday() >= 5:
            continue
        start = pd.Timestamp(f"{d.date()} 09:30", tz="America/New_York").tz_convert("UTC")
        for j in range(78):
            c, o = close_of(i), close_of(i - 1)
            rows.append((start + pd.Timedelta(minutes=5 * j), o, max(o, c) + 0.25, min(o, c) - 0.25, c, 1000.0))
            i += 1
    pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"]).to_csv(path, index=False)
    return path


def _saw(i: int) -> float:
    # up 0.5 a bar for 10 bars, down for 10: exact in binary, so roc(20) is exactly 0
    k = (i + 20) % 20
    return 100.0 + 0.5 * (k if k <= 10 else 20 - k)


def test_one_combination_wins_every_train_window(tmp_path: Path) -> None:
    _sessions_csv(tmp_path / "SAW_5m.csv", "2024-01-08", 40, _saw)
    # roc(1) > 0 is long on the way up and short on the way down: it earns every swing;
    # roc(20) is exactly 0 on a 20-bar cycle and threshold 50 is never reached: no trade
    c = cfg({"roc_momentum": {"period": [1, 20], "threshold": [0.0, 50.0]}}, data="SAW_5m", data_dir=tmp_path)
    res = walkforward(c, train="10d", test="5d", objective="total_return", out=tmp_path / "runs")
    w = res.windows
    first = pd.Timestamp("2024-01-08", tz="America/New_York")
    assert len(w) == 6
    assert list(w["test_start"]) == [(first + pd.Timedelta(days=10 + 5 * k)).tz_convert("UTC") for k in range(6)]
    assert list(w["train_start"]) == [(first + pd.Timedelta(days=5 * k)).tz_convert("UTC") for k in range(6)]
    assert (w["period"] == 1).all() and (w["threshold"] == 0.0).all()
    assert (w["label"] == "period=1,threshold=0.0").all()
    assert (w["is_total_return"] > 0).all() and (w["oos_total_return"] > 0).all()
    assert (w["oos_trade_count"] > 0).all()
    t = res.trades
    for _, row in w.iterrows():
        mine = t[t["window"] == row["window"]]
        assert len(mine) == row["oos_trade_count"]
        assert (mine["entry_time"] >= row["test_start"]).all() and (mine["exit_time"] < row["test_end"]).all()
    # the stitched curve covers only test bars, and compounds each window's return
    idx = res.equity.index
    assert idx.is_monotonic_increasing and idx[0] >= w["test_start"].iloc[0]
    growth = np.prod(1.0 + w["oos_total_return"].to_numpy(dtype=float))
    assert res.metrics["total_return"] == pytest.approx(growth - 1.0, rel=1e-9)


def test_choice_never_depends_on_bars_after_its_train_window(tmp_path: Path) -> None:
    bars = pd.read_csv(SAMPLE / "SPY_5m.csv")
    c = cfg({"sma_crossover": {"fast": [5, 10, 20], "slow": [30, 60]}, "constraints": "intraday"},
            data_dir=tmp_path)
    (tmp_path / "SPY_5m.csv").write_text((SAMPLE / "SPY_5m.csv").read_text())
    base = walkforward(c, train="40d", test="20d").windows
    assert len(base) >= 5 and base["label"].nunique() > 1
    k = 2
    cut = base["train_end"].iloc[k]
    later = pd.to_datetime(bars["timestamp"], utc=True) >= cut
    rng = np.random.default_rng(7)
    scale = np.exp(np.cumsum(rng.normal(0, 0.003, later.sum())))  # a different future
    changed = bars.copy()
    for col in ("open", "high", "low", "close"):
        changed.loc[later, col] = bars.loc[later, col] * scale
    changed.to_csv(tmp_path / "SPY_5m.csv", index=False)
    other = walkforward(c, train="40d", test="20d").windows
    same = ["label", "fast", "slow", *[col for col in base if col.startswith("is_")]]
    pd.testing.assert_frame_equal(base.loc[:k, same], other.loc[:k, same])
    assert not base[[col for col in base if col.startswith("oos_")]].equals(
        other[[col for col in other if col.startswith("oos_")]])


def test_test_window_trades_with_features_warmed_up_on_the_train_bars(tmp_path: Path) -> None:
    # without warm-up the slow average would be blind for the test window's first 100 bars; intraday,
    # so the full backtest is flat when the test window opens at a New York midnight
    c = cfg({"sma_crossover": {"fast": 10, "slow": [100]}, "constraints": "intraday"})
    res = walkforward(c, split=0.5)
    w = res.windows.iloc[0]
    full = backtest(c)
    ft = full.trades
    test_start, test_end = w["test_start"], w["test_end"]
    spanning = ft[(ft["entry_time"] < test_start) & (ft["exit_time"] >= test_start)]
    assert spanning.empty, "the reference must be flat when the test window opens"
    ref = ft[(ft["entry_time"] >= test_start) & (ft["exit_time"] < test_end)].reset_index(drop=True)
    got = res.trades.drop(columns="window")
    cols = ["side", "qty", "entry_time", "exit_time", "entry_price", "exit_price", "pnl", "exit_reason"]
    pd.testing.assert_frame_equal(got[cols], ref[cols])
    assert len(got) > 5
    bars = full.equity.index
    assert ref["entry_time"].iloc[0] < bars[bars >= test_start][100], "a trade a cold start would have missed"


def test_run_directory(tmp_path: Path) -> None:
    c = cfg({"sma_crossover": {"fast": [5, 10], "slow": 30}, "constraints": "intraday"})
    res = walkforward(c, train="60d", test="30d", out=tmp_path / "runs", method="random", trials=1, seed=3)
    d = res.run_dir
    assert d is not None and d.parent == tmp_path / "runs"
    assert {p.name for p in d.iterdir()} == {"config.yaml", "windows.csv", "trades.csv", "equity.parquet",
                                            "metrics.json", "report.html", "windows"}
    windows = pd.read_csv(d / "windows.csv")
    assert len(windows) == len(res.windows) == 5  # train ends on days 60, 90, ..., 180 of the 183
    assert {"train_start", "train_end", "test_start", "test_end", "fast", "is_sharpe", "oos_sharpe"} <= set(windows)
    assert len(pd.read_csv(d / "trades.csv")) == len(res.trades)
    eq = pd.read_parquet(d / "equity.parquet")["equity"]
    assert len(eq) == len(res.equity)
    m = metrics_from_json((d / "metrics.json").read_text())
    ref = compute_metrics(res.equity, res.trades, initial_capital=100_000)
    assert m["final_equity"] == pytest.approx(ref["final_equity"]) and m["trade_count"] == ref["trade_count"]
    for i in range(5):  # each train window's results table: one random trial
        table = pd.read_parquet(d / "windows" / f"{i:03d}" / "results.parquet")
        assert len(table) == 1 and {"fast", "sharpe", "label"} <= set(table)
    assert json.loads((d / "metrics.json").read_text())["bars"] == len(res.equity)
    page = (d / "report.html").read_text()
    for part in ("In sample vs out of sample", "Stitched out-of-sample equity", "Windows",
                 "Combinations over all train windows"):
        assert part in page


def test_min_trades_can_leave_a_window_flat(tmp_path: Path) -> None:
    c = cfg({"sma_crossover": {"fast": [5, 10], "slow": 30}})
    res = walkforward(c, split=0.5, min_trades=10_000)
    w = res.windows.iloc[0]
    assert w["label"] == "" and w["fast"] is None and res.trades.empty and res.metrics == {}
