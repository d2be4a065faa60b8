"""The live dashboard of a real session: `GET /api/state`'s contract over `admf demo live --dashboard`,
and the page in a real headless chromium (equity moving, a fill row, the stop button)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import admf

REPO = Path(__file__).resolve().parents[2]


def _chromium_page() -> Any:
    """The report tests' browser helper (one implementation), loaded from its file."""
    spec = importlib.util.spec_from_file_location("_report_charts", REPO / "tests/analytics/test_report_charts.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.chromium_page()


def _json(url: str, body: object | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status, json.loads(r.read())


def test_api_state_contract_and_stop_over_the_cli(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA", "APCA"))}
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "admf.cli.main", "demo", "live", "--bars", "100000", "--speed",
                             "2400", "--dashboard", "0", "--out", str(tmp_path / "runs")], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not url:
            line = proc.stdout.readline() if proc.stdout else ""
            if line.startswith("dashboard: "):
                url = line.split(" ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:") and "token" not in url  # loopback: no token
        base = url.rstrip("/")
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            _, state = _json(base + "/api/state")
            if state.get("fills"):
                break
            time.sleep(0.2)
        assert {"equity", "cash", "positions", "orders", "fills", "connections", "kill_switch", "ts"} <= set(state)
        assert isinstance(state["equity"], float) and isinstance(state["positions"], dict)
        f = state["fills"][-1]
        assert set(f) >= {"ts", "symbol", "side", "qty", "price"} and f["symbol"] == "SPY"
        assert all(set(o) >= {"client_order_id", "side", "qty", "type", "status"} for o in state["orders"])
        assert state["connections"] and all(isinstance(v, str) for v in state["connections"].values())
        status, body = _json(base + "/api/stop", {"confirm": True})
        assert status == 202 and body == {"stopping": True}
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopped from the dashboard" in out
    summary = json.loads(next((tmp_path / "runs").glob("demo-live-*/summary.json")).read_text())
    assert summary["stopped_by"] == "dashboard" and summary["fills"] >= 1


def test_dashboard_page_in_a_real_browser_sees_equity_and_a_fill_and_stops_the_session(tmp_path: Path) -> None:
    with _chromium_page() as page:
        h = admf.demo(speed=2400, out=tmp_path / "runs", dashboard=0)
        try:
            assert h.dashboard is not None
            page.goto(h.dashboard.url)
            page.wait_for_function("document.getElementById('equity').textContent !== '-'", timeout=30_000)
            first = page.text_content("#equity")
            page.wait_for_selector("#fills tbody tr", timeout=60_000)
            page.wait_for_function(f"document.getElementById('equity').textContent !== {json.dumps(first)}",
                                   timeout=60_000)
            assert "SPY" in (page.text_content("#fills tbody tr") or "")
            page.click("#stop")
            page.click("#confirm")
            page.wait_for_selector("#stopped", timeout=10_000)
            assert h.wait(timeout=30) and not h.running
        finally:
            h.stop()
        assert h.stopped_by == "dashboard"
        assert h.run_dir is not None and (h.run_dir / "summary.json").is_file()
        assert json.loads((h.run_dir / "summary.json").read_text())["stopped_by"] == "dashboard"
