"""The two websockets: trade updates (/stream) and market data (/v2/iex, /v2/sip, /v2/test).

Trade stream: binary frames holding JSON (msgpack when the upgrade asks for it), the
authenticate/listen handshake, one connection per account (HTTP 429 on another upgrade).
Data stream: welcome, auth, additive subscribe / subtractive unsubscribe answered with the full
set, batched data arrays, JSON text or msgpack binary (Timestamp ext for `t`), `T` first in every
map, one authenticated connection per feed (406 on another).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgpack
from aiohttp import WSMsgType, web

from admf.emulator.wire import NS, encode_json, iso_ns

if TYPE_CHECKING:
    from admf.emulator.server import EmulatorServer

CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds")
_MAX_OUTBOX = 20_000
_BATCH = 2_000


def _msgpack_array(parts: list[bytes]) -> bytes:
    n = len(parts)
    if n < 16:
        head = bytes((0x90 | n,))
    elif n < 65536:
        head = b"\xdc" + n.to_bytes(2, "big")
    else:
        head = b"\xdd" + n.to_bytes(4, "big")
    return head + b"".join(parts)


def _json_array(parts: list[bytes]) -> bytes:
    return b"[" + b",".join(parts) + b"]"


class Conn:
    """One websocket with an outbox drained by its own writer task (publishers never await)."""

    __slots__ = ("ws", "transport", "msgpack", "opcode", "outbox", "wake", "task", "closed", "authed",
                 "listening", "subs", "feed", "pending", "on_overflow")

    def __init__(self, ws: web.WebSocketResponse, transport: Any, use_msgpack: bool, text: bool) -> None:
        self.ws = ws
        self.transport = transport
        self.msgpack = use_msgpack
        self.opcode = WSMsgType.TEXT if (text and not use_msgpack) else WSMsgType.BINARY
        self.outbox: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.closed = False
        self.authed = False
        self.listening = False
        self.subs: dict[str, set[str]] = {c: set() for c in CHANNELS}
        self.feed = ""
        self.pending: list[bytes] = []
        self.on_overflow: Callable[[Conn], None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._writer())

    def push(self, frame: bytes) -> None:
        if self.closed:
            return
        self.outbox.append(frame)
        if len(self.outbox) > _MAX_OUTBOX and self.on_overflow is not None:
            self.on_overflow(self)
            return
        self.wake.set()

    async def _writer(self) -> None:
        ws, op = self.ws, self.opcode
        try:
            while not self.closed:
                await self.wake.wait()
                self.wake.clear()
                while self.outbox and not self.closed:
                    await ws.send_frame(self.outbox.popleft(), op)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass

    def abort(self) -> None:
        """Drop the TCP connection with no close frame."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def close(self, code: int = 1000) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=code)

    async def finish(self) -> None:
        self.closed = True
        self.wake.set()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


def _decode(msg: Any) -> Any:
    if msg.type == WSMsgType.TEXT:
        return json.loads(msg.data)
    try:
        return msgpack.unpackb(msg.data)
    except Exception:
        return json.loads(msg.data)


