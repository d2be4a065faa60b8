"""Mistakes a user makes, through the real CLI: one clear line, exit 2, no traceback, nothing written."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from admf.config.loader import load_config
from admf.runtime import rundir
from admf.runtime.backtest import run_variant

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"

USER_STRATEGIES = '''
from admf.strategies.base import Strategy
from admf.strategies.registry import register


def helper(values):
    return values[5]


@register("boom")
class Boom(Strategy):
    def on_bar(self, ts, o, h, l, c, v):
        if c > 470.5:
            return helper([1, 2])
        return 0


@register("bad_setup")
class BadSetup(Strategy):
    def setup(self, hub):
        self.x = hub.nothing_here


@register("says_buy")
class SaysBuy(Strategy):
    def on_bar(self, ts, o, h, l, c, v):
        return "buy" if c > 470.5 else 0
'''


def write(tmp_path: Path, body: str, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body).lstrip("\n"))
    return p


def one_line_error(res: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def nothing_written(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


@pytest.mark.parametrize("command", ["backtest", "validate"])
def test_impossible_yaml_date(cli, tmp_path, command) -> None:
    cfg = write(tmp_path, f"""
        name: d
        data: SPY_5m
        data_dir: {DATA}
        start: 2024-13-45
        strategy:
          - bollinger_bands: {{}}
        """)
    extra = ["--out", tmp_path / "runs"] if command == "backtest" else []
    one_line_error(cli(command, cfg, *extra), "c.yaml: start", "'2024-13-45'", "YYYY-MM-DD")
    nothing_written(tmp_path / "runs")


def test_duplicate_yaml_key_names_both_lines(cli, tmp_path) -> None:
    cfg = write(tmp_path, f"""
        name: d
        data: SPY_5m
        data_dir: {DATA}
        strategy:
          - bollinger_bands: {{period: 20, period: 30}}
        """)
    line = one_line_error(cli("validate", cfg), "c.yaml", "duplicate key")
    assert "'period'" in line and "lines 5 and 5" in line  # both on one flow line
    cfg2 = write(tmp_path, f"name: a\ndata: SPY_5m\ndata_dir: {DATA}\nstrategy: [bollinger_bands]\nname: b\n",
                 "d.yaml")
    one_line_error(cli("backtest", cfg2, "--out", tmp_path / "runs"), "d.yaml", "duplicate key 'name'",
                   "lines 1 and 5")
    nothing_written(tmp_path / "runs")


@pytest.fixture
def bollinger(tmp_path) -> Path:
    return write(tmp_path, f"""
        name: b
        data: SPY_5m
        data_dir: {DATA}
        end: 2024-01-20
        strategy:
          - bollinger_bands: {{}}
        """)


def test_out_is_checked_before_running(cli, tmp_path, bollinger) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    one_line_error(cli("backtest", bollinger, "--out", a_file), "--out", "is a file")
    one_line_error(cli("backtest", bollinger, "--out", a_file / "sub"), "--out", "is a file")
    one_line_error(cli("backtest", bollinger, "--out", "/proc/admf-runs"), "--out", "cannot write")
    assert a_file.read_text() == "keep me"


@pytest.mark.parametrize("args", [
    ["backtest", "CFG", "--bars", "-5"], ["backtest", "CFG", "--bars", "0"], ["--config", "CFG", "--bars", "-1"],
    ["live", "CFG", "--max-bars", "-1"], ["live", "CFG", "--duration", "-3"],
    ["demo", "live", "--bars", "-1"], ["demo", "live", "--speed", "0"],
])
def test_negative_counts_are_refused(cli, tmp_path, bollinger, args) -> None:
    args = [bollinger if a == "CFG" else a for a in args]
    flag = next(a for a in args if isinstance(a, str) and a.startswith("--") and a != "--config")
    one_line_error(cli(*args, env={"ALPACA_API_KEY": "k", "ALPACA_API_SECRET": "s"}), flag, "must be positive")
    nothing_written(tmp_path / "runs")


@pytest.fixture
def strategies(tmp_path) -> Path:
    (tmp_path / "mine.py").write_text(USER_STRATEGIES)
    return tmp_path


def test_strategy_returning_a_word(cli, strategies) -> None:
    cfg = write(strategies, f"name: s\ndata: SPY_5m\ndata_dir: {DATA}\nstrategy_files: [mine.py]\n"
                            "strategy: [says_buy]\n")
    one_line_error(cli("backtest", cfg, "--out", strategies / "runs"), "strategy 'says_buy' returned 'buy'",
                   "at bar 0 (2024-01-02T14:30:00Z, SPY)", "-1 (short), 0 (flat) or 1 (long)")
    nothing_written(strategies / "runs")


def test_strategy_raising_shows_its_own_lines_only(cli, strategies) -> None:
    cfg = write(strategies, f"name: s\ndata: SPY_5m\ndata_dir: {DATA}\nstrategy_files: [mine.py]\n"
                            "strategy:\n  - boom: {}\n    name: my_book\n")
    res = cli("backtest", cfg, "--out", strategies / "runs")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    head, *frames = res.stderr.strip().splitlines()
    assert head == ("error: strategy 'boom' (book my_book) raised IndexError: list index out of range "
                    "at bar 0 (2024-01-02T14:30:00Z, SPY)")
    mine = str(strategies / "mine.py")
    assert frames == [f'  File "{mine}", line 14, in on_bar', "    return helper([1, 2])",
                      f'  File "{mine}", line 7, in helper', "    return values[5]"]
    nothing_written(strategies / "runs")


def test_strategy_failing_in_setup(cli, strategies) -> None:
    cfg = write(strategies, f"name: s\ndata: SPY_5m\ndata_dir: {DATA}\nstrategy_files: [mine.py]\n"
                            "strategy: [bad_setup]\n")
    res = cli("backtest", cfg, "--out", strategies / "runs")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    head, *frames = res.stderr.strip().splitlines()
    assert head.startswith("error: strategy 'bad_setup' failed to set up for SPY: AttributeError")
    assert frames == [f'  File "{strategies / "mine.py"}", line 21, in setup', "    self.x = hub.nothing_here"]


def test_own_csv_with_any_name_and_paths_beside_the_config(cli, tmp_path) -> None:
    sub = tmp_path / "cfg" / "bars"
    sub.mkdir(parents=True)
    pd.read_csv(DATA / "SPY_5m.csv").head(1500).to_csv(sub / "my export.csv", index=False)
    (tmp_path / "cfg" / "a.yaml").write_text(
        "name: own\ndata: bars/my export.csv\nstrategy:\n  - bollinger_bands: {}\n    constraints: intraday\n")
    (tmp_path / "cfg" / "b.yaml").write_text(
        "name: own2\ndata: {file: bars/my export.csv, symbol: SPY}\nstrategy:\n"
        "  - bollinger_bands: {}\n    constraints: intraday\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = cli("backtest", tmp_path / "cfg" / "a.yaml", "--out", tmp_path / "runs", cwd=elsewhere)
    assert res.returncode == 0, res.stderr
    assert "own: 1,500 bars, my export" in res.stdout
    res = cli("backtest", tmp_path / "cfg" / "b.yaml", "--out", tmp_path / "runs", "--symbols", "SPY",
              cwd=elsewhere)
    assert res.returncode == 0, res.stderr
    assert "own2: 1,500 bars, SPY" in res.stdout
    trades = pd.read_csv(next((tmp_path / "runs").glob("own2-*")) / "trades.csv")
    assert set(trades["symbol"]) == {"SPY"} and len(trades) > 0
    assert set(trades["exit_reason"]) >= {"session_close"}  # intraday worked: timeframe inferred as 5m


def test_a_working_directory_path_still_works(cli, tmp_path) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "c.yaml").write_text(f"name: cwd\ndata: SPY_5m\ndata_dir: {DATA.relative_to(REPO)}\n"
                                             "end: 2024-01-10\nstrategy: [bollinger_bands]\n")
    res = cli("validate", tmp_path / "cfg" / "c.yaml", cwd=REPO)
    assert res.returncode == 0, res.stderr


def test_run_directories_are_unique_and_names_sanitized(tmp_path, monkeypatch) -> None:
    cfg = load_config(REPO / "config" / "bollinger" / "test.yaml", env={})
    cfg = cfg.model_copy(update={"name": "../../escape"})
    from admf.runtime.backtest import load_timeline

    r = run_variant(cfg, load_timeline(cfg, bars=300))
    monkeypatch.setattr(rundir.time, "strftime", lambda fmt: "20240101-000000")  # all in the same second
    out = tmp_path / "a" / "runs"
    dirs = [rundir.write_run([r], cfg, out, report=False) for _ in range(3)]
    assert [d.name for d in dirs] == ["escape-20240101-000000", "escape-20240101-000000-2",
                                      "escape-20240101-000000-3"]
    assert sorted(p.name for p in out.iterdir()) == sorted(d.name for d in dirs)  # no .partial left
    assert not (tmp_path / "escape-20240101-000000").exists()


def test_runs_started_together_in_several_processes(tmp_path, bollinger, cli_environ) -> None:
    cmd = [sys.executable, str(REPO / "main.py"), "--config", str(bollinger), "--out", str(tmp_path / "runs"),
           "--quiet", "--no-report"]
    procs = [subprocess.Popen(cmd, env=cli_environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    printed = {o.strip() for o, _ in outs}
    assert len(printed) == 3 and {Path(p).name for p in printed} == {p.name for p in (tmp_path / "runs").iterdir()}


def test_version_and_python_dash_m(cli) -> None:
    from admf import __version__

    for res in (cli("--version"), cli("--version", program=[sys.executable, "-m", "admf"])):
        assert res.returncode == 0 and res.stdout.strip() == f"admf {__version__}"
    res = cli("strategies", program=[sys.executable, "-m", "admf"])
    assert res.returncode == 0 and "bollinger_bands" in res.stdout


def test_main_py_takes_every_backtest_flag(cli, tmp_path) -> None:
    out = tmp_path / "runs"
    res = cli("--config", REPO / "config" / "bollinger" / "test.yaml", "--start", "2024-02-01", "--end",
              "2024-02-29", "--symbols", "SPY", "--out", out, "--no-report", "--quiet")
    assert res.returncode == 0, res.stderr
    run = Path(res.stdout.strip())
    assert run.parent == out and not (run / "report.html").exists()
    trades = pd.read_csv(run / "trades.csv", parse_dates=["entry_time"])
    assert trades["entry_time"].min() >= pd.Timestamp("2024-02-01", tz="UTC")
    assert trades["entry_time"].max() < pd.Timestamp("2024-03-01", tz="UTC")
    # with a command, the legacy spelling is refused, not dropped
    one_line_error(cli("--out", out, "backtest", REPO / "config" / "bollinger" / "test.yaml"), "--out")


def test_main_py_knows_every_option_of_admf_backtest() -> None:
    import argparse

    from admf.cli.main import build_parser

    top = build_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction)).choices["backtest"]
    backtest_flags = {o for a in sub._actions for o in a.option_strings if o.startswith("--") and o != "--help"}
    legacy_flags = {o for a in top._actions for o in a.option_strings}
    assert backtest_flags and backtest_flags <= legacy_flags, backtest_flags - legacy_flags


def test_every_csv_has_iso_times(cli, tmp_path) -> None:
    res = cli("backtest", REPO / "config" / "bollinger" / "test.yaml", "--bars", "3000", "--out", tmp_path,
              "--quiet", "--no-report")
    run = Path(res.stdout.strip())
    for name, col in (("signals.csv", "time"), ("trades.csv", "entry_time"), ("fills.csv", "time"),
                      ("orders.csv", "time")):
        df = pd.read_csv(run / name)
        assert str(df[col].iloc[0]).startswith("2024-01-02 ") and str(df[col].iloc[0]).endswith("+00:00"), name
    assert "ts" not in pd.read_csv(run / "signals.csv").columns


def test_ctrl_c_in_a_backtest_exits_130_and_writes_nothing(tmp_path, cli_environ) -> None:
    cfg = write(tmp_path, f"""
        name: long
        data: SPY_5m
        data_dir: {DATA}
        strategy:
          - bollinger_bands: {{period: "range(5, 2000, 1)"}}
        """)
    out = tmp_path / "runs"
    p = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--config", str(cfg), "--out", str(out)],
                         env=cli_environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)
    assert p.poll() is None, "the run ended before it could be interrupted"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and err.strip() == "interrupted"
    # a grid runs as a sweep: nothing is published, only its hidden .partial folder is kept for --resume
    left = list(out.iterdir()) if out.exists() else []
    assert all(p.name.startswith(".") and p.name.endswith(".partial") for p in left), left
