"""Reconnecting websocket client shared by the trade-updates and market-data streams.

One task per stream runs connect -> handshake -> read until the socket dies, then waits with
exponential backoff and jitter (longer after HTTP 429 or a 406 connection-limit reply) and
starts over. A socket is declared dead when a ping gets no frame back within `heartbeat`
seconds, when nothing at all arrives for `silence_timeout` seconds, or (market data) when no
data message arrives for `data_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import aiohttp
import msgspec

from admf.adapters.alpaca.errors import AlpacaError, AlpacaInputError, AuthError, NotAStream, StreamError
from admf.adapters.alpaca.ratelimit import Backoff
from admf.adapters.alpaca.settings import ENDPOINTS, AlpacaSettings, Credentials, check_url, shown_url, unreachable
from admf.execution.inbox import ConnectionState

__all__ = ["ConnectionConflict", "ReconnectingWebSocket"]

log = logging.getLogger("admf.alpaca.ws")

_CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


class ConnectionConflict(AlpacaError):
    """The server refused a second connection (HTTP 429 on upgrade, data error 406)."""


class _Dead(Exception):
    """The socket is gone or silent; reconnect."""


class ReconnectingWebSocket:
    """Base class; subclasses implement _handshake(ws) and _on_frame(data)."""

    component = "ws"

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        settings: AlpacaSettings | None = None,
        on_state: Callable[[ConnectionState], None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = check_url(url, self.component) if self.component in ENDPOINTS else url
        self._creds = credentials
        self.settings = s = settings or AlpacaSettings()
        self._backoff = Backoff(s.ws_backoff_base, s.ws_backoff_cap)
        self._on_state = on_state
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._connected = asyncio.Event() if _has_loop() else None
        self._first: asyncio.Future[None] | None = None
        self._last_frame = 0.0
        self._last_data = 0.0
        self._established = False
        self.data_timeout: float | None = None  # set by streams where silence of data is abnormal
        self.connects = 0
        self.disconnects = 0
        self.frames = 0
        self.fatal: BaseException | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, connected={self.connected})"

    @property
    def connected(self) -> bool:
        return self._connected is not None and self._connected.is_set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, wait: bool = True) -> None:
        """Start the connection task; with `wait`, return after the first attempt's outcome.

        Raises AuthError / StreamError when the first attempt fails for good (bad keys, feed
        not in plan). Transient failures do not raise: the task keeps reconnecting.
        """
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        if self._connected is None:
            self._connected = asyncio.Event()
        self._closing = False
        self._first = loop.create_future()
        self._session = aiohttp.ClientSession()
        self._task = loop.create_task(self._run(), name=f"admf-{self.component}")
        if wait:
            await asyncio.shield(self._first)

    async def close(self) -> None:
        self._closing = True
        ws, task = self._ws, self._task
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def wait_connected(self, timeout: float | None = None) -> bool:
        assert self._connected is not None
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def drop(self) -> None:
        """Close the current socket (the task reconnects); for tests and manual recovery."""
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()

    # -- subclass hooks ----------------------------------------------------------------------

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        raise NotImplementedError

    def _on_frame(self, data: bytes | str) -> None:
        raise NotImplementedError

    async def _after_connect(self) -> None:
        """Runs as its own task after each successful handshake (e.g. reconciliation)."""

    def _on_disconnect(self) -> None:
        """Called once per lost connection, before the backoff wait."""

    # -- internals ---------------------------------------------------------------------------

    def _state(self, state: str, detail: str = "", attempt: int = 0) -> None:
        if self._on_state is not None:
            self._on_state(ConnectionState(self.component, state, time.time_ns(), detail, attempt))

    def _first_done(self, exc: BaseException | None = None) -> None:
        f = self._first
        if f is not None and not f.done():
            if exc is None:
                f.set_result(None)
            else:
                f.set_exception(exc)

    async def _run(self) -> None:
        attempt = 0
        try:
            while not self._closing:
                self._state("connecting" if self.connects == 0 else "reconnecting", "", attempt)
                self._established = False
                conflict = False
                detail = "closed"
                try:
                    await self._connect_and_read()
                except (AuthError, StreamError, AlpacaInputError) as exc:
                    self.fatal = exc
                    self._state("failed", str(exc))
                    self._first_done(exc)
                    return
                except ConnectionConflict as exc:
                    conflict = True
                    detail = str(exc)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    detail = self._creds.scrub(f"{type(exc).__name__}: {exc}")
                finally:
                    self._ws = None
                    if self.connected:
                        assert self._connected is not None
                        self._connected.clear()
                        self.disconnects += 1
                        self._on_disconnect()
                if self._closing:
                    break
                if self._established:
                    attempt = 0
                delay = self._backoff.delay(attempt)
                if conflict:
                    delay = max(self.settings.ws_conflict_delay, delay)
                attempt += 1
                self._state("disconnected", detail, attempt)
                self._first_done()
                await asyncio.sleep(delay)
        finally:
            self._state("stopped")
            self._first_done()

    async def _connect_and_read(self) -> None:
        assert self._session is not None
        s = self.settings
        starting = self._first is not None and not self._first.done()
        try:
            ws = await self._session.ws_connect(
                self.url,
                autoping=False,
                heartbeat=None,
                headers=self._headers,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
                max_msg_size=16 * 1024 * 1024,
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (406, 429):
                raise ConnectionConflict(f"connection refused with HTTP {exc.status}", status=exc.status) from None
            if starting and self.component in ENDPOINTS:
                # Alpaca's streams authenticate inside the socket: any other answer to the upgrade
                # means the URL is not a stream of this kind (a wrong path, an unknown feed).
                what, hint, _ = ENDPOINTS[self.component]
                raise NotAStream(f"{what} URL {shown_url(self.url)} does not accept a websocket "
                                 f"(HTTP {exc.status} to the upgrade); check {hint}", status=exc.status) from None
            if exc.status in (401, 403):
                raise AuthError(f"websocket upgrade refused with HTTP {exc.status}", status=exc.status) from None
            raise _Dead(f"websocket upgrade refused with HTTP {exc.status}") from None
        except (aiohttp.ClientConnectorError, aiohttp.ClientSSLError) as exc:
            if starting and self.component in ENDPOINTS:
                raise unreachable(self.url, self.component, exc) from None
            raise
        self._ws = ws
        try:
            self._last_frame = self._last_data = time.monotonic()
            await asyncio.wait_for(self._handshake(ws), s.handshake_timeout)
            self.connects += 1
            self._established = True
            assert self._connected is not None
            self._connected.set()
            self._state("connected")
            self._first_done()
            after = asyncio.get_running_loop().create_task(self._guard(self._after_connect()))
            pinger = asyncio.get_running_loop().create_task(self._pinger(ws))
            try:
                await self._read(ws)
            finally:
                pinger.cancel()
                after.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pinger
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await after
        finally:
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 1.0)

    async def _guard(self, coro) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: after-connect task failed: %s", self.component, type(exc).__name__)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        s = self.settings
        T = aiohttp.WSMsgType
        while True:
            timeout = s.silence_timeout
            dt = self.data_timeout
            if dt is not None:
                timeout = min(timeout, max(0.01, dt - (time.monotonic() - self._last_data)))
            try:
                msg = await ws.receive(timeout)
            except TimeoutError:
                if dt is not None and time.monotonic() - self._last_data >= dt:
                    raise _Dead(f"no data for {dt:g}s") from None
                raise _Dead(f"silent for {s.silence_timeout:g}s") from None
            now = time.monotonic()
            self._last_frame = now
            t = msg.type
            if t is T.BINARY or t is T.TEXT:
                self.frames += 1
                self._on_frame(msg.data)
            elif t is T.PING:
                await ws.pong(msg.data)
            elif t is T.PONG:
                pass
            elif t in _CLOSED:
                if self._closing:
                    return
                raise _Dead(f"socket closed ({t.name}, code {ws.close_code})")

    async def _pinger(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        hb = self.settings.heartbeat
        while not ws.closed:
            sent = time.monotonic()
            await ws.ping()
            await asyncio.sleep(hb)
            if self._last_frame < sent:
                # Nothing (not even the pong) since the ping: a half-open socket.
                log.info("%s: no pong within %.1fs; reconnecting", self.component, hb)
                await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)
                return

    async def _recv_data(self, ws: aiohttp.ClientWebSocketResponse, timeout: float) -> bytes | str:
        """Next data frame during the handshake (pings answered on the way)."""
        T = aiohttp.WSMsgType
        while True:
            msg = await ws.receive(timeout)
            self._last_frame = time.monotonic()
            if msg.type is T.BINARY or msg.type is T.TEXT:
                return msg.data
            if msg.type is T.PING:
                await ws.pong(msg.data)
            elif msg.type in _CLOSED:
                raise _Dead(f"socket closed during handshake (code {ws.close_code})")

    @staticmethod
    def _json(data: bytes | str) -> object:
        return msgspec.json.decode(data.encode() if isinstance(data, str) else data)


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
