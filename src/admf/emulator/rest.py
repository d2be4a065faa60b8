"""Trading REST v2 handlers (account, orders, positions, clock, calendar, assets, activities)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from admf.emulator import calendar as cal
from admf.emulator.wire import JSON_CT, WireError, decode_json, encode_json, iso_et, parse_bool, unprocessable

if TYPE_CHECKING:
    from admf.emulator.broker import Broker
    from admf.emulator.server import EmulatorServer

_HEADERS = {"Content-Type": JSON_CT}


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=encode_json(obj), status=status, headers=_HEADERS)


def error_response(err: WireError) -> web.Response:
    return web.Response(body=encode_json(err.body()), status=err.status, headers=_HEADERS)


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    try:
        return decode_json(raw)
    except Exception:
        raise unprocessable("request body format is invalid") from None


class TradingApi:
    def __init__(self, server: EmulatorServer) -> None:
        self.srv = server

    @property
    def broker(self) -> Broker:
        return self.srv.broker  # replaced when a restart reloads the state file

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v2/account", self.account),
            web.post("/v2/orders", self.submit),
            web.get("/v2/orders", self.list_orders),
            web.delete("/v2/orders", self.cancel_all),
            web.get("/v2/orders:by_client_order_id", self.by_client_id),
            web.get("/v2/orders/{order_id}", self.get_order),
            web.patch("/v2/orders/{order_id}", self.replace),
            web.delete("/v2/orders/{order_id}", self.cancel),
            web.get("/v2/positions", self.positions),
            web.delete("/v2/positions", self.close_all),
            web.get("/v2/positions/{symbol}", self.position),
            web.delete("/v2/positions/{symbol}", self.close_position),
            web.get("/v2/clock", self.clock),
            web.get("/v2/calendar", self.calendar),
            web.get("/v2/assets", self.assets),
            web.get("/v2/assets/{symbol}", self.asset),
            web.get("/v2/account/activities", self.activities),
            web.get("/v2/account/activities/{type}", self.activities),
        ]

    # faults after the work is done: the client sees a failure although the action happened

    async def _faulted(self, request: web.Request, action: str) -> web.Response | None:
        f = self.srv.faults.order_error(action)
        if f is None:
            return None
        if f["mode"] == "error":
            return json_response({"code": f["status"] * 100000 + 10000, "message": "internal server error"},
                                 status=f["status"])
        await asyncio.sleep(f["timeout"])
        with contextlib.suppress(Exception):
            if request.transport is not None:
                request.transport.abort()
        raise asyncio.CancelledError

    async def account(self, request: web.Request) -> web.Response:
        return json_response(self.broker.account())

    async def submit(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        order = self.broker.submit(body)
        return await self._faulted(request, "submit") or json_response(order)

    async def list_orders(self, request: web.Request) -> web.Response:
        return json_response(self.broker.list_orders(dict(request.query)))

    async def cancel_all(self, request: web.Request) -> web.Response:
        out = self.broker.cancel_all()
        return await self._faulted(request, "cancel_all") or json_response(out, status=207)

    async def by_client_id(self, request: web.Request) -> web.Response:
        return json_response(self.broker.get_by_client_id(request.query.get("client_order_id")))

    async def get_order(self, request: web.Request) -> web.Response:
        nested = parse_bool(request.query.get("nested"))
        return json_response(self.broker.get_order(request.match_info["order_id"], nested))

    async def replace(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        order = self.broker.replace(request.match_info["order_id"], body)
        return await self._faulted(request, "replace") or json_response(order)

    async def cancel(self, request: web.Request) -> web.Response:
        self.broker.cancel(request.match_info["order_id"])
        return await self._faulted(request, "cancel") or web.Response(status=204)

    async def positions(self, request: web.Request) -> web.Response:
        return json_response(self.broker.list_positions())

    async def position(self, request: web.Request) -> web.Response:
        return json_response(self.broker.get_position(request.match_info["symbol"]))

    async def close_position(self, request: web.Request) -> web.Response:
        q = request.query
        order = self.broker.close_position(request.match_info["symbol"], q.get("qty"), q.get("percentage"))
        return await self._faulted(request, "close_position") or json_response(order)

    async def close_all(self, request: web.Request) -> web.Response:
        out = self.broker.close_all(parse_bool(request.query.get("cancel_orders")))
        return await self._faulted(request, "close_position") or json_response(out, status=207)

    async def clock(self, request: web.Request) -> web.Response:
        now = self.srv.clock.now()
        nxt_open, nxt_close = cal.next_open_close(now)
        return json_response({
            "timestamp": iso_et(now),
            "is_open": cal.is_open(now),
            "next_open": iso_et(nxt_open),
            "next_close": iso_et(nxt_close),
        })

    async def calendar(self, request: web.Request) -> web.Response:
        q = request.query
        today = cal.ny_date(self.srv.clock.now())
        try:
            start = date.fromisoformat(q["start"][:10]) if q.get("start") else date(1970, 1, 1)
            end = date.fromisoformat(q["end"][:10]) if q.get("end") else today + timedelta(days=365)
        except ValueError:
            raise unprocessable("invalid date") from None
        start = max(start, date(2000, 1, 1))
        end = min(end, date(2029, 12, 31))
        out = []
        for d in cal.trading_days(start, end):
            close = cal.close_time(d)
            opens = cal.open_time(d)
            out.append({
                "date": d.isoformat(),
                "open": f"{opens.hour:02d}:{opens.minute:02d}",
                "close": f"{close.hour:02d}:{close.minute:02d}",
                "session_open": "0400",
                "session_close": "2000",
                "settlement_date": cal.trading_days(d + timedelta(days=1), d + timedelta(days=10))[0].isoformat(),
            })
        return json_response(out)

    async def assets(self, request: web.Request) -> web.Response:
        q = request.query
        return json_response(self.broker.list_assets(q.get("status"), q.get("asset_class"), q.get("exchange")))

    async def asset(self, request: web.Request) -> web.Response:
        return json_response(self.broker.get_asset(request.match_info["symbol"]))

    async def activities(self, request: web.Request) -> web.Response:
        only = request.match_info.get("type")
        return json_response(self.broker.list_activities(dict(request.query), only))