class TradeHub:
    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.conns: set[Conn] = set()

    def _send(self, conn: Conn, obj: dict) -> None:
        conn.push(msgpack.packb(obj) if conn.msgpack else encode_json(obj))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        srv = self.server
        refused = srv.faults.refuse("trade")
        if refused or len(self.conns) >= srv.cfg.max_trade_streams:
            status = refused or 429
            return web.Response(status=status, text="connection limit exceeded" if status == 429 else "refused")
        ws = web.WebSocketResponse(autoping=True, compress=srv.ws_compress, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = Conn(ws, request.transport, "msgpack" in request.headers.get("Content-Type", ""), text=False)
        conn.start()
        self.conns.add(conn)
        srv.track(conn)
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    m = _decode(msg)
                except Exception:
                    self._send(conn, {"stream": "error", "data": {"error": "invalid syntax"}})
                    continue
                if not isinstance(m, dict):
                    self._send(conn, {"stream": "error", "data": {"error": "invalid syntax"}})
                    continue
                action = m.get("action")
                raw = m.get("data")
                data: dict[str, Any] = raw if isinstance(raw, dict) else {}
                if action in ("authenticate", "auth"):
                    key = data.get("key_id", m.get("key"))
                    secret = data.get("secret_key", m.get("secret"))
                    ok = srv.check_keys(key, secret)
                    conn.authed = conn.authed or ok
                    self._send(conn, {"stream": "authorization", "data": {
                        "status": "authorized" if ok else "unauthorized", "action": "authenticate"}})
                elif action == "listen":
                    if not conn.authed:
                        self._send(conn, {"stream": "authorization", "data": {
                            "status": "unauthorized", "action": "listen"}})
                        continue
                    streams = data.get("streams") or []
                    if not isinstance(streams, list):
                        streams = []
                    conn.listening = "trade_updates" in streams
                    self._send(conn, {"stream": "listening", "data": {
                        "streams": ["trade_updates"] if conn.listening else []}})
                else:
                    self._send(conn, {"stream": "error", "data": {"error": f"unrecognized action: {action}"}})
        finally:
            self.conns.discard(conn)
            srv.untrack(conn)
            await conn.finish()
        return ws

    def publish(self, envelope: dict, event: str) -> None:
        """Send one trade update to every listening connection, through the fault switches."""
        listeners = [c for c in self.conns if c.listening and not c.closed]
        if not listeners:
            return
        faults = self.server.faults
        if faults.silent("trade") or faults.drop_update(event):
            return
        copies = 2 if faults.duplicate_update(event) else 1
        delay = faults.update_delay()
        js = mp = None
        for c in listeners:
            if c.msgpack:
                mp = mp or msgpack.packb(envelope)
                frame = mp
            else:
                js = js or encode_json(envelope)
                frame = js
            for _ in range(copies):
                if delay > 0:
                    asyncio.get_running_loop().call_later(delay, c.push, frame)
                else:
                    c.push(frame)


class DataHub:
    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.conns: set[Conn] = set()
        self._lists: dict[str, tuple[list, ...]] = {}
        self._trade_id = 0
        self.daily: dict[str, list] = {}  # symbol -> [day_start_ns, o, h, l, c, v, n, sum(vw * v)]
        self.daily_stale = True

    def _control(self, conn: Conn, obj: dict) -> None:
        conn.push(msgpack.packb([obj]) if conn.msgpack else encode_json([obj]))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        srv = self.server
        feed = request.match_info.get("feed", "iex")
        if srv.faults.refuse("data") == 429:
            return web.Response(status=429, text="connection limit exceeded")
        ws = web.WebSocketResponse(autoping=True, compress=srv.ws_compress, max_msg_size=4 << 20)
        await ws.prepare(request)
        conn = Conn(ws, request.transport, "msgpack" in request.headers.get("Content-Type", ""), text=True)
        conn.feed = feed
        conn.on_overflow = self._overflow
        conn.start()
        self.conns.add(conn)
        srv.track(conn)
        self._control(conn, {"T": "success", "msg": "connected"})
        timer = asyncio.get_running_loop().call_later(srv.cfg.data_auth_timeout, self._auth_timeout, conn)
        try:
            hk, hs = request.headers.get("APCA-API-KEY-ID"), request.headers.get("APCA-API-SECRET-KEY")
            if hk is not None and not await self._auth(conn, hk, hs):
                return ws
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    m = _decode(msg)
                except Exception:
                    m = None
                if not isinstance(m, dict) or not isinstance(m.get("action"), str):
                    self._control(conn, {"T": "error", "code": 400, "msg": "invalid syntax"})
                    continue
                action = m["action"]
                if action == "auth":
                    if not await self._auth(conn, m.get("key"), m.get("secret")):
                        break
                elif action in ("subscribe", "unsubscribe"):
                    if not conn.authed:
                        self._control(conn, {"T": "error", "code": 401, "msg": "not authenticated"})
                        continue
                    self._subscribe(conn, m, action == "subscribe")
                else:
                    self._control(conn, {"T": "error", "code": 400, "msg": "invalid syntax"})
        finally:
            timer.cancel()
            self.conns.discard(conn)
            srv.untrack(conn)
            await conn.finish()
        return ws

    async def _auth(self, conn: Conn, key: Any, secret: Any) -> bool:
        srv = self.server
        if conn.authed:
            self._control(conn, {"T": "error", "code": 403, "msg": "already authenticated"})
            return True
        error = None
        if not srv.check_keys(key, secret):
            error = (402, "auth failed")
        elif conn.feed == "sip" and not srv.cfg.sip_allowed:
            error = (409, "insufficient subscription")
        elif srv.faults.refuse("data") or sum(
            1 for c in self.conns if c.authed and c.feed == conn.feed and not c.closed
        ) >= srv.cfg.max_data_connections:
            error = (406, "connection limit exceeded")
        if error is not None:
            self._control(conn, {"T": "error", "code": error[0], "msg": error[1]})
            await self._drain_and_close(conn)
            return False
        conn.authed = True
        self._control(conn, {"T": "success", "msg": "authenticated"})
        return True

    async def _drain_and_close(self, conn: Conn) -> None:
        for _ in range(50):
            if not conn.outbox:
                break
            await asyncio.sleep(0.002)
        await conn.close()

    def _auth_timeout(self, conn: Conn) -> None:
        if not conn.authed and not conn.closed:
            self._control(conn, {"T": "error", "code": 404, "msg": "auth timeout"})
            asyncio.get_running_loop().create_task(self._drain_and_close(conn))

    def _overflow(self, conn: Conn) -> None:
        conn.outbox.clear()
        conn.outbox.append(msgpack.packb([{"T": "error", "code": 407, "msg": "slow client"}]) if conn.msgpack
                           else encode_json([{"T": "error", "code": 407, "msg": "slow client"}]))
        conn.wake.set()
        asyncio.get_running_loop().create_task(self._drain_and_close(conn))

    def _subscribe(self, conn: Conn, m: dict, add: bool) -> None:
        changes: dict[str, set[str]] = {}
        for ch in CHANNELS:
            v = m.get(ch)
            if v is None:
                continue
            if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
                self._control(conn, {"T": "error", "code": 400, "msg": "invalid syntax"})
                return
            changes[ch] = {s.upper() if s != "*" else s for s in v}
        new = {ch: set(conn.subs[ch]) for ch in CHANNELS}
        for ch, syms in changes.items():
            if add:
                new[ch] |= syms
            else:
                new[ch] -= syms
        limit = self.server.cfg.symbol_limit
        if limit is not None and len(new["trades"] | new["quotes"]) > limit:
            self._control(conn, {"T": "error", "code": 405, "msg": "symbol limit exceeded"})
            return
        conn.subs = new
        trades = sorted(new["trades"])
        reply: dict[str, Any] = {"T": "subscription"}
        for ch in CHANNELS:
            reply[ch] = sorted(new[ch])
        reply["corrections"] = trades
        reply["cancelErrors"] = list(trades)
        self._control(conn, reply)

    # publishing

    def _cols(self, s: Any) -> tuple[list, ...]:
        cols = self._lists.get(s.symbol)
        if cols is None or len(cols[0]) != len(s.t):
            cols = (s.t.tolist(), s.o.tolist(), s.h.tolist(), s.l.tolist(), s.c.tolist(),
                    s.v.tolist(), s.n.tolist(), s.vw.tolist())
            self._lists[s.symbol] = cols
        return cols

    def publish(self, items: list, bar_start: int, bar_end: int, new_day: bool) -> None:
        """Queue the messages for bars that just became current (sent on flush())."""
        srv = self.server
        conns = [c for c in self.conns if c.authed and not c.closed]
        if not conns:
            self.daily_stale = True  # rebuilt from the series when someone listens again
            return
        reseeded = self.daily_stale
        if reseeded:
            srv.seed_daily()  # includes the bars of this step
            self.daily_stale = False
        silent = srv.faults.silent("data")
        half = srv.cfg.spread / 2
        for s, i in items:
            sym = s.symbol
            t, o, h, l, c, v, n, vw = self._cols(s)
            if reseeded:
                d = self.daily[sym]
            else:
                d = self._update_daily(sym, bar_start, o[i], h[i], l[i], c[i], v[i], n[i], vw[i], new_day)
            if silent:
                continue
            enc_mp: dict[str, bytes] = {}
            enc_js: dict[str, bytes] = {}
            for conn in conns:
                subs = conn.subs
                for ch in ("quotes", "trades", "bars", "dailyBars"):
                    chs = subs[ch]
                    if not chs or (sym not in chs and "*" not in chs):
                        continue
                    cache = enc_mp if conn.msgpack else enc_js
                    part = cache.get(ch)
                    if part is None:
                        msg = self._message(ch, sym, s, i, t[i], o[i], h[i], l[i], c[i], v[i], n[i], vw[i],
                                            bar_end, half, d, conn.msgpack)
                        part = msgpack.packb(msg) if conn.msgpack else encode_json(msg)
                        cache[ch] = part
                    conn.pending.append(part)
                if len(conn.pending) >= _BATCH:
                    self._flush_conn(conn)

    def _update_daily(self, sym: str, bar_start: int, o: float, h: float, l: float, c: float, v: int, n: int,
                      vw: float, new_day: bool) -> list:
        d = self.daily.get(sym)
        if d is None or new_day:
            d = self.daily[sym] = [self.server.day_start_ns, o, h, l, c, v, n, vw * v]
        else:
            d[2] = max(d[2], h)
            d[3] = min(d[3], l)
            d[4] = c
            d[5] += v
            d[6] += n
            d[7] += vw * v
        return d

    def _ts(self, ns: int, mp: bool) -> Any:
        return msgpack.Timestamp(ns // NS, ns % NS) if mp else iso_ns(ns)

    def _message(self, ch: str, sym: str, s: Any, i: int, t: int, o: float, h: float, l: float, c: float,
                 v: int, n: int, vw: float, bar_end: int, half: float, d: list, mp: bool) -> dict:
        tape = "B" if sym in ("SPY", "IWM", "DIA", "GLD") else "C"
        if ch == "bars":
            return {"T": "b", "S": sym, "o": o, "h": h, "l": l, "c": c, "v": v, "t": self._ts(t, mp),
                    "n": n, "vw": vw}
        if ch == "trades":
            self._trade_id += 1
            return {"T": "t", "S": sym, "i": self._trade_id, "x": "V", "p": c, "s": max(1, v // max(n, 1)),
                    "c": ["@"], "t": self._ts(bar_end - 1_000_000, mp), "z": tape}
        if ch == "quotes":
            size = 1 + (v % 9)
            return {"T": "q", "S": sym, "bx": "V", "bp": round(c - half, 4), "bs": size, "ax": "V",
                    "ap": round(c + half, 4), "as": size + 1, "c": ["R"],
                    "t": self._ts(bar_end - 2_000_000, mp), "z": tape}
        vwap = round(d[7] / d[5], 4) if d[5] else c
        return {"T": "d", "S": sym, "o": d[1], "h": d[2], "l": d[3], "c": d[4], "v": d[5],
                "t": self._ts(d[0], mp), "n": d[6], "vw": vwap}

    def _flush_conn(self, conn: Conn) -> None:
        if conn.pending:
            parts, conn.pending = conn.pending, []
            conn.push(_msgpack_array(parts) if conn.msgpack else _json_array(parts))

    def flush(self) -> None:
        for conn in self.conns:
            self._flush_conn(conn)
