"""The research commands through the real command line: output, files, one-line errors with exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_support import REPO, SAMPLE

GRID = REPO / "config" / "sma" / "grid.yaml"


def admf(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPACA_")}
    env.update(COLUMNS="250", NO_COLOR="1", TERM="dumb", PYTHONPATH=str(REPO / "src"))
    return subprocess.run([sys.executable, str(REPO / "main.py"), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def one_error(res: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for p in parts:
        assert p in lines[0], lines[0]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SMA grid config on the first 60 sessions of the sample bars."""
    d = tmp_path_factory.mktemp("cli")
    raw = yaml.safe_load(GRID.read_text())
    raw.update(data_dir=str(SAMPLE), end="2024-03-28")
    path = d / "grid.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_signals_query_replay(small: Path, tmp_path: Path) -> None:
    res = admf("signals", small, "--store", "st", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "6 variants, 6 generated, 0 already in the store" in res.stdout
    assert "6 generated" not in admf("signals", small, "--store", "st", cwd=tmp_path).stdout
    res = admf("query", "--store", "st", "--csv", "SELECT fast, slow, signal_count FROM strategies ORDER BY 1, 2",
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = [line.split(",") for line in res.stdout.strip().splitlines()]
    assert rows[0] == ["fast", "slow", "signal_count"] and len(rows) == 7
    table = admf("query", "--store", "st", "SELECT count(*) AS n FROM signals", cwd=tmp_path)
    assert table.returncode == 0 and "┃    n ┃" in table.stdout
    res = admf("replay", small, "--store", "st", "--out", "runs", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "6 combinations" in res.stdout
    res = admf("replay", small, "--store", "st", "--out", "runs", "--sweep", "stop_loss=0.002,0.01", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    run = next((tmp_path / "runs").glob("sma_grid-replay-sweep-*"))
    results = pd.read_parquet(run / "results.parquet")
    assert len(results) == 12 and list(results.columns[:3]) == ["fast", "slow", "stop_loss"]
    assert (run / "report.html").is_file()


def test_walkforward_command(small: Path, tmp_path: Path) -> None:
    res = admf("walkforward", small, "--train", "30d", "--test", "15d", "--objective", "total_return",
               "--out", "runs", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "walk-forward, 4 windows" in res.stdout and "out of sample, stitched" in res.stdout
    run = next((tmp_path / "runs").glob("sma_grid-wf-*"))
    assert len(pd.read_csv(run / "windows.csv")) == 4
    res = admf("walkforward", small, "--split", "0.7", "--search", "random", "--trials", "2", "--seed", "5",
               "--out", "runs", "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr and res.stdout.strip().startswith("runs/")


def test_legacy_signal_generation_and_replay(small: Path, tmp_path: Path) -> None:
    res = admf("--config", small, "-sg", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "signals" / "store.json").is_file()
    res = admf("--config", small, "--signal-replay", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert list((tmp_path / "runs").glob("sma_grid-replay-*"))


@pytest.mark.parametrize(("args", "parts"), [
    (["query", "--store", "nope", "SELECT 1"], ["--store", "unknown signal store", "nope"]),
    (["query", "--store", "{store}", "SELEKT 1"], ["SQL", "query failed", "syntax error"]),
    (["replay", "{config}", "--store", "nope"], ["--store", "unknown signal store"]),
    (["replay", "{config}", "--store", "{store}", "--sweep", "stop=1"], ["--sweep", "not a replay sweep axis"]),
    (["walkforward", "{config}", "--train", "60days"], ["--train", "not a window length", "60days"]),
    (["walkforward", "{config}", "--train", "400d"], ["--train", "train window longer than the data"]),
    (["walkforward", "{config}", "--objective", "cagr"], ["--objective", "unknown objective"]),
    (["walkforward", "{config}", "--search", "random"], ["--trials", "positive number of trials"]),
    (["walkforward", "{config}", "--split", "2"], ["--split", "fraction"]),
    (["signals", "{config}", "--store", "{file}"], ["--store", "not a directory"]),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], parts: list[str], small: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from admf.cli.main import main

    monkeypatch.chdir(tmp_path)
    store = tmp_path / "st"
    assert main(["signals", str(small), "--store", str(store), "--bars", "300"]) == 0
    (tmp_path / "afile").write_text("x")
    subst = {"{config}": str(small), "{store}": str(store), "{file}": str(tmp_path / "afile")}
    capsys.readouterr()
    code = main([subst.get(a, a) for a in args])
    got = capsys.readouterr()
    one_error(subprocess.CompletedProcess(args, code, got.out, got.err), *parts)
    assert not (tmp_path / "runs").exists()


def test_sweep_random_search_writes_the_sweep_results_table(small: Path, tmp_path: Path) -> None:
    res = admf("sweep", small, "--out", "grid", "--quiet", "--workers", "1", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    full = pd.read_parquet(next((tmp_path / "grid").glob("sma_grid-*")) / "results.parquet")
    res = admf("sweep", small, "--search", "random", "--trials", "3", "--seed", "4", "--out", "rnd", "--quiet",
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    got = pd.read_parquet(next((tmp_path / "rnd").glob("sma_grid-*")) / "results.parquet")
    assert len(got) == 3 and got.columns[-1] == "label"
    want = full.set_index("label").loc[got["label"], [c for c in got.columns if c != "label"]].reset_index()
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False, rtol=1e-9)
    res = admf("sweep", small, "--search", "random", cwd=tmp_path)
    one_error(res, "--trials")
