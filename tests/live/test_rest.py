"""AlpacaRest against small aiohttp servers on loopback: queueing on 429, retries, idempotent
submission, error mapping and secrecy of the keys."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback

import pytest
from aiohttp import web

from admf.adapters.alpaca.errors import (
    AuthError,
    BrokerTimeout,
    BrokerUnavailable,
    InsufficientBuyingPower,
    NotFound,
    OrderRejected,
    StaleRequest,
)
from admf.adapters.alpaca.rest import AlpacaRest
from admf.adapters.alpaca.settings import AlpacaSettings, Credentials

KEY, SECRET = "PKUNITTESTKEY123", "sk-unit-test-SECRET-do-not-print-987"
FAST = AlpacaSettings(timeout=0.5, max_retries=3, backoff_base=0.01, backoff_cap=0.05, rate_limit_patience=5.0)


def _order(cid: str, oid: str = "o-1", status: str = "new") -> dict:
    return {
        "id": oid,
        "client_order_id": cid,
        "status": status,
        "symbol": "SPY",
        "qty": "1",
        "filled_qty": "0",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "created_at": "2024-03-26T13:30:00Z",
        "updated_at": "2024-03-26T13:30:00Z",
        "submitted_at": "2024-03-26T13:30:00Z",
        "extended_hours": False,
    }


async def _serve(app: web.Application):
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def test_429_storm_is_queued_not_failed():
    state = {"n": 0, "times": []}

    async def account(request: web.Request) -> web.Response:
        assert request.headers["APCA-API-KEY-ID"] == KEY
        assert request.headers["APCA-API-SECRET-KEY"] == SECRET
        state["n"] += 1
        state["times"].append(time.monotonic())
        if state["n"] <= 2:
            reset = int(time.time()) + 1
            return web.json_response(
                {"code": 42910000, "message": "rate limit exceeded"},
                status=429,
                headers={"X-Ratelimit-Limit": "200", "X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": str(reset)},
            )
        return web.json_response(
            {"id": "acc", "cash": "100000", "equity": "100000", "buying_power": "200000"},
            headers={"X-Ratelimit-Remaining": "150"},
        )

    app = web.Application()
    app.router.add_get("/v2/account", account)
    runner, url = await _serve(app)
    try:
        async with AlpacaRest(KEY, SECRET, trading_url=url, settings=FAST) as rest:
            acc = await rest.get_account()
            assert (acc.cash, acc.buying_power) == (100000.0, 200000.0)
            assert rest.rate_limited == 2
            # the first 429 closed the bucket until the epoch-second reset: no hammering
            assert state["times"][1] - state["times"][0] > 0.2
            assert rest.limiter.budget.remaining <= 150
    finally:
        await runner.cleanup()


async def test_5xx_after_accept_is_resolved_by_client_order_id_lookup():
    orders: dict[str, dict] = {}
    posts = {"n": 0}

    async def post(request: web.Request) -> web.Response:
        body = await request.json()
        posts["n"] += 1
        cid = body["client_order_id"]
        if cid in orders:
            return web.json_response({"code": 40010001, "message": "client_order_id must be unique"}, status=422)
        orders[cid] = _order(cid, oid=f"o-{len(orders) + 1}")
        return web.json_response({"code": 50010000, "message": "internal server error"}, status=500)

    async def by_cid(request: web.Request) -> web.Response:
        o = orders.get(request.query["client_order_id"])
        if o is None:
            return web.json_response({"code": 40410000, "message": "order not found"}, status=404)
        return web.json_response(o)

    app = web.Application()
    app.router.add_post("/v2/orders", post)
    app.router.add_get("/v2/orders:by_client_order_id", by_cid)
    runner, url = await _serve(app)
    try:
        async with AlpacaRest(KEY, SECRET, trading_url=url, settings=FAST) as rest:
            o = await rest.submit_order(
                {
                    "symbol": "SPY",
                    "qty": "1",
                    "side": "buy",
                    "type": "market",
                    "time_in_force": "day",
                    "client_order_id": "idem-1",
                }
            )
            assert (o.id, o.client_order_id) == ("o-1", "idem-1")
            assert posts["n"] == 1 and len(orders) == 1  # looked up, not resent
            # a later resend of the same id hits the 422 duplicate and resolves to the same order
            o2 = await rest.submit_order(
                {
                    "symbol": "SPY",
                    "qty": "1",
                    "side": "buy",
                    "type": "market",
                    "time_in_force": "day",
                    "client_order_id": "idem-1",
                }
            )
            assert o2.id == "o-1" and len(orders) == 1
    finally:
        await runner.cleanup()


async def test_timeout_then_lookup_then_resend_once():
    import asyncio

    orders: dict[str, dict] = {}
    posts = {"n": 0}

    async def post(request: web.Request) -> web.Response:
        body = await request.json()
        posts["n"] += 1
        if posts["n"] == 1:
            await asyncio.sleep(0.7)  # never answers in time, and never accepted
        cid = body["client_order_id"]
        orders[cid] = _order(cid)
        return web.json_response(orders[cid])

    async def by_cid(request: web.Request) -> web.Response:
        o = orders.get(request.query["client_order_id"])
        return (
            web.json_response(o)
            if o
            else web.json_response({"code": 40410000, "message": "order not found"}, status=404)
        )

    app = web.Application()
    app.router.add_post("/v2/orders", post)
    app.router.add_get("/v2/orders:by_client_order_id", by_cid)
    runner, url = await _serve(app)
    try:
        async with AlpacaRest(KEY, SECRET, trading_url=url, settings=FAST) as rest:
            o = await rest.submit_order(
                {
                    "symbol": "SPY",
                    "qty": "1",
                    "side": "buy",
                    "type": "market",
                    "time_in_force": "day",
                    "client_order_id": "t-1",
                }
            )
            assert o.client_order_id == "t-1"
            assert posts["n"] == 2 and len(orders) == 1
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("status", "body", "exc"),
    [
        (401, {"code": 40110000, "message": "request is not authorized"}, AuthError),
        (403, {"code": 40310000, "message": "insufficient buying power"}, InsufficientBuyingPower),
        (403, {"code": 40310000, "message": "account is not allowed to short"}, OrderRejected),
        (404, {"code": 40410000, "message": "order not found"}, NotFound),
        (422, {"code": 42210000, "message": 'order is already in "filled" state'}, OrderRejected),
        (503, {"code": 50010000, "message": "internal server error"}, BrokerUnavailable),
    ],
)
async def test_error_mapping(status, body, exc):
    calls = {"n": 0}

    async def handler(request: web.Request) -> web.Response:
        calls["n"] += 1
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_route("*", "/v2/orders/{oid}", handler)
    runner, url = await _serve(app)
    try:
        async with AlpacaRest(KEY, SECRET, trading_url=url, settings=FAST) as rest:
            with pytest.raises(exc) as info:
                await rest.cancel_order("abc")
            assert info.value.status == status and info.value.code == body["code"]
            assert body["message"] in str(info.value)
            assert calls["n"] == (FAST.max_retries + 1 if status >= 500 else 1)  # only 5xx retried
    finally:
        await runner.cleanup()


async def test_secrets_never_in_errors_reprs_or_logs(caplog):
    caplog.set_level(logging.DEBUG)

    async def leaky(request: web.Request) -> web.Response:
        # a hostile server echoing the secret back must not get it into our messages
        return web.json_response({"code": 50010000, "message": f"bad key {SECRET} / {KEY}"}, status=500)

    async def slow(request: web.Request) -> web.Response:
        import asyncio

        await asyncio.sleep(0.7)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/v2/account", leaky)
    app.router.add_get("/v2/clock", slow)
    runner, url = await _serve(app)
    texts: list[str] = []
    try:
        quick = AlpacaSettings(timeout=0.3, max_retries=1, backoff_base=0.01, backoff_cap=0.02)
        rest = AlpacaRest(KEY, SECRET, trading_url=url, settings=quick)
        texts += [repr(rest), str(rest), repr(rest.credentials), str(Credentials(KEY, SECRET))]
        await rest.open()
        for call, exc in ((rest.get_account, BrokerUnavailable), (rest.get_clock, BrokerTimeout)):
            with pytest.raises(exc) as info:
                await call()
            texts += [str(info.value), repr(info.value), "".join(traceback.format_exception(info.value))]
        await rest.close()
        dead = AlpacaRest(KEY, SECRET, trading_url="http://127.0.0.1:9", settings=quick)  # connection refused
        with pytest.raises(BrokerUnavailable) as info:
            await dead.get_account()
        texts += [str(info.value), "".join(traceback.format_exception(info.value))]
        await dead.close()
    finally:
        await runner.cleanup()
    texts.append(caplog.text)
    blob = "\n".join(texts)
    assert "500" in blob and "bad key ***" in blob  # the messages are there, scrubbed
    assert SECRET not in blob
    assert KEY not in blob


async def test_a_submit_cancelled_behind_the_rate_limit_is_known_as_never_sent():
    posts: list[str] = []

    async def account(request: web.Request) -> web.Response:
        # the window is spent for new orders (only the reserve is left) and resets in 30 s
        headers = {"X-Ratelimit-Limit": "200", "X-Ratelimit-Remaining": "4",
                   "X-Ratelimit-Reset": str(int(time.time()) + 30)}
        return web.json_response({"id": "acc", "cash": "1", "equity": "1", "buying_power": "1"}, headers=headers)

    async def submit(request: web.Request) -> web.Response:
        body = await request.json()
        posts.append(body["client_order_id"])
        return web.json_response(_order(body["client_order_id"]))

    app = web.Application()
    app.router.add_get("/v2/account", account)
    app.router.add_post("/v2/orders", submit)
    runner, url = await _serve(app)
    try:
        async with AlpacaRest(KEY, SECRET, trading_url=url, settings=FAST) as rest:
            await rest.get_account()
            task = asyncio.create_task(rest.submit_order({"symbol": "SPY", "client_order_id": "held"}))
            while rest.limiter.queued == 0:
                await asyncio.sleep(0.005)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert rest.never_sent("held") and not rest.never_sent("held")  # asked once
            # one that went out is not reported as never sent
            await rest.submit_order({"symbol": "SPY", "client_order_id": "sent"}, priority=-1)
            assert not rest.never_sent("sent")
        assert posts == ["sent"]
    finally:
        await runner.cleanup()


async def test_a_cancel_all_withdraws_new_orders_queued_behind_the_rate_limit():
    seen: list[str] = []

    async def account(request: web.Request) -> web.Response:
        headers = {"X-Ratelimit-Limit": "200", "X-Ratelimit-Remaining": "4",
                   "X-Ratelimit-Reset": str(int(time.time()) + 30)}
        return web.json_response({"id": "acc", "cash": "1", "equity": "1", "buying_power": "1"}, headers=headers)

    async def submit(request: web.Request) -> web.Response:
        seen.append("POST " + (await request.json())["client_order_id"])
        return web.json_response(_order("x"))

    async def cancel_all(request: web.Request) -> web.Response:
        seen.append("DELETE all")
        return web.json_response([], status=207)

    app = web.Application()
    app.router.add_get("/v2/account", account)
    app.router.add_post("/v2/orders", submit)
    app.router.add_delete("/v2/orders", cancel_all)
    runner, url = await _serve(app)
    try:
        async with AlpacaRest(KEY, SECRET, trading_url=url, settings=FAST) as rest:
            await rest.get_account()  # the window is spent but for the reserve
            queued = [asyncio.create_task(rest.submit_order({"symbol": "SPY", "client_order_id": f"q{i}"}))
                      for i in range(3)]
            while rest.limiter.queued < 3:
                await asyncio.sleep(0.005)
            assert await rest.cancel_all_orders() == []
            for t in queued:
                with pytest.raises(StaleRequest, match="cancel-all came first"):
                    await t
        assert seen == ["DELETE all"]
    finally:
        await runner.cleanup()
