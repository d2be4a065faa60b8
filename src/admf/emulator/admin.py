"""Admin endpoints (no Alpaca auth): replay control, faults, reset, restart, state.

    GET    /admin/state                      clock, cursor, prices, faults, connections, account summary
    POST   /admin/step         {"n": 1}      play n bars
    POST   /admin/advance      {"to": ISO} | {"seconds": s}   play bars up to a time
    POST   /admin/speed        {"speed": x}  change the replay speed (0 = manual)
    GET    /admin/faults                     active faults
    POST   /admin/faults       {"name": ..., "params": {...}}  or POST /admin/faults/{name} {params}
    DELETE /admin/faults[/{name}]            clear one or all faults
    POST   /admin/reset                      fresh account and replay start
    POST   /admin/restart      {"down": s}   restart the server, state kept (answers first)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from admf.emulator.faults import FaultError
from admf.emulator.rest import json_response
from admf.emulator.wire import NS, WireError, decode_json, parse_time

if TYPE_CHECKING:
    from admf.emulator.server import EmulatorServer


def _bad(message: str) -> web.Response:
    return json_response({"error": message}, 400)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    out: dict[str, Any] = dict(request.query)
    if raw:
        try:
            data = decode_json(raw)
        except Exception:
            raise web.HTTPBadRequest(text='{"error": "body must be JSON"}', content_type="application/json") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text='{"error": "body must be a JSON object"}', content_type="application/json")
        out.update(data)
    return out


class AdminApi:
    def __init__(self, server: EmulatorServer) -> None:
        self.srv = server

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/admin/state", self.state),
            web.post("/admin/step", self.step),
            web.post("/admin/advance", self.advance),
            web.post("/admin/speed", self.speed),
            web.get("/admin/faults", self.faults),
            web.post("/admin/faults", self.set_fault),
            web.post("/admin/faults/{name}", self.set_fault),
            web.delete("/admin/faults", self.clear_faults),
            web.delete("/admin/faults/{name}", self.clear_faults),
            web.post("/admin/reset", self.reset),
            web.post("/admin/restart", self.restart),
        ]

    async def state(self, request: web.Request) -> web.Response:
        return json_response(self.srv.state())

    async def step(self, request: web.Request) -> web.Response:
        b = await _body(request)
        try:
            n = int(b.get("n", 1))
        except (TypeError, ValueError):
            return _bad("n must be an integer")
        if n < 0:
            return _bad("n must be >= 0")
        played = self.srv.step(n)
        return json_response({"played": played, **self.srv.state()})

    async def advance(self, request: web.Request) -> web.Response:
        b = await _body(request)
        try:
            if "to" in b:
                target = parse_time(str(b["to"]), "to")
            elif "seconds" in b:
                target = self.srv.clock.now() + int(float(b["seconds"]) * NS)
            else:
                return _bad("give to (ISO time) or seconds")
        except (WireError, ValueError, TypeError) as e:
            return _bad(str(e))
        played = self.srv.advance_to(target)
        return json_response({"played": played, **self.srv.state()})

    async def speed(self, request: web.Request) -> web.Response:
        b = await _body(request)
        try:
            self.srv.set_speed(float(b.get("speed", 0)))
        except (TypeError, ValueError) as e:
            return _bad(str(e))
        return json_response(self.srv.state())

    async def faults(self, request: web.Request) -> web.Response:
        return json_response(self.srv.faults.describe())

    async def set_fault(self, request: web.Request) -> web.Response:
        b = await _body(request)
        name = request.match_info.get("name") or b.pop("name", None)
        if not name:
            return _bad("fault name is required")
        params = b.get("params", {k: v for k, v in b.items() if k != "params"})
        if not isinstance(params, dict):
            return _bad("params must be an object")
        try:
            applied = self.srv.set_fault(name, params)
        except FaultError as e:
            return _bad(str(e))
        return json_response({"name": name, "params": applied, "active": self.srv.faults.describe()})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.srv.clear_faults(request.match_info.get("name"))
        return json_response(self.srv.faults.describe())

    async def reset(self, request: web.Request) -> web.Response:
        self.srv.reset()
        return json_response(self.srv.state())

    async def restart(self, request: web.Request) -> web.Response:
        b = await _body(request)
        try:
            down = float(b.get("down", 0.0))
        except (TypeError, ValueError):
            return _bad("down must be a number")
        self.srv.set_fault("restart", {"down": down})
        return json_response({"restarting": True, "down": down})
