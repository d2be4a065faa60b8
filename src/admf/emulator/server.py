"""EmulatorServer: one aiohttp app on one port serving trading REST, /stream, the data websockets,
historical bars and /admin, plus the replay loop that turns bars into prices, fills and messages.

Everything here runs on one asyncio loop; the sync methods (step, advance_to, set_fault, ...) must
be called on that loop. `admf.emulator.Emulator` wraps this class in a background thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import time
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from aiohttp import web

from admf.emulator import calendar as cal
from admf.emulator.admin import AdminApi
from admf.emulator.broker import Broker, Order
from admf.emulator.clock import ReplayClock
from admf.emulator.config import EmulatorConfig
from admf.emulator.faults import Faults
from admf.emulator.history import HistoryApi
from admf.emulator.market import Market
from admf.emulator.persist import StateStore
from admf.emulator.reqlog import RequestLog
from admf.emulator.rest import TradingApi, error_response, json_response
from admf.emulator.streams import Conn, DataHub, TradeHub
from admf.emulator.wire import NS, NY, WireError, decode_json, fdec, iso_us

DATA_FEEDS = ("iex", "sip", "test", "delayed_sip")
_WS_PATHS = frozenset({"/stream", "/stream/"} | {f"/v2/{f}" for f in DATA_FEEDS})


class RateLimiter:
    """Fixed one-minute window per key, as the X-Ratelimit-* headers describe it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.window = 0.0
        self.count = 0

    def hit(self) -> tuple[bool, dict[str, str]]:
        now = time.time()
        if now - self.window >= 60.0:
            self.window = now
            self.count = 0
        self.count += 1
        headers = {
            "X-Ratelimit-Limit": str(self.limit),
            "X-Ratelimit-Remaining": str(max(self.limit - self.count, 0)),
            "X-Ratelimit-Reset": str(int(self.window + 60.0)),
        }
        return self.count <= self.limit, headers


