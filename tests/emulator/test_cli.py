"""`python -m admf.emulator` / `admf emulator`: options, foreground run, Ctrl-C, bad input."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from admf.emulator.cli import add_arguments, config_from_args
from admf.emulator.config import EmulatorConfig

SRC = Path(__file__).resolve().parents[2] / "src"


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def test_options_map_to_config() -> None:
    cfg = config_from_args(_parse("--step", "--symbols", "spy,qqq", "--rate-limit", "0", "--port", "0",
                                  "--fault", "drop_sockets:target=data,every=30", "--fault", "silence"))
    assert cfg.speed == 0 and cfg.symbols == ("SPY", "QQQ") and cfg.rate_limit == 0
    assert cfg.faults == {"drop_sockets": {"target": "data", "every": 30}, "silence": {}}
    assert config_from_args(_parse("--speed", "60")).speed == 60.0
    assert config_from_args(_parse()).speed == 1.0
    assert config_from_args(_parse("--start", "2024-01-02T10:00")).start == "2024-01-02T10:00"


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("ALPACA_API_KEY", "ALPACA_API_SECRET"):
        env.pop(k, None)
    return env


def test_foreground_run_and_ctrl_c() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "admf.emulator", "--port", "0", "--step", "--synthetic-days", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        line = proc.stdout.readline()
        base = line.split()[3]
        assert base.startswith("http://127.0.0.1:")
        d = EmulatorConfig()
        h = {"APCA-API-KEY-ID": d.api_key, "APCA-API-SECRET-KEY": d.secret_key}
        assert requests.get(base + "/v2/clock", headers=h, timeout=5).json()["is_open"] is True
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "emulator stopped" in out and "Traceback" not in err


def test_bad_input_exits_2_with_one_line() -> None:
    res = subprocess.run([sys.executable, "-m", "admf.emulator", "--data", "/nonexistent/bars.csv", "--port", "0"],
                         capture_output=True, text=True, env=_env(), timeout=30)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["error: data: bar file not found (got '/nonexistent/bars.csv')"]
    res = subprocess.run([sys.executable, "-m", "admf.emulator", "--fault", "meteor", "--port", "0"],
                         capture_output=True, text=True, env=_env(), timeout=30)
    assert res.returncode == 2 and "unknown fault 'meteor'" in res.stderr


def test_configured_keys_are_not_printed() -> None:
    env = _env()
    env["ALPACA_API_KEY"], env["ALPACA_API_SECRET"] = "PKREALLOOKING", "SECRETVALUE123"
    proc = subprocess.Popen([sys.executable, "-m", "admf.emulator", "--port", "0", "--step", "--synthetic-days", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        head = "".join(proc.stdout.readline() for _ in range(4))
        base = head.split()[3]
        h = {"APCA-API-KEY-ID": "PKREALLOOKING", "APCA-API-SECRET-KEY": "SECRETVALUE123"}
        assert requests.get(base + "/v2/account", headers=h, timeout=5).status_code == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "SECRETVALUE123" not in head + out + err and "PKREALLOOKING" not in head + out + err
