"""Warm-up from historical bars, `admf demo live`, and Ctrl-C on a live session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runtime_support import FAST, bars_file, live_config

from admf.emulator.testing import start_emulator
from admf.runtime.backtest import load_timeline
from admf.runtime.factory import Endpoints, LiveRunner

REPO = Path(__file__).resolve().parents[2]


def test_warm_up_reads_history_over_rest_before_the_first_live_bar(tmp_path: Path) -> None:
    path = bars_file(tmp_path)
    emu = start_emulator(data=str(path), symbols=["SPY"], rate_limit=0, start=45)  # 45 bars are history
    cfg = live_config(tmp_path, {"sma_crossover": {"fast": 3, "slow": 8}}, warmup_bars=30)
    e = emu
    runner = LiveRunner(cfg, paper=True, endpoints=Endpoints(e.trading_url, e.data_url, e.stream_url,
                                                             e.data_stream_url("iex")),
                        journal_path=tmp_path / "j.sqlite", settings=FAST, warmup=True)
    try:
        session = runner.start()
        assert session.stats.bars == 0  # nothing live yet
        slot = session.build.all_slots[0]
        fast, slow = slot.strategy.f, slot.strategy.s
        assert fast.ready and slow.ready  # warm before the first live bar
        # the same indicators after the same 45 bars in a backtest (history up to the replay clock)
        bt_cfg = cfg.model_copy(update={"execution": cfg.execution.model_copy(update={"broker": "simulated",
                                                                                       "execution_mode": "sync"})})
        tl = load_timeline(bt_cfg, bars=45)
        closes = tl.close.tolist()
        assert slow.value == pytest.approx(sum(closes[-8:]) / 8, abs=1e-9)
        assert fast.value == pytest.approx(sum(closes[-3:]) / 3, abs=1e-9)
        # a signal that is already on is not chased: no order at start
        assert session.broker.orders == {}
        # live bars continue from there; the last history bar is not applied twice
        emu.step(1)
        session.run(until=lambda: session.stats.bars >= 1, duration=5)
        assert session.stats.bars == 1
        closes = load_timeline(bt_cfg, bars=46).close.tolist()
        assert slow.value == pytest.approx(sum(closes[-8:]) / 8, abs=1e-9)
    finally:
        runner.stop()
        emu.stop()


def _admf(*args: str, cwd: Path, **kw) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPACA")}
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen([sys.executable, "-m", "admf.cli.main", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_demo_live_runs_a_whole_session_with_no_keys(tmp_path: Path) -> None:
    proc = _admf("demo", "live", "--bars", "25", "--speed", "1200", "--out", str(tmp_path / "runs"), cwd=tmp_path)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    runs = list((tmp_path / "runs").glob("demo-live-*"))
    assert len(runs) == 1
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["bars"] == 25
    assert summary["exit_code"] == 0 and summary["stopped_by"] == "max-bars"
    audit = (runs[0] / "audit.log").read_text().splitlines()
    kinds = {line.split()[1] for line in audit}
    assert kinds <= {"order", "fill", "cancel", "reject", "expire"}
    assert len(audit) <= 4 * summary["fills"] + 4  # lines per order and fill, never per bar
    assert "demo-secret" not in out + err + "".join(p.read_text() for p in runs[0].iterdir() if p.suffix != ".parquet")
    assert {"metrics.json", "report.html", "equity.parquet"} <= {p.name for p in runs[0].iterdir()}  # the live report


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs SIGINT")
def test_ctrl_c_stops_a_live_session_cleanly(tmp_path: Path) -> None:
    proc = _admf("demo", "live", "--bars", "100000", "--speed", "600", "--out", str(tmp_path / "runs"),
                 cwd=tmp_path)
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline and "paper session" not in line:
        line = proc.stdout.readline()
    assert "paper session" in line
    time.sleep(2.0)  # some bars through
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err  # as shells expect of Ctrl-C, the run directory written all the same
    assert "Traceback" not in err
    summary = json.loads(next((tmp_path / "runs").glob("demo-live-*/summary.json")).read_text())
    assert summary["bars"] > 0
    assert "stopped by Ctrl-C" in out