class EmulatorServer:
    def __init__(self, cfg: EmulatorConfig) -> None:
        self.cfg = cfg
        self.market = Market.build(cfg.data, cfg.symbols, cfg.seed, cfg.synthetic_start, cfg.synthetic_days)
        self.faults = Faults(cfg.seed)
        self.store = StateStore(cfg.state_file) if cfg.state_file else None
        self.trade_hub = TradeHub(self)
        self.data_hub = DataHub(self)
        self.ws_compress = True
        self.host = cfg.host
        self.port = cfg.port
        self.trade_limiter = RateLimiter(cfg.rate_limit)
        self.data_limiter = RateLimiter(cfg.data_rate_limit)
        self.requests = RequestLog()  # trading REST requests, as they arrived (kept across restarts)
        self._runner: web.AppRunner | None = None
        self._conns: set[Conn] = set()
        self._tasks: set[asyncio.Task] = set()
        self._replay_task: asyncio.Task | None = None
        self._drop_task: asyncio.Task | None = None
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.day_start_ns = 0
        self._day_hi = -1
        self._day: date | None = None
        self.restarts = 0
        self._build_state(load=True)
        for name, params in cfg.faults.items():
            self.faults.set(name, params)
        self.trading = TradingApi(self)
        self.history = HistoryApi(self)
        self.admin = AdminApi(self)
        self.app = self._make_app()

    # state

    def _start_ns(self, pos: int) -> int:
        m = self.market
        if not len(m.times):
            return time.time_ns()
        return int(m.times[pos - 1]) + m.tf_ns if pos > 0 else int(m.times[0])

    def _build_state(self, load: bool) -> None:
        m = self.market
        pos = m.index_of(self.cfg.start)
        old = getattr(self, "clock", None)
        speed = old.speed if (old is not None and load) else self.cfg.speed  # a restart keeps set_speed()
        self.clock = ReplayClock(self._start_ns(pos), speed)
        if len(m.times):
            self.clock.limit = int(m.times[-1]) + m.tf_ns
        self.broker = Broker(self.cfg, m, self.clock, emit=self._emit)
        self.broker.reject_hook = lambda o: "rejected by fault" if self.faults.reject_order() else None
        loaded = self.store.load() if (self.store is not None and load) else None
        if loaded is not None:
            meta, orders, acts = loaded
            replay = meta["replay"]
            m.seek(replay["pos"])
            self.clock.restore(replay["now"], replay["last"])
            self.broker.load_state(meta["broker"], orders, acts)
            self._seed_day(keep_broker_day=True)
        else:
            m.seek(pos)
            self._seed_day(keep_broker_day=False)
            if self.store is not None:
                self.store.wipe()
                self._flush_now(all_orders=True)
        self.data_hub.daily_stale = True

    def _set_day(self, ts: int) -> bool:
        """Track the New York date of ts; True when it differs from the previous one."""
        if self.day_start_ns <= ts < self._day_hi:
            return False
        d = cal.ny_date(ts)
        changed = d != self._day
        self._day = d
        start = datetime(d.year, d.month, d.day, tzinfo=NY)
        self.day_start_ns = int(start.timestamp()) * NS
        nxt = d + timedelta(days=1)
        self._day_hi = int(datetime(nxt.year, nxt.month, nxt.day, tzinfo=NY).timestamp()) * NS
        return changed

    def _seed_day(self, keep_broker_day: bool) -> None:
        cur = self.market.current_start()
        self._day = None
        self.day_start_ns, self._day_hi = 0, -1
        if cur is None:
            return
        self._set_day(cur)
        if keep_broker_day:
            return
        self.broker.day = str(self._day)
        for sym, s in self.market.series.items():
            i = int(np.searchsorted(s.t, self.day_start_ns, side="left")) - 1
            if i >= 0:
                self.broker.lastday[sym] = fdec(s.c[i])

    def seed_daily(self) -> None:
        """The running daily bar of every symbol, from the bars played so far today."""
        self.data_hub.daily.clear()
        if self._day is None:
            return
        for sym, s in self.market.series.items():
            a = int(np.searchsorted(s.t, self.day_start_ns, side="left"))
            e = s.ptr
            if e > a:
                v = int(s.v[a:e].sum())
                self.data_hub.daily[sym] = [self.day_start_ns, float(s.o[a]), float(s.h[a:e].max()),
                                            float(s.l[a:e].min()), float(s.c[e - 1]), v, int(s.n[a:e].sum()),
                                            float((s.vw[a:e] * s.v[a:e]).sum())]

    def _emit(self, event: str, order: Order, extra: dict | None) -> None:
        data: dict[str, Any] = {"event": event}
        if extra is not None:
            data["execution_id"] = extra["execution_id"]
        data["order"] = order.wire()
        data["timestamp"] = iso_us(order.updated_at)
        if extra is not None:
            data["position_qty"] = extra["position_qty"]
            data["price"] = extra["price"]
            data["qty"] = extra["qty"]
        self.trade_hub.publish({"stream": "trade_updates", "data": data}, event)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self.store is None or self._flush_scheduled or self._loop is None:
            return
        self._flush_scheduled = True
        self._loop.call_soon(self._flush_now)

    def _flush_now(self, all_orders: bool = False) -> None:
        self._flush_scheduled = False
        if self.store is None:
            return
        b = self.broker
        ids = list(b.orders) if all_orders else list(b.dirty_orders)
        orders = [b.orders[i].to_state() for i in ids if i in b.orders]
        acts = list(b.activities) if all_orders else list(b.new_activities)
        b.dirty_orders.clear()
        b.new_activities.clear()
        meta = {"broker": b.to_state(),
                "replay": {"pos": self.market.pos, "now": self.clock.now(), "last": self.clock.last_stamp}}
        self.store.save(meta, orders, acts)

    # auth

    def check_keys(self, key: Any, secret: Any) -> bool:
        if not isinstance(key, str) or not isinstance(secret, str):
            return False
        return hmac.compare_digest(key, self.cfg.api_key) & hmac.compare_digest(secret, self.cfg.secret_key)

    def _authorized(self, request: web.Request) -> bool:
        h = request.headers
        key = h.get("APCA-API-KEY-ID")
        if key is not None:
            return self.check_keys(key, h.get("APCA-API-SECRET-KEY"))
        auth = h.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                k, _, s = base64.b64decode(auth[6:]).decode().partition(":")
            except Exception:
                return False
            return self.check_keys(k, s)
        if auth.startswith("Bearer "):
            return hmac.compare_digest(auth[7:], self.cfg.secret_key)
        return False

    # http

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=4 << 20)
        app.add_routes(self.trading.routes())
        app.add_routes(self.history.routes())
        app.add_routes(self.admin.routes())
        app.add_routes([
            web.get("/stream", self.trade_hub.handle),
            web.get("/stream/", self.trade_hub.handle),
            web.get("/v2/{feed:iex|sip|test|delayed_sip}", self.data_hub.handle),
        ])
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if not path.startswith("/v2/") or path in _WS_PATHS:
            try:
                return await handler(request)
            except web.HTTPNotFound:
                return json_response({"code": 40410000, "message": "endpoint not found"}, 404)
        is_data = path.startswith("/v2/stocks/")
        arrived = time.time_ns()
        if not self._authorized(request):
            if is_data:
                return json_response({"message": "forbidden"}, 403)
            return error_response(WireError(401, 40110000, "request is not authorized"))
        limiter = self.data_limiter if is_data else self.trade_limiter
        headers = None
        allowed = True
        if limiter.limit:
            allowed, headers = limiter.hit()
        if not is_data and self.faults.burst():
            allowed = False
            # the reset a client should wait for is the end of the burst, not a whole minute
            left = self.faults.remaining("rate_limit_burst")
            headers = dict(headers or {"X-Ratelimit-Limit": str(limiter.limit or 200)})
            headers["X-Ratelimit-Reset"] = str(int(time.time() + (left if left is not None else 0.0)) + 1)
            headers["X-Ratelimit-Remaining"] = "0"
        if not allowed:
            body = {"message": "too many requests"} if is_data else {"code": 42910000, "message": "rate limit exceeded"}
            resp = json_response(body, 429)
            resp.headers.update(headers or {})
            if not is_data:
                await self._log_request(request, arrived, 429)
            return resp
        try:
            resp = await handler(request)
        except WireError as e:
            # the data API's error bodies carry a message only, the trading API's a code too
            resp = json_response({"message": e.message}, e.status) if is_data else error_response(e)
        except web.HTTPNotFound:
            resp = json_response({"message": "endpoint not found"} if is_data else
                                 {"code": 40410000, "message": "endpoint not found"}, 404)
        except web.HTTPMethodNotAllowed:
            resp = json_response({"message": "method not allowed"} if is_data else
                                 {"code": 40510000, "message": "method not allowed"}, 405)
        if headers is not None:
            resp.headers.update(headers)
        if not is_data:
            await self._log_request(request, arrived, resp.status)
        if request.method != "GET":
            self._schedule_flush()
        return resp

    async def _log_request(self, request: web.Request, arrived: int, status: int) -> None:
        cid = ""
        if request.method == "POST" and request.path == "/v2/orders":
            with contextlib.suppress(Exception):  # a malformed body was answered already
                cid = str(decode_json(await request.read()).get("client_order_id") or "")
        self.requests.add(arrived, request.method, request.path, status, cid)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._start_http()
        self._start_replay()
        p = self.faults.active.get("drop_sockets")
        if p and p.get("every"):
            self._start_drop_task()

    async def _start_http(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def _stop_http(self) -> None:
        for c in list(self._conns):
            c.abort()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def stop(self) -> None:
        for t in (self._replay_task, self._drop_task, *self._tasks):
            if t is not None:
                t.cancel()
        for t in (self._replay_task, self._drop_task, *self._tasks):
            if t is not None:
                with contextlib.suppress(BaseException):
                    await t
        self._replay_task = self._drop_task = None
        self._tasks.clear()
        await self._stop_http()
        if self.store is not None:
            self._flush_now()
            self.store.close()
            self.store = None

    def track(self, conn: Conn) -> None:
        self._conns.add(conn)

    def untrack(self, conn: Conn) -> None:
        self._conns.discard(conn)

    # replay

    def _play_one(self, flush: bool) -> bool:
        m = self.market
        nxt = m.next_start()
        if nxt is None:
            return False
        b = self.broker
        if nxt > self.clock.now():
            self.clock.set(nxt)
        b.on_time(self.clock.now())
        new_day = self._set_day(nxt)
        if new_day:
            b.on_new_day(str(self._day))
        ts, items = m.advance()
        end = ts + m.tf_ns
        if end > self.clock.now():
            self.clock.set(end)
        self.data_hub.publish(items, ts, end, new_day)
        if flush:
            self.data_hub.flush()
        for s, i in items:
            b.on_bar(s, i, ts, end)
        b.on_time(self.clock.now())
        return True

    def step(self, n: int = 1) -> int:
        """Play n bars (timeline instants); returns how many were played (fewer at the end of data)."""
        played = 0
        bulk = n > 1
        for _ in range(max(0, int(n))):
            if not self._play_one(flush=not bulk):
                break
            played += 1
        self.data_hub.flush()
        self._schedule_flush()
        return played

    def advance_to(self, ns: int) -> int:
        """Play every bar that ends at or before ns, then move the clock to ns."""
        m = self.market
        played = 0
        while True:
            nxt = m.next_start()
            if nxt is None or nxt + m.tf_ns > ns:
                break
            self._play_one(flush=False)
            played += 1
        self.clock.set(ns)
        self.broker.on_time(self.clock.now())
        self.data_hub.flush()
        self._schedule_flush()
        return played

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.clock.set_speed(speed)
        self._start_replay()

    def _start_replay(self) -> None:
        if self.clock.speed > 0 and (self._replay_task is None or self._replay_task.done()):
            self._replay_task = asyncio.get_running_loop().create_task(self._replay())

    async def _replay(self) -> None:
        m = self.market
        tf = m.tf_ns
        while self.clock.speed > 0:
            nxt = m.next_start()
            if nxt is None:
                await asyncio.sleep(0.25)
                continue
            now = self.clock.now()
            if self.cfg.skip_gaps and nxt - now > 2 * tf:
                self.clock.set(nxt)
                self.broker.on_time(self.clock.now())
                now = self.clock.now()
            if now >= nxt + tf:
                played = 0
                while played < 1000:
                    nxt = m.next_start()
                    if nxt is None or nxt + tf > self.clock.now():
                        break
                    self._play_one(flush=False)
                    played += 1
                self.data_hub.flush()
                self._schedule_flush()
                await asyncio.sleep(0)
            else:
                wait = (nxt + tf - now) / self.clock.speed / NS
                await asyncio.sleep(min(max(wait, 0.0005), 0.25))

    # faults and control

    def drop_sockets(self, target: str = "all") -> int:
        n = 0
        if target in ("all", "trade"):
            for c in list(self.trade_hub.conns):
                c.abort()
                n += 1
        if target in ("all", "data"):
            for c in list(self.data_hub.conns):
                c.abort()
                n += 1
        return n

    def _start_drop_task(self) -> None:
        if self._drop_task is None or self._drop_task.done():
            self._drop_task = asyncio.get_running_loop().create_task(self._drop_loop())

    async def _drop_loop(self) -> None:
        while True:
            p = self.faults.active.get("drop_sockets")
            if not p or not p.get("every"):
                return
            await asyncio.sleep(p["every"])
            p = self.faults.active.get("drop_sockets")
            if p:
                self.drop_sockets(p["target"])

    def set_fault(self, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Switch a fault on (or perform it, for drop_sockets without `every` and restart)."""
        p = self.faults.set(name, params or {})
        if name == "drop_sockets":
            if p.get("every"):
                self._start_drop_task()
            else:
                p["dropped"] = self.drop_sockets(p["target"])
        elif name == "refuse_reconnects" and p.get("drop"):
            p["dropped"] = self.drop_sockets(p["target"])
        elif name == "restart":
            self._spawn(self._restart_soon(p["down"]))
        return p

    def clear_faults(self, name: str | None = None) -> None:
        self.faults.clear(name)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart_soon(self, down: float) -> None:
        await asyncio.sleep(0.05)  # let the admin reply that asked for it go out first
        await self.restart(down)

    async def restart(self, down: float = 0.0) -> None:
        """Stop serving (every socket drops), keep the state, serve again on the same port."""
        await self._stop_http()
        if self.store is not None:
            self._flush_now()
            self._build_state(load=True)
        if down > 0:
            await asyncio.sleep(down)
        await self._start_http()
        self.restarts += 1
        if self.clock.speed > 0:
            self._start_replay()

    def reset(self) -> None:
        """Fresh account, no orders, replay back at its start; faults cleared."""
        self.faults.clear()
        if self.store is not None:
            self.store.wipe()
        self._build_state(load=False)
        self.trade_limiter = RateLimiter(self.cfg.rate_limit)
        self.data_limiter = RateLimiter(self.cfg.data_rate_limit)

    def state(self) -> dict[str, Any]:
        m = self.market
        return {
            "clock": iso_us(self.clock.now()),
            "clock_ns": self.clock.now(),
            "is_open": cal.is_open(self.clock.now()),
            "speed": self.clock.speed,
            "bars_played": m.pos,
            "bars_total": len(m.times),
            "current_bar": None if (start := m.current_start()) is None else iso_us(start),
            "timeframe_seconds": m.tf_ns // NS,
            "symbols": list(self.cfg.symbols),
            "prices": {s: self.market.price(s) for s in m.series},
            "faults": self.faults.describe(),
            "connections": {"trade": len(self.trade_hub.conns), "data": len(self.data_hub.conns)},
            "orders": len(self.broker.orders),
            "open_orders": sum(1 for o in self.broker.order_list if o.is_open),
            "positions": {s: str(p.qty) for s, p in self.broker.positions.items()},
            "cash": str(self.broker.cash),
            "restarts": self.restarts,
            "requests": self.requests.summary(),
            "port": self.port,
        }
