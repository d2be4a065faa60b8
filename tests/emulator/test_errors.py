"""Every error code the emulator answers, on REST and on both websockets."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import aiohttp
import pytest

from admf.emulator.testing import TEST_KEY, TEST_SECRET

DATA_AUTH = {"action": "auth", "key": TEST_KEY, "secret": TEST_SECRET}


def test_401_without_or_with_wrong_keys(emulator, rest) -> None:
    bad = rest(emulator, secret="wrong")("GET", "/v2/account")
    assert bad.status_code == 401 and bad.json() == {"code": 40110000, "message": "request is not authorized"}
    assert bad.headers["Content-Type"] == "application/json; charset=UTF-8"
    import requests

    assert requests.get(emulator.trading_url + "/v2/account", timeout=5).status_code == 401
    basic = base64.b64encode(f"{TEST_KEY}:{TEST_SECRET}".encode()).decode()
    ok = requests.get(emulator.trading_url + "/v2/account", headers={"Authorization": "Basic " + basic}, timeout=5)
    assert ok.status_code == 200
    data = rest(emulator, key="nope")("GET", "/v2/stocks/bars", params={"symbols": "SPY", "timeframe": "1Min"})
    assert data.status_code == 403 and data.json() == {"message": "forbidden"}


def test_403_buying_power_qty_and_shorting(emulator_factory, rest) -> None:
    emu = emulator_factory()
    r = rest(emu)
    # 2x margin on $100k: $200k buying power.
    too_big = int(200_000 / emu.price("SPY")) + 1
    resp = r.order(qty=too_big)
    assert resp.status_code == 403 and resp.json() == {"code": 40310000, "message": "insufficient buying power"}
    assert r.order(qty=10).status_code == 200
    resp = r.order(qty=11, side="sell")
    assert resp.status_code == 403
    body = resp.json()
    assert body["message"] == "insufficient qty available for order (requested: 11, available: 10)"
    assert body["code"] == 40310000 and body["symbol"] == "SPY" and body["existing_qty"] == "10"
    # Open sells hold shares: a second sell finds less available.
    assert r.order(qty=6, side="sell", type="limit", limit_price="9999", time_in_force="gtc").status_code == 200
    assert r.order(qty=5, side="sell").json()["message"].endswith("(requested: 5, available: 4)")

    cash = emulator_factory(shorting_enabled=False, multiplier="1")
    rc = rest(cash)
    resp = rc.order(qty=1, side="sell")
    assert resp.status_code == 403 and resp.json()["message"] == "account is not allowed to short"
    assert rest(emu).order(qty="0.5", side="sell", symbol="SPY").status_code == 200  # closing part of a long
    flat = emulator_factory()
    assert rest(flat).order(qty="0.5", side="sell").json()["message"] == "fractional orders are not allowed to short"


def test_404s(emulator, rest) -> None:
    r = rest(emulator)
    for path, message in [
        ("/v2/orders/8a4b1c5e-0000-4000-8000-000000000000", "order not found"),
        ("/v2/orders:by_client_order_id?client_order_id=none", "order not found"),
        ("/v2/positions/SPY", "position does not exist"),
        ("/v2/assets/ZZZZ", "asset not found for ZZZZ"),
    ]:
        resp = r("GET", path)
        assert resp.status_code == 404 and resp.json() == {"code": 40410000, "message": message}, path
    assert r("DELETE", "/v2/orders/8a4b1c5e-0000-4000-8000-000000000000").status_code == 404
    assert r("DELETE", "/v2/positions/SPY").status_code == 404
    assert r("GET", "/v2/nothing").status_code == 404


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"qty": None}, 40010001, "qty or notional is required"),
        ({"qty": 1, "notional": 100}, 40010001, "only one of qty or notional is accepted"),
        ({"qty": 1, "type": "limit", "limit_price": 290.123}, 42210000,
         "invalid limit_price 290.123. sub-penny increment does not fulfill minimum pricing criteria"),
        ({"qty": 1, "type": "limit", "limit_price": "0.12345"}, 42210000,
         "invalid limit_price 0.12345. sub-penny increment does not fulfill minimum pricing criteria"),
        ({"qty": 1, "type": "limit"}, 40010001, "limit_price is required"),
        ({"qty": 1, "type": "stop_limit", "limit_price": 1}, 40010001, "stop_price is required"),
        ({"qty": 1, "time_in_force": "week"}, 40010001, "invalid time_in_force: week"),
        ({"qty": 1, "side": "hold"}, 40010001, "invalid side: hold"),
        ({"qty": 1.5, "type": "limit", "limit_price": 1}, 40010001,
         "fractional orders must be market orders with time_in_force day"),
        ({"qty": 1, "client_order_id": "x" * 49}, 40010001, "client_order_id must be no more than 48 characters"),
        ({"qty": 1, "symbol": "ZZZZ"}, 40010001, 'asset "ZZZZ" not found'),
        ({"qty": 1, "extended_hours": True}, 40010001, "extended hours order must be DAY limit orders"),
        ({"qty": 1, "type": "trailing_stop"}, 40010001, "exactly one of trail_price or trail_percent is required"),
        ({"notional": 100, "type": "limit", "limit_price": 1}, 40010001,
         "notional orders must be market orders with time_in_force day"),
    ],
)
def test_422_validation(emulator, rest, body, code, message) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    resp = rest(emulator).order(**body)
    assert resp.status_code == 422 and resp.json() == {"code": code, "message": message}


def test_422_duplicate_client_order_id_and_terminal_orders(emulator, rest) -> None:
    r = rest(emulator)
    first = r.order(qty=1, client_order_id="dup")
    assert first.status_code == 200
    again = r.order(qty=2, client_order_id="dup")
    assert again.status_code == 422 and again.json() == {"code": 40010001, "message": "client_order_id must be unique"}
    assert r("GET", "/v2/orders:by_client_order_id", params={"client_order_id": "dup"}).json()["qty"] == "1"
    oid = first.json()["id"]
    resp = r("DELETE", f"/v2/orders/{oid}")
    assert resp.status_code == 422 and resp.json() == {"code": 42210000,
                                                        "message": 'order is already in "filled" state'}
    assert r("PATCH", f"/v2/orders/{oid}", json={"qty": 3}).status_code == 422
    lim = r.order(qty=2, type="limit", limit_price="1.00").json()
    resp = r("PATCH", f"/v2/orders/{lim['id']}", json={"qty": 2.5})
    assert resp.status_code == 422 and resp.json()["message"] == "qty must be integer"


def test_numbers_or_strings_in_decimal_strings_out(emulator, rest) -> None:
    r = rest(emulator)
    a = r.order(qty=2.0, type="limit", limit_price=1.5).json()
    b = r.order(qty="2", type="limit", limit_price="1.50").json()
    for o in (a, b):
        assert o["qty"] == "2" and o["limit_price"] == "1.5" and o["filled_qty"] == "0"
    acct = r("GET", "/v2/account").json()
    assert isinstance(acct["cash"], str) and isinstance(acct["buying_power"], str)


def test_204_and_207_bodies(emulator, rest) -> None:
    r = rest(emulator)
    ids = [r.order(qty=1, type="limit", limit_price="1", time_in_force="gtc").json()["id"] for _ in range(2)]
    one = r("DELETE", f"/v2/orders/{ids[0]}")
    assert one.status_code == 204 and one.content == b""
    allc = r("DELETE", "/v2/orders")
    assert allc.status_code == 207
    [entry] = allc.json()
    assert entry["id"] == ids[1] and entry["status"] == 200 and entry["body"]["status"] == "canceled"
    r.order(qty=3)
    closed = r("DELETE", "/v2/positions")
    assert closed.status_code == 207
    [c] = closed.json()
    assert c["symbol"] == "SPY" and c["status"] == 200 and c["body"]["side"] == "sell" and c["body"]["qty"] == "3"


def test_429_with_rate_limit_headers(emulator_factory, rest) -> None:
    emu = emulator_factory(rate_limit=3)
    r = rest(emu)
    seen = [r("GET", "/v2/clock") for _ in range(4)]
    assert [x.status_code for x in seen] == [200, 200, 200, 429]
    assert [x.headers["X-Ratelimit-Remaining"] for x in seen] == ["2", "1", "0", "0"]
    assert all(x.headers["X-Ratelimit-Limit"] == "3" for x in seen)
    reset = int(seen[-1].headers["X-Ratelimit-Reset"])
    assert time.time() < reset <= time.time() + 61
    assert seen[-1].json() == {"code": 42910000, "message": "rate limit exceeded"}


def test_the_request_log_counts_every_trading_answer_and_names_each_order_post(emulator_factory, rest) -> None:
    emu = emulator_factory(rate_limit=3)
    r = rest(emu)
    body = {"symbol": "SPY", "qty": "1", "side": "buy", "type": "limit", "limit_price": "1.00",
            "time_in_force": "day", "client_order_id": "log-1"}
    got = [r("POST", "/v2/orders", json=body).status_code, r("POST", "/v2/orders", json=body).status_code,
           r("GET", "/v2/clock").status_code, r("POST", "/v2/orders", json={**body, "client_order_id": "log-2"})
           .status_code]
    r("GET", "/v2/stocks/bars", params={"symbols": "SPY", "timeframe": "1Min"})  # market data: not logged
    assert got == [200, 422, 200, 429]  # a duplicate client_order_id, then over the limit
    assert emu.state()["requests"] == {"200": 2, "422": 1, "429": 1}
    log = emu.call(lambda srv: list(srv.requests.entries))
    assert [(e.method, e.path, e.status, e.client_order_id) for e in log] == [
        ("POST", "/v2/orders", 200, "log-1"), ("POST", "/v2/orders", 422, "log-1"), ("GET", "/v2/clock", 200, ""),
        ("POST", "/v2/orders", 429, "log-2")]
    assert all(a.ns <= b.ns for a, b in zip(log, log[1:], strict=False))


def test_data_rest_errors_are_message_only(emulator, rest) -> None:
    r = rest(emulator)
    resp = r("GET", "/v2/stocks/bars", params={"symbols": "SPY", "timeframe": "30Sec"})
    assert resp.status_code == 400 and resp.json() == {"message": "invalid timeframe: 30Sec"}
    resp = r("GET", "/v2/stocks/bars", params={"symbols": "SPY", "timeframe": "1Min", "limit": 0})
    assert resp.status_code == 400 and "limit" in resp.json()["message"]


async def _data_ws(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(url)
    assert json.loads((await ws.receive()).data)[0]["msg"] == "connected"
    return ws


async def _reply(ws: aiohttp.ClientWebSocketResponse) -> dict:
    [m] = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
    return m


async def test_data_stream_error_codes(emulator_factory) -> None:
    emu = emulator_factory(symbol_limit=2, data_auth_timeout=0.3, sip_allowed=False)
    async with aiohttp.ClientSession() as http:
        ws = await _data_ws(http, emu.data_stream_url("iex"))
        await ws.send_str("not json")
        assert await _reply(ws) == {"T": "error", "code": 400, "msg": "invalid syntax"}
        await ws.send_str(json.dumps({"action": "subscribe", "bars": ["SPY"]}))
        assert await _reply(ws) == {"T": "error", "code": 401, "msg": "not authenticated"}
        await ws.send_str(json.dumps(DATA_AUTH))
        assert (await _reply(ws))["msg"] == "authenticated"
        await ws.send_str(json.dumps(DATA_AUTH))
        assert await _reply(ws) == {"T": "error", "code": 403, "msg": "already authenticated"}
        await ws.send_str(json.dumps({"action": "subscribe", "trades": ["A", "B"], "quotes": ["C"]}))
        assert await _reply(ws) == {"T": "error", "code": 405, "msg": "symbol limit exceeded"}
        await ws.send_str(json.dumps({"action": "subscribe", "trades": ["A"], "quotes": ["A", "B"]}))
        assert (await _reply(ws))["quotes"] == ["A", "B"]
        # A second authenticated connection on the same feed: 406, then the server closes it.
        ws2 = await _data_ws(http, emu.data_stream_url("iex"))
        await ws2.send_str(json.dumps(DATA_AUTH))
        assert await _reply(ws2) == {"T": "error", "code": 406, "msg": "connection limit exceeded"}
        assert (await asyncio.wait_for(ws2.receive(), 5)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        ws3 = await _data_ws(http, emu.data_stream_url("test"))
        await ws3.send_str(json.dumps({"action": "auth", "key": TEST_KEY, "secret": "bad"}))
        assert await _reply(ws3) == {"T": "error", "code": 402, "msg": "auth failed"}
        ws4 = await _data_ws(http, emu.data_stream_url("sip"))
        await ws4.send_str(json.dumps(DATA_AUTH))
        assert await _reply(ws4) == {"T": "error", "code": 409, "msg": "insufficient subscription"}
        ws5 = await _data_ws(http, emu.data_stream_url("test"))
        assert await _reply(ws5) == {"T": "error", "code": 404, "msg": "auth timeout"}
        for w in (ws, ws2, ws3, ws4, ws5):
            await w.close()


async def test_second_trade_stream_refused_with_429(emulator) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(emulator.stream_url)
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await http.ws_connect(emulator.stream_url)
        assert e.value.status == 429
        await ws.close()
        await asyncio.sleep(0.05)
        ws = await http.ws_connect(emulator.stream_url)  # the slot is free again
        await ws.close()
