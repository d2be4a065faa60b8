"""The trade-updates websocket (wss://.../stream): authenticate, listen, hand each update on.

Frames are JSON, in text or binary frames (paper sends binary). The stream itself keeps no
order state: every `trade_updates` message is decoded into a TradeUpdate and given to
`on_update`; after each (re)connect `on_connected` runs (the broker reconciles over REST there,
since events missed while disconnected are never replayed).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import aiohttp
import msgspec

from admf.adapters.alpaca import models as m
from admf.adapters.alpaca.errors import AuthError, KeyRefused
from admf.adapters.alpaca.settings import AlpacaSettings, Credentials
from admf.adapters.alpaca.wsclient import ReconnectingWebSocket
from admf.execution.inbox import ConnectionState

__all__ = ["TradeStream"]

_ENC = msgspec.json.Encoder()
_REFUSED = "Alpaca refused the API key on the trade stream: check ALPACA_API_KEY/ALPACA_API_SECRET and paper_trading"


class TradeStream(ReconnectingWebSocket):
    component = "trade_stream"

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        on_update: Callable[[m.TradeUpdate], None],
        *,
        on_connected: Callable[[], Awaitable[None]] | None = None,
        on_disconnected: Callable[[], None] | None = None,
        on_state: Callable[[ConnectionState], None] | None = None,
        settings: AlpacaSettings | None = None,
    ) -> None:
        super().__init__(url, credentials, settings=settings, on_state=on_state)
        self._on_update = on_update
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self.updates = 0
        self.bad_frames = 0
        self.last_frame_ns = 0  # wall time of the last trade update (benchmarks)

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        t = self.settings.handshake_timeout
        auth = {
            "action": "authenticate",
            "data": {"key_id": self._creds.key_id, "secret_key": self._creds.secret_key},
        }
        await ws.send_str(_ENC.encode(auth).decode())
        while True:
            frame = self._control(await self._recv_data(ws, t))
            if frame is None:
                continue
            stream, data = frame
            if stream == "authorization":
                if data.status != "authorized":
                    raise KeyRefused(_REFUSED)
                break
            if stream == "error" or data.error:
                raise AuthError(f"trade stream error: {self._creds.scrub(data.error or '')}")
        await ws.send_str('{"action":"listen","data":{"streams":["trade_updates"]}}')
        while True:
            frame = self._control(await self._recv_data(ws, t))
            if frame is None:
                continue
            stream, data = frame
            if stream == "listening":
                if "trade_updates" not in (data.streams or ()):
                    raise AuthError("trade stream: listen to trade_updates refused")
                return
            if stream == "authorization" and data.status == "unauthorized":
                raise KeyRefused(_REFUSED)

    def _control(self, data: bytes | str) -> tuple[str, m.Control] | None:
        raw = data.encode() if isinstance(data, str) else data
        if raw == b"\x01":
            return None
        frame = m.FRAME.decode(raw)
        if frame.stream == "trade_updates":
            self._dispatch(frame.data)
            return None
        return frame.stream, m.CONTROL.decode(frame.data)

    def _on_frame(self, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        if raw == b"\x01":  # legacy heartbeat byte
            return
        try:
            frame = m.FRAME.decode(raw)
        except msgspec.DecodeError:
            self.bad_frames += 1
            return
        if frame.stream == "trade_updates":
            self._dispatch(frame.data)

    def expect_updates(self, timeout: float | None) -> None:
        """While orders are open, no trade update for `timeout` seconds means a zombie socket
        (alive, answering pings, sending nothing): reconnect, which also reconciles.
        None switches the check off (an idle account is silent by nature)."""
        if timeout is not None and self.data_timeout is None:
            self._last_data = time.monotonic()
        self.data_timeout = timeout

    def _dispatch(self, data: msgspec.Raw) -> None:
        self.last_frame_ns = time.time_ns()
        self._last_data = time.monotonic()
        try:
            update = m.TRADE_UPDATE.decode(data)
        except msgspec.DecodeError:
            self.bad_frames += 1
            return
        self.updates += 1
        self._on_update(update)

    async def _after_connect(self) -> None:
        if self._on_connected is not None:
            await self._on_connected()

    def _on_disconnect(self) -> None:
        if self._on_disconnected is not None:
            self._on_disconnected()
