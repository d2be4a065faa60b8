"""Grid, random and Optuna searches give rows of the same results table; the report of a sweep."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from workflow_support import cfg

from admf.analytics.packing import packed_plotly, plotly_js, read_packed
from admf.config.loader import config_from_dict
from admf.core.errors import UserError
from admf.research.search import best_row, event_runner, grid_combos, search
from admf.research.sweep_report import write_sweep_report
from admf.runtime.backtest import backtest, load_timeline

GRID = cfg({"sma_crossover": {"fast": [5, 10, 20, 30], "slow": [20, 30]}, "constraints": "intraday"})


@pytest.fixture(scope="module")
def grid_table() -> pd.DataFrame:
    c = config_from_dict(GRID)
    return search(c, load_timeline(c, bars=3000))


def _tl():
    c = config_from_dict(GRID)
    return c, load_timeline(c, bars=3000)


def test_grid_table_has_a_row_per_valid_combination(grid_table: pd.DataFrame) -> None:
    # fast >= slow is refused by the strategy: 20/20, 30/20, 30/30 are skipped, not fatal
    assert len(grid_table) == 5
    assert list(grid_table.columns[:2]) == ["fast", "slow"] and grid_table.columns[-1] == "label"
    assert {"sharpe", "sortino", "trade_count", "final_equity"} <= set(grid_table)
    for _, row in grid_table.iterrows():
        one = cfg({"sma_crossover": {"fast": int(row["fast"]), "slow": int(row["slow"])}, "constraints": "intraday"})
        assert row["final_equity"] == backtest(one, bars=3000).metrics["final_equity"]


def test_random_search_is_a_seeded_subset(grid_table: pd.DataFrame) -> None:
    c, tl = _tl()
    a = search(c, tl, method="random", trials=3, seed=11)
    b = search(c, tl, method="random", trials=3, seed=11)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) <= 3 and set(a["label"]) <= set(grid_table["label"])
    merged = a.merge(grid_table, on="label", suffixes=("", "_grid"))
    assert (merged["final_equity"] == merged["final_equity_grid"]).all()
    everything = search(c, tl, method="random", trials=100, seed=0)
    assert sorted(everything["label"]) == sorted(grid_table["label"])


def test_optuna_search(grid_table: pd.DataFrame) -> None:
    pytest.importorskip("optuna")
    c, tl = _tl()
    t = search(c, tl, method="optuna", trials=12, seed=1, objective="total_return")
    assert 1 <= len(t) <= 5 and t["label"].is_unique and set(t["label"]) <= set(grid_table["label"])
    merged = t.merge(grid_table, on="label", suffixes=("", "_grid"))
    assert (merged["total_return"] == merged["total_return_grid"]).all()
    assert list(t.columns) == list(grid_table.columns)


def test_search_input_errors() -> None:
    c, tl = _tl()
    with pytest.raises(UserError, match="positive number of trials"):
        search(c, tl, method="random")
    with pytest.raises(UserError, match="unknown objective"):
        search(c, tl, objective="return")
    with pytest.raises(UserError, match="unknown search method"):
        search(c, tl, method="annealing", trials=3)


def test_best_row_by_objective_and_min_trades() -> None:
    t = pd.DataFrame({"fast": [1, 2, 3, 4], "sharpe": [1.0, None, 3.0, math.inf], "trade_count": [10, 50, 2, 1],
                      "label": ["a", "b", "c", "d"]})
    assert best_row(t, "sharpe")["label"] == "d"
    assert best_row(t, "sharpe", min_trades=2)["label"] == "c"
    assert best_row(t, "sharpe", min_trades=10)["label"] == "a"
    assert best_row(t, "sharpe", min_trades=100) is None


def test_varied_parameters_of_two_entries_are_named_by_book() -> None:
    c = config_from_dict(cfg({"sma_crossover": {"fast": [5, 10], "slow": 30}},
                             {"ema_crossover": {"fast": [5, 8]}, "name": "ema"}))
    combos = grid_combos(c)
    assert [list(x.params) for x in combos][0] == ["sma_crossover.fast", "ema.fast"]
    assert combos[0].label == "sma_crossover(fast=5);ema(fast=5)"


def test_sweep_report(grid_table: pd.DataFrame, tmp_path: Path) -> None:
    path = write_sweep_report(tmp_path / "report.html", grid_table, name="sma", objective="sharpe")
    page = path.read_text()
    assert page.count('class="admf-chart"') == 3  # heatmap over fast x slow, a sensitivity line for each
    figs = [json.loads(read_packed(page, f"admf-fig-{i}-json")) for i in range(3)]
    assert figs[0]["data"][0]["type"] == "heatmap"
    assert "sensitivity of sharpe to fast" in json.dumps([f["layout"] for f in figs])
    assert "Top 5 of 5 by sharpe" in page
    # plotly.js inline, once, packed as in the backtest report
    assert page.count('id="admf-plotly"') == 1 and read_packed(page, "admf-plotly") == plotly_js()[0]
    assert len(page) - len(packed_plotly()) < 200_000
    assert "<script src=" not in page  # nothing loaded from the network


def test_sweep_report_under_2mb(grid_table: pd.DataFrame, tmp_path: Path) -> None:
    assert (write_sweep_report(tmp_path / "r.html", grid_table, name="s").stat().st_size) < 2_000_000


def test_event_runner_rows_follow_the_combinations() -> None:
    c, tl = _tl()
    combos = grid_combos(c)
    t = event_runner(combos[:2], tl)
    assert list(t["label"]) == [combos[0].label, combos[1].label]


def test_every_search_works_in_walk_forward() -> None:
    from admf.research.walkforward import walkforward

    c = cfg({"sma_crossover": {"fast": [5, 10], "slow": [30, 60]}, "constraints": "intraday"})
    methods = [("random", 2)] + ([("optuna", 3)] if _has_optuna() else [])
    for method, trials in methods:
        res = walkforward(c, split=0.6, method=method, trials=trials, seed=4)
        assert 1 <= len(res.results[0]) <= trials and res.windows["label"].iloc[0] in set(res.results[0]["label"])


def _has_optuna() -> bool:
    try:
        import optuna  # noqa: F401
    except ImportError:
        return False
    return True


def test_package_level_api(tmp_path: Path) -> None:
    import admf
    from admf.runtime.backtest import BacktestResult

    c = cfg({"bollinger_bands": {}})
    stored = admf.signals(c, store=tmp_path / "st", bars=1500)
    assert stored.generated == 1
    assert isinstance(admf.replay(c, store=tmp_path / "st", bars=1500), BacktestResult)
    assert len(admf.walkforward(cfg({"bollinger_bands": {"period": [10, 20]}}), split=0.5, bars=3000).windows) == 1
