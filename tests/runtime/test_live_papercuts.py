"""`admf demo live` / `admf live` as people expect: temp folder removed, honest wording, whole lines
off a terminal, negative counts refused, a token printed once off loopback, a live report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA", "APCA"))}
    env["TMPDIR"] = str(tmp_path / "tmp")  # the demo's temp folder lands here, where we can look
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "admf.cli.main", "demo", "live", "--speed", "2400",
                           "--out", str(tmp_path / "runs"), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=90)


def test_demo_removes_its_temp_folder_says_what_it_replays_and_prints_whole_lines(tmp_path: Path) -> None:
    p = _demo(tmp_path, "--bars", "8")
    assert p.returncode == 0, p.stderr
    assert list((tmp_path / "tmp").glob("admf-demo-*")) == []  # the journal's folder is gone
    assert "replaying a synthetic walk" in p.stdout and "replaying SPY minutes" not in p.stdout
    assert "\r" not in p.stdout  # not a terminal: no carriage-return redraws
    lines = p.stdout.splitlines()
    status = [i for i, line in enumerate(lines) if line.startswith("eq ")]
    summary = [i for i, line in enumerate(lines) if line.startswith("equity ") and "run directory:" in line]
    assert status and summary and status[-1] < summary[0]  # the last status, then the summary on its own line
    assert " n 8 " in lines[status[-1]]
    run = next((tmp_path / "runs").glob("demo-live-*"))
    metrics = json.loads((run / "metrics.json").read_text())
    summary_json = json.loads((run / "summary.json").read_text())
    assert metrics["final_equity"] == pytest.approx(summary_json["equity"])
    assert metrics["initial_capital"] == pytest.approx(100_000.0)
    html = (run / "report.html").read_text()
    assert 'id="admf-equity"' in html and 'id="admf-metrics"' in html


@pytest.mark.parametrize(("flag", "value"), [("--bars", "-1"), ("--speed", "-2"), ("--dashboard", "70000")])
def test_demo_refuses_bad_counts_with_one_line(tmp_path: Path, flag: str, value: str) -> None:
    p = _demo(tmp_path, flag, value)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Traceback" not in p.stderr and flag in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # nothing written


def test_dashboard_off_loopback_prints_its_token_once_and_never_writes_it(tmp_path: Path) -> None:
    p = _demo(tmp_path, "--bars", "2", "--dashboard", "0", "--dashboard-host", "0.0.0.0")
    assert p.returncode == 0, p.stderr
    urls = [line for line in p.stdout.splitlines() if line.startswith("dashboard: ")]
    assert len(urls) == 1 and "/?token=" in urls[0]
    token = urls[0].split("token=", 1)[1].strip()
    assert len(token) >= 16
    assert token not in p.stderr and p.stdout.count(token) == 1
    run = next((tmp_path / "runs").glob("demo-live-*"))
    assert all(token not in f.read_text(errors="replace") for f in run.iterdir())
