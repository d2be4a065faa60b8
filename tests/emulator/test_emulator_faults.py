"""Every fault switch, observed from the client side."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import requests
from alpaca.trading.stream import TradingStream

from admf.emulator.testing import TEST_KEY, TEST_SECRET

AUTH_TRADE = {"action": "authenticate", "data": {"key_id": TEST_KEY, "secret_key": TEST_SECRET}}
LISTEN = {"action": "listen", "data": {"streams": ["trade_updates"]}}
DATA_AUTH = {"action": "auth", "key": TEST_KEY, "secret": TEST_SECRET}


async def trade_ws(http: aiohttp.ClientSession, emu) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(emu.stream_url)
    await ws.send_str(json.dumps(AUTH_TRADE))
    await ws.receive()
    await ws.send_str(json.dumps(LISTEN))
    await ws.receive()
    return ws


async def data_ws(http: aiohttp.ClientSession, emu, bars=("SPY",), **kw) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(emu.data_stream_url("iex"), **kw)
    await ws.receive()
    await ws.send_str(json.dumps(DATA_AUTH))
    assert json.loads((await ws.receive()).data)[0]["msg"] == "authenticated"
    await ws.send_str(json.dumps({"action": "subscribe", "bars": list(bars)}))
    await ws.receive()
    return ws


async def events(ws: aiohttp.ClientWebSocketResponse, quiet: float = 0.3) -> list[dict]:
    """Trade updates until the socket has been quiet for `quiet` seconds."""
    out = []
    while True:
        try:
            msg = await asyncio.wait_for(ws.receive(), quiet)
        except TimeoutError:
            return out
        out.append(json.loads(msg.data)["data"])


async def test_drop_sockets_without_close_frame(emulator) -> None:
    async with aiohttp.ClientSession() as http:
        tw = await trade_ws(http, emulator)
        dw = await data_ws(http, emulator)
        dropped = await asyncio.to_thread(emulator.set_fault, "drop_sockets", target="all")
        assert dropped["dropped"] == 2
        for ws in (tw, dw):
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type == aiohttp.WSMsgType.CLOSED and ws.close_code == 1006  # no close frame


async def test_drop_sockets_periodically_and_alpaca_reconnects(emulator, rest) -> None:
    got: list = []

    async def on_update(u) -> None:
        got.append(u)

    ts = TradingStream(emulator.api_key, emulator.secret_key, url_override=emulator.stream_url)
    ts.subscribe_trade_updates(on_update)
    task = asyncio.create_task(ts._run_forever())

    def listening() -> bool:
        return emulator.call(lambda s: any(c.listening for c in s.trade_hub.conns))

    try:
        for _ in range(300):
            if listening():
                break
            await asyncio.sleep(0.01)
        await asyncio.to_thread(emulator.set_fault, "drop_sockets", target="trade", every=0.15)
        await asyncio.sleep(0.2)
        await asyncio.to_thread(emulator.clear_faults)
        # alpaca-py backs off (~0.5-1 s) and reconnects, re-authenticates and listens again.
        for _ in range(500):
            if listening():
                break
            await asyncio.sleep(0.01)
        await asyncio.to_thread(rest(emulator).order, qty=1, client_order_id="after-drop")
        for _ in range(300):
            if any(u.event == "fill" for u in got):
                break
            await asyncio.sleep(0.01)
    finally:
        await ts.stop_ws()
        await ts.close()  # else the cancelled websockets client waits out its 10 s close timeout
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [u.event for u in got] == ["new", "fill"] and got[0].order.client_order_id == "after-drop"


async def test_silence_keeps_socket_and_pings_alive(emulator) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await data_ws(http, emulator, autoping=False)
        await asyncio.to_thread(emulator.set_fault, "silence", target="data")
        await asyncio.to_thread(emulator.step, 2)
        await ws.ping(b"hi")
        pong = await asyncio.wait_for(ws.receive(), 5)
        assert pong.type == aiohttp.WSMsgType.PONG and pong.data == b"hi"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.receive(), 0.3)
        await asyncio.to_thread(emulator.clear_faults, "silence")
        await asyncio.to_thread(emulator.step, 1)
        [bar] = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert bar["T"] == "b" and bar["c"] == emulator.price("SPY")


async def test_silence_expires_after_seconds(emulator) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await data_ws(http, emulator)
        await asyncio.to_thread(emulator.set_fault, "silence", seconds=0.2)
        await asyncio.to_thread(emulator.step)
        await asyncio.sleep(0.3)
        await asyncio.to_thread(emulator.step)
        [bar] = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert bar["c"] == emulator.price("SPY")  # only the bar after the silence


async def test_refuse_reconnects(emulator) -> None:
    await asyncio.to_thread(emulator.set_fault, "refuse_reconnects", seconds=0.4)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await http.ws_connect(emulator.stream_url)
        assert e.value.status == 429
        ws = await http.ws_connect(emulator.data_stream_url("iex"))
        await ws.receive()
        await ws.send_str(json.dumps(DATA_AUTH))
        refused = json.loads((await ws.receive()).data)
        assert refused == [{"T": "error", "code": 406, "msg": "connection limit exceeded"}]
        await asyncio.sleep(0.45)
        ok = await data_ws(http, emulator)
        await ok.close()
        tw = await trade_ws(http, emulator)
        await tw.close()
        await asyncio.to_thread(emulator.set_fault, "refuse_reconnects", seconds=5, target="data", data_code=429)
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await http.ws_connect(emulator.data_stream_url("iex"))
        assert e.value.status == 429


async def test_delay_drop_duplicate_updates(emulator, rest) -> None:
    r = rest(emulator)
    async with aiohttp.ClientSession() as http:
        ws = await trade_ws(http, emulator)
        await asyncio.to_thread(emulator.set_fault, "delay_updates", seconds=0.25)
        t0 = time.monotonic()
        await asyncio.to_thread(r.order, qty=1, client_order_id="d1")
        first = await asyncio.wait_for(ws.receive(), 5)
        assert time.monotonic() - t0 >= 0.24 and json.loads(first.data)["data"]["event"] == "new"
        assert [e["event"] for e in await events(ws)] == ["fill"]
        await asyncio.to_thread(emulator.clear_faults, "delay_updates")

        await asyncio.to_thread(emulator.set_fault, "drop_updates", count=1, events=["fill"])
        await asyncio.to_thread(r.order, qty=1, client_order_id="d2")
        await asyncio.to_thread(r.order, qty=1, client_order_id="d3")
        seen = [(e["event"], e["order"]["client_order_id"]) for e in await events(ws)]
        assert seen == [("new", "d2"), ("new", "d3"), ("fill", "d3")]
        assert r("GET", "/v2/orders:by_client_order_id", params={"client_order_id": "d2"}).json()["status"] == "filled"

        await asyncio.to_thread(emulator.set_fault, "duplicate_updates", count=1, events=["fill"])
        await asyncio.to_thread(r.order, qty=1, client_order_id="d4")
        seen = await events(ws)
        assert [e["event"] for e in seen] == ["new", "fill", "fill"]
        assert seen[1] == seen[2]  # same execution_id: a client must apply it once


def test_order_errors_after_the_order_was_accepted(emulator, rest) -> None:
    r = rest(emulator)
    emulator.set_fault("order_errors", count=1, status=500)
    resp = r.order(qty=2, client_order_id="e1")
    assert resp.status_code == 500 and resp.json() == {"code": 50010000, "message": "internal server error"}
    order = r("GET", "/v2/orders:by_client_order_id", params={"client_order_id": "e1"}).json()
    assert order["status"] == "filled" and order["filled_qty"] == "2"
    assert r.order(qty=1, client_order_id="e2").status_code == 200  # count used up

    emulator.set_fault("order_errors", mode="timeout", timeout=2.0, actions=["submit"])
    with pytest.raises(requests.Timeout):
        r.order(qty=1, client_order_id="e3", timeout=0.3)
    order = r("GET", "/v2/orders:by_client_order_id", params={"client_order_id": "e3"}).json()
    assert order["status"] == "filled"

    lim = r.order(qty=1, type="limit", limit_price="1", client_order_id="e4").json()
    emulator.set_fault("order_errors", status=503, actions=["cancel"])
    assert r("DELETE", f"/v2/orders/{lim['id']}").status_code == 503
    assert r("GET", f"/v2/orders/{lim['id']}").json()["status"] == "canceled"


async def test_reject_orders_fault(emulator, rest) -> None:
    r = rest(emulator)
    async with aiohttp.ClientSession() as http:
        ws = await trade_ws(http, emulator)
        await asyncio.to_thread(emulator.set_fault, "reject_orders", count=1)
        resp = await asyncio.to_thread(r.order, qty=1, client_order_id="rej")
        assert resp.status_code == 200 and resp.json()["status"] == "accepted"
        seen = await events(ws)
        assert [e["event"] for e in seen] == ["rejected"] and seen[0]["order"]["failed_at"] is not None
    assert r("GET", "/v2/positions").json() == []


def test_rate_limit_burst_and_faults_at_start(emulator_factory, rest) -> None:
    emu = emulator_factory(faults={"rate_limit_burst": {"count": 2}})
    r = rest(emu)
    codes = [r("GET", "/v2/account") for _ in range(3)]
    assert [c.status_code for c in codes] == [429, 429, 200]
    assert codes[0].headers["X-Ratelimit-Remaining"] == "0" and "X-Ratelimit-Reset" in codes[0].headers
    assert codes[0].json()["code"] == 42910000
    # a count burst resets within about a second, not after a whole minute
    assert int(codes[0].headers["X-Ratelimit-Reset"]) - time.time() <= 2.0


def test_timed_rate_limit_burst_resets_when_the_burst_ends(emulator_factory, rest) -> None:
    emu = emulator_factory(faults={"rate_limit_burst": {"seconds": 20}})
    resp = rest(emu)("GET", "/v2/account")
    assert resp.status_code == 429
    assert 18.0 <= int(resp.headers["X-Ratelimit-Reset"]) - time.time() <= 22.0


def test_admin_fault_endpoints(emulator) -> None:
    admin = emulator.admin_url
    resp = requests.post(f"{admin}/faults/silence", json={"seconds": 30}, timeout=5)
    assert resp.status_code == 200 and resp.json()["active"]["silence"]["target"] == "all"
    assert "silence" in requests.get(f"{admin}/faults", timeout=5).json()
    resp = requests.post(f"{admin}/faults", json={"name": "drop_updates", "params": {"probability": 0.5}}, timeout=5)
    assert resp.json()["params"]["probability"] == 0.5
    assert requests.delete(f"{admin}/faults/silence", timeout=5).json() == {
        "drop_updates": {"count": None, "probability": 0.5, "events": None}}
    assert requests.delete(f"{admin}/faults", timeout=5).json() == {}
    bad = requests.post(f"{admin}/faults/meteor", json={}, timeout=5)
    assert bad.status_code == 400 and "unknown fault" in bad.json()["error"]
    bad = requests.post(f"{admin}/faults/order_errors", json={"status": 404}, timeout=5)
    assert bad.status_code == 400


async def test_restart_keeps_state_and_drops_sockets(emulator, rest) -> None:
    r = rest(emulator)
    await asyncio.to_thread(r.order, qty=5)
    async with aiohttp.ClientSession() as http:
        ws = await trade_ws(http, emulator)
        port = emulator.port
        t0 = time.monotonic()
        resp = await asyncio.to_thread(requests.post, f"{emulator.admin_url}/restart", json={"down": 0.3}, timeout=5)
        assert resp.json()["restarting"] is True
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type == aiohttp.WSMsgType.CLOSED
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(emulator.trading_url + "/v2/clock")  # down for 0.3 s
        for _ in range(200):
            if emulator.state()["restarts"] == 1:
                break
            await asyncio.sleep(0.01)
        assert time.monotonic() - t0 >= 0.3 and emulator.port == port
    pos = await asyncio.to_thread(r, "GET", "/v2/positions/SPY")
    assert pos.json()["qty"] == "5"
