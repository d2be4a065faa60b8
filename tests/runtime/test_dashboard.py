"""The dashboard server over real loopback HTTP: state, pushed updates, token, stop."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from admf.core.errors import UserError
from admf.runtime.dashboard import Dashboard, is_loopback


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _post(url: str, body: object) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture
def dash():
    d = Dashboard("127.0.0.1", 0)
    d.start()
    yield d
    d.stop()


def base(d: Dashboard) -> str:
    return f"http://127.0.0.1:{d.port}"


def test_state_page_and_equity_history(dash: Dashboard) -> None:
    assert dash.token is None and dash.port > 0
    status, body = _get(base(dash) + "/")
    assert status == 200 and b"Cancel all and stop" in body
    dash.publish({"ts": 1, "equity": 100.0, "cash": 100.0, "positions": {}, "orders": [], "fills": [],
                  "connections": {"trade_stream": "connected"}})
    dash.publish({"ts": 2, "equity": 101.5, "cash": 50.0, "positions": {"SPY": 10.0}, "orders": [], "fills": [],
                  "connections": {}})
    status, body = _get(base(dash) + "/api/state")
    state = json.loads(body)
    assert status == 200 and state["equity"] == 101.5 and state["positions"] == {"SPY": 10.0}
    _, body = _get(base(dash) + "/api/equity")
    assert json.loads(body) == {"ts": [1, 2], "equity": [100.0, 101.5]}


def test_updates_are_pushed_over_server_sent_events(dash: Dashboard) -> None:
    dash.publish({"ts": 1, "equity": 1.0})
    got: list[dict] = []
    opened = threading.Event()

    def listen() -> None:
        with urllib.request.urlopen(base(dash) + "/api/events", timeout=10) as r:
            opened.set()
            for raw in r:
                line = raw.decode().strip()
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                    if len(got) == 3:
                        return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert opened.wait(5)
    for _ in range(50):  # the listener's queue may register a moment after the headers arrive
        if dash._clients:
            break
        threading.Event().wait(0.02)
    dash.publish({"ts": 2, "equity": 2.0})
    dash.publish({"ts": 3, "equity": 3.0})
    t.join(5)
    assert [s["equity"] for s in got] == [1.0, 2.0, 3.0]


def test_stop_needs_confirmation(dash: Dashboard) -> None:
    called = []
    dash.on_stop = lambda: called.append(1)
    status, _ = _post(base(dash) + "/api/stop", {})
    assert status == 400 and not dash.stop_requested.is_set()
    status, _ = _post(base(dash) + "/api/stop", {"confirm": True})
    assert status == 202 and dash.stop_requested.is_set() and called == [1]


def test_token_required_when_set() -> None:
    d = Dashboard("127.0.0.1", 0, token="s3cret-token")
    d.start()
    try:
        assert _get(base(d) + "/api/state")[0] == 401
        assert _get(base(d) + "/api/state?token=wrong")[0] == 401
        assert _get(base(d) + "/api/state?token=s3cret-token")[0] == 200
        assert _get(base(d) + "/api/state", {"Authorization": "Bearer s3cret-token"})[0] == 200
        assert _post(base(d) + "/api/stop", {"confirm": True})[0] == 401 and not d.stop_requested.is_set()
        assert "s3cret-token" not in repr(d)
    finally:
        d.stop()


def test_non_loopback_bind_gets_a_token_and_loopback_does_not() -> None:
    assert Dashboard("0.0.0.0").token and Dashboard("192.0.2.1").token
    assert Dashboard("127.0.0.1").token is None and Dashboard("localhost").token is None
    assert is_loopback("::1") and not is_loopback("10.1.2.3")


def test_port_in_use_is_one_clear_error(dash: Dashboard) -> None:
    other = Dashboard("127.0.0.1", dash.port)
    with pytest.raises(UserError, match="cannot serve the dashboard on 127.0.0.1"):
        other.start()
