"""The live dashboard: a small web server that shows a running session and can stop it.

It runs on a loop of its own on a daemon thread, so a slow browser can never hold up the
session or the order flow. The session's main thread publishes a snapshot (a dict) now and
then; the server keeps the latest one, answers `GET /api/state` with it and pushes it to
every page over server-sent events (`GET /api/events`). `POST /api/stop` with
`{"confirm": true}` asks the session to cancel everything and stop: the main thread sees
`stop_requested` and stops the way Ctrl-C does.

Bound to loopback (the default) it needs no token. Bound to anything else it needs one: every
request must carry it (`?token=...` or `Authorization: Bearer ...`), or it gets 401. The token
is shown once to the person who started the session and never logged (access logs are off,
since URLs carry it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import secrets
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from admf.core.errors import UserError
from admf.runtime.dashboard_page import PAGE

__all__ = ["Dashboard", "is_loopback"]

HISTORY = 5_000  # equity points kept for a page that opens late


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Dashboard:
    """`start()` serves on host:port (port 0 picks a free one); `publish(state)` from any thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, token: str | None = None) -> None:
        self.host = host
        self.port = port
        if token is None and not is_loopback(host):
            token = secrets.token_urlsafe(18)
        self.token = token
        self.stop_requested = threading.Event()
        self.on_stop: Callable[[], None] | None = None
        self._state: dict[str, Any] = {}
        self._state_json = b"{}"
        self._equity: deque[tuple[int, float]] = deque(maxlen=HISTORY)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._clients: set[asyncio.Queue[bytes]] = set()

    def __repr__(self) -> str:  # never the token
        return f"Dashboard(host={self.host!r}, port={self.port})"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        q = f"/?token={self.token}" if self.token else "/"
        return f"http://{host}:{self.port}{q}"

    # -- main thread -------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        ready = threading.Event()
        failed: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failed), name="admf-dashboard", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise UserError(f"the dashboard did not start within {timeout:g}s", field="--dashboard",
                            value=f"{self.host}:{self.port}")
        if failed:
            exc = failed[0]
            raise UserError(f"cannot serve the dashboard on {self.host}:{self.port}: {exc.strerror or exc}"
                            if isinstance(exc, OSError) else f"cannot serve the dashboard: {exc}",
                            field="--dashboard", accepted="a free port, e.g. --dashboard 8050")

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(5.0)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(5.0)
        self._loop = None
        self._thread = None

    def publish(self, state: dict[str, Any]) -> None:
        """Keep `state` as the latest snapshot and push it to every open page."""
        eq = state.get("equity")
        ts = state.get("ts")
        with self._lock:
            if isinstance(eq, int | float) and isinstance(ts, int):
                self._equity.append((ts, float(eq)))
            self._state = state
            self._state_json = json.dumps(state, default=str).encode()
            payload = self._state_json
        loop = self._loop
        if loop is not None and self._clients:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._broadcast, payload)

    # -- server thread -----------------------------------------------------------------------

    def _run(self, ready: threading.Event, failed: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
            self._loop = loop
        except BaseException as exc:  # reported to start() on the main thread
            failed.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/", self._page)
        app.router.add_get("/api/state", self._api_state)
        app.router.add_get("/api/equity", self._api_equity)
        app.router.add_get("/api/events", self._api_events)
        app.router.add_post("/api/stop", self._api_stop)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        for q in list(self._clients):
            q.put_nowait(b"")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if self.token is not None:
            given = request.query.get("token", "")
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                given = auth[7:]
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return web.json_response({"message": "a token is required: open the URL printed at start"},
                                         status=401)
        resp: web.StreamResponse = await handler(request)
        return resp

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def _api_state(self, request: web.Request) -> web.Response:
        with self._lock:
            body = self._state_json
        return web.Response(body=body, content_type="application/json")

    async def _api_equity(self, request: web.Request) -> web.Response:
        with self._lock:
            points = list(self._equity)
        return web.json_response({"ts": [p[0] for p in points], "equity": [p[1] for p in points]})

    async def _api_events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        q: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)
        self._clients.add(q)
        try:
            with self._lock:
                first = self._state_json
            await resp.write(b"data: " + first + b"\n\n")
            while True:
                try:
                    payload = await asyncio.wait_for(q.get(), 15.0)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                if not payload:
                    break
                await resp.write(b"data: " + payload + b"\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(q)
        return resp

    async def _api_stop(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or body.get("confirm") is not True:
            return web.json_response({"message": 'send {"confirm": true} to cancel all and stop'}, status=400)
        self.stop_requested.set()
        if self.on_stop is not None:
            self.on_stop()
        return web.json_response({"stopping": True}, status=202)

    def _broadcast(self, payload: bytes) -> None:
        for q in list(self._clients):
            if q.full():  # a stalled page: drop its oldest update, it only needs the newest
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(payload)
