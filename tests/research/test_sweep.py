"""Sweeps: invalid combinations skipped, workers agree, resume after SIGKILL, flat memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from research_support import REPO, SAMPLE

import admf
from admf.research.sweep import sweep

SMA_GRID = {"name": "sg", "data": "SPY_5m", "data_dir": str(SAMPLE),
            "strategy": [{"sma_crossover": {"fast": [10, 20, 30], "slow": [20, 30]}, "constraints": "intraday"}],
            "execution": {"commission": {"type": "per_share", "rate": 0.005, "min": 1.0}}}


def _comparable(t: pd.DataFrame) -> pd.DataFrame:
    return t.sort_values("combination").reset_index(drop=True)


def test_invalid_combinations_are_skipped_counted_and_listed(tmp_path: Path) -> None:
    r = sweep(SMA_GRID, workers=1, out=tmp_path, bars=2000)
    assert r.table[["fast", "slow"]].values.tolist() == [[10, 20], [10, 30], [20, 30]]
    assert [lb for lb, _ in r.skipped] == ["fast=20,slow=20", "fast=30,slow=20", "fast=30,slow=30"]
    assert all("fast must be shorter than slow" in why for _, why in r.skipped)
    summary = json.loads((r.run_dir / "summary.json").read_text())
    assert summary["combinations"] == 6 and summary["valid"] == 3 and summary["skipped"] == 3
    # each row is the event engine's result for that combination
    one = {**SMA_GRID, "strategy": [{"sma_crossover": {"fast": 10, "slow": 30}, "constraints": "intraday"}]}
    single = admf.backtest(one, bars=2000, engine="event")
    row = r.table.set_index("label").loc["fast=10,slow=30"]
    assert row["final_equity"] == single.metrics["final_equity"]
    assert row["trade_count"] == len(single.trades)
    assert row["sharpe"] == pytest.approx(single.metrics["sharpe"], rel=1e-9)


def test_validate_counts_the_valid_combinations(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(SMA_GRID))
    res = subprocess.run([sys.executable, "-m", "admf.cli.main", "validate", str(path)], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")}, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "6 combinations, 3 valid, 3 skipped" in res.stdout


def test_workers_one_and_two_give_the_same_table(tmp_path: Path) -> None:
    grid = {**SMA_GRID, "strategy": [{"bollinger_bands": {"period": [10, 20, 30], "std_dev": [1.0, 1.5, 2.0, 2.5]},
                                      "risk": {"stop_loss": 0.003}}]}
    a = sweep(grid, workers=1, out=tmp_path / "a", bars=3000, top=2)
    b = sweep(grid, workers=2, out=tmp_path / "b", bars=3000, top=2)
    assert len(a.table) == 12
    pd.testing.assert_frame_equal(_comparable(a.table), _comparable(b.table))
    assert list(a.top) == list(b.top)
    assert (a.run_dir / "top" / "001" / "trades.csv").is_file()


def test_resume_after_sigkill_computes_only_the_missing_rows(tmp_path: Path) -> None:
    grid = {**SMA_GRID, "strategy": [{"bollinger_bands": {"period": "range(5, 124, 1)",
                                                          "std_dev": "range(0.5, 3.0, 0.25)"}}]}
    cfg = tmp_path / "big.yaml"
    cfg.write_text(yaml.safe_dump(grid))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "admf.cli.main", "sweep", str(cfg), "--workers", "1", "--bars", "400",
           "--out", str(tmp_path / "runs"), "--top", "1", "--no-report", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((tmp_path / "runs").glob(".*.partial/results.parquet/part-*")):
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    (partial,) = (tmp_path / "runs").glob(".*.partial")
    before = len(pd.read_parquet(partial / "results.parquet"))
    total = 120 * 11  # range is inclusive of its end
    assert 0 < before < total
    res = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    run = Path(res.stdout.strip())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["computed"] == total - before and summary["valid"] == total
    resumed = pd.read_parquet(run / "results.parquet")
    whole = sweep(grid, workers=1, out=tmp_path / "whole", bars=400, top=1).table
    pd.testing.assert_frame_equal(_comparable(resumed), _comparable(whole))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_memory_stays_flat_over_twenty_thousand_combinations(tmp_path: Path) -> None:
    grid = {**SMA_GRID, "strategy": [{"bollinger_bands": {"period": "range(2, 201, 1)",
                                                          "std_dev": "range(0.1, 10.0, 0.1)"}}]}
    seen: list[tuple[int, float]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, _rss_mb()))

    r = sweep(grid, workers=2, out=tmp_path, bars=120, top=1, progress=progress)
    assert len(r.table) == 200 * 100
    early = next(mb for done, mb in seen if done >= 4_000)
    late = seen[-1][1]
    assert late - early < 60, (early, late)  # rows are on disk, not in memory


def test_more_than_100000_combinations_need_yes(tmp_path: Path) -> None:
    from admf.core.errors import UserError

    grid = {**SMA_GRID, "strategy": [{"bollinger_bands": {"period": "range(2, 1011, 1)",
                                                          "std_dev": "range(0.1, 10.0, 0.1)"}}]}
    with pytest.raises(UserError) as e:
        sweep(grid, yes=False, out=tmp_path, bars=100)
    assert "101,000 combinations" in str(e.value) and "--yes" in str(e.value)
    assert not list(tmp_path.iterdir())  # nothing written
