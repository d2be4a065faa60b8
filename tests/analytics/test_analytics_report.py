"""The HTML report and the rich tables."""

from __future__ import annotations

import io
import json
import re
import time

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs
from rich.console import Console

from admf.analytics.metrics import compute_metrics, metrics_to_json
from admf.analytics.packing import read_packed
from admf.analytics.report import format_metrics_table, rank_table, write_html_report
from admf.core.errors import UserError


def render(table) -> str:
    console = Console(file=io.StringIO(), width=220, record=True, color_system=None)
    console.print(table)
    return console.export_text()


@pytest.fixture
def run():
    idx = pd.date_range("2024-01-02", periods=4, freq="D", tz="UTC")
    equity = pd.Series([110.0, 99.0, 108.9, 119.79], index=idx)
    trades = pd.DataFrame(
        {
            "entry_time": [idx[0], idx[2]],
            "exit_time": [idx[1], idx[3]],
            "symbol": ["QQQX", "QQQX"],
            "side": ["long", "short"],
            "qty": [1.0, 2.0],
            "entry_price": [110.0, 108.9],
            "exit_price": [99.0, 119.79],
            "pnl": [-11.0, 21.78],
            "costs": [0.0, 0.0],
            "bars_held": [1, 1],
            "exit_reason": ["stop_loss", "take_profit"],
            "strategy_id": ["bb", "bb"],
        }
    )
    metrics = compute_metrics(equity, trades, initial_capital=100.0, periods_per_year=4)
    return equity, trades, metrics


def test_report_is_self_contained_and_shows_the_metrics(tmp_path, run):
    equity, trades, metrics = run
    out = write_html_report(
        tmp_path / "sub" / "report.html", name="bollinger <test>", metrics=metrics, equity=equity, trades=trades
    )
    text = out.read_text(encoding="utf-8")
    assert '<div id="admf-equity"' in text and '<div id="admf-trades"' in text
    assert read_packed(text, "admf-plotly") == get_plotlyjs().encode("utf-8")  # plotly.js inline, works offline
    assert "<script src=" not in text
    assert "bollinger &lt;test&gt;" in text
    # Hand values: total return 19.79%, Sharpe 1.000, max drawdown 10.00%, 2 trades, win rate 50%.
    for shown in ("19.79%", "1.000", "10.00%", "50.00%"):
        assert shown in text, shown
    table = read_packed(text, "admf-trades-data").decode()
    assert "take_profit" in table and "QQQX" in table
    embedded = re.search(r'<script id="admf-metrics" type="application/json">(.*?)</script>', text).group(1)
    assert json.loads(embedded) == json.loads(metrics_to_json(metrics))


def test_report_without_trades_and_with_benchmark(tmp_path, run):
    equity, _, metrics = run
    bench = pd.Series([400.0, 404.0, 408.0, 412.0], index=equity.index, name="SPY")
    out = write_html_report(
        tmp_path / "r.html", name="n", metrics=metrics, equity=equity, trades=pd.DataFrame(), benchmark=bench
    )
    text = out.read_text(encoding="utf-8")
    assert "No closed trades." in text
    assert [t["name"] for t in json.loads(read_packed(text, "admf-equity-json"))["data"]][1] == "SPY"
    assert '<div id="admf-trades"' not in text


def test_million_bar_report_is_fast_and_small(tmp_path):
    n = 1_000_000
    idx = pd.date_range("2020-01-01", periods=n, freq="1min", tz="UTC")
    rng = np.random.default_rng(7)
    equity = pd.Series(1e5 * np.cumprod(1 + rng.normal(0, 1e-4, n)), index=idx)
    metrics = {"initial_capital": 1e5, "sharpe": 1.0}
    t0 = time.perf_counter()
    out = write_html_report(tmp_path / "big.html", name="big", metrics=metrics, equity=equity, trades=None)
    elapsed = time.perf_counter() - t0
    assert elapsed < 15.0
    # A million float64s are 8 MB even as base64; the file holds plotly.js plus a few thousand points.
    assert out.stat().st_size < len(get_plotlyjs()) + 1_000_000


def test_metrics_table_formats_values(run):
    _, _, metrics = run
    text = render(format_metrics_table(metrics))
    assert "Total return" in text and "19.79%" in text
    assert re.search(r"Sharpe\s*│\s*1\.000", text)
    assert re.search(r"Trades\s*│\s*2\b", text)
    text2 = render(format_metrics_table({"profit_factor": float("inf"), "avg_loss": None}))
    assert re.search(r"Profit factor\s*│\s*inf", text2)
    assert re.search(r"Avg loss\s*│\s*n/a", text2)


def test_rank_table_orders_and_limits():
    rows = [
        {"params": {"period": 10}, "sharpe": 1.0, "max_drawdown": 0.30},
        {"params": {"period": 20}, "sharpe": None, "max_drawdown": 0.05},
        {"params": {"period": 30}, "sharpe": 2.0, "max_drawdown": 0.20},
        {"params": {"period": 40}, "sharpe": 0.5, "max_drawdown": 0.10},
    ]

    def order(table) -> list[str]:
        return [line.split("│")[2].strip() for line in render(table).splitlines() if re.match(r"│\s*\d", line)]

    assert order(rank_table(rows, "sharpe", top=10)) == ["30", "10", "40", "20"]  # None last
    assert order(rank_table(rows, "sharpe", top=2)) == ["30", "10"]
    assert order(rank_table(rows, "max_drawdown")) == ["20", "40", "30", "10"]  # smaller is better
    assert order(rank_table(rows, "sharpe", ascending=True)) == ["40", "10", "30", "20"]
    assert "params.period" in render(rank_table(rows))
    with pytest.raises(UserError, match="sort_by"):
        rank_table(rows, "sharp")
