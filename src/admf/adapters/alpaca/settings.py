"""Endpoints, credentials and tunables of the Alpaca adapter (defaults are Alpaca's paper API)."""

from __future__ import annotations

import msgspec

__all__ = [
    "DATA_STREAM_URL",
    "DATA_URL",
    "LIVE_URL",
    "PAPER_URL",
    "AlpacaSettings",
    "Credentials",
    "trade_stream_url",
]

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"
DATA_STREAM_URL = "wss://stream.data.alpaca.markets"


def trade_stream_url(trading_url: str) -> str:
    """The trade-updates websocket of a trading host: http(s)://h -> ws(s)://h/stream."""
    base = trading_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    return base + "/stream"


class Credentials:
    """API key pair. Never printed: repr and str show neither part."""

    __slots__ = ("_key_id", "_secret")

    def __init__(self, key_id: str, secret_key: str) -> None:
        if not key_id or not secret_key:
            raise ValueError("Alpaca key id and secret key are both required")
        self._key_id = key_id
        self._secret = secret_key

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def secret_key(self) -> str:
        return self._secret

    def headers(self) -> dict[str, str]:
        return {"APCA-API-KEY-ID": self._key_id, "APCA-API-SECRET-KEY": self._secret}

    def scrub(self, text: str) -> str:
        """`text` with either key replaced by ***, for anything that came off the wire."""
        if self._secret in text:
            text = text.replace(self._secret, "***")
        if self._key_id in text:
            text = text.replace(self._key_id, "***")
        return text

    def __repr__(self) -> str:
        return "Credentials(key_id=***, secret_key=***)"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("Credentials are not picklable")


class AlpacaSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Tunables. Defaults suit the real API; tests shrink the timeouts and backoffs."""

    rate_per_min: int = 200
    rate_burst: int | None = None  # token bucket capacity; None = one minute's allowance
    timeout: float = 10.0  # per HTTP call
    max_retries: int = 4  # for 5xx and timeouts
    rate_limit_patience: float = 120.0  # seconds of queueing behind 429s before RateLimited
    max_reset_wait: float = 60.0  # longest pause an X-Ratelimit-Reset header may impose at once
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    # websockets
    ws_backoff_base: float = 1.0
    ws_backoff_cap: float = 30.0
    ws_conflict_delay: float = 5.0  # minimum wait after HTTP 429 / data error 406 (connection limit)
    heartbeat: float = 10.0  # ping interval; a pong missing for this long means a dead socket
    silence_timeout: float = 30.0  # no frame at all (pongs included) for this long -> reconnect
    data_timeout: float | None = None  # market data: no data message for this long -> reconnect
    # trade stream: with orders open, no trade update for this long -> reconnect (+ reconcile)
    order_silence_timeout: float | None = 60.0
    handshake_timeout: float = 10.0
    # order flow
    poll_interval: float = 5.0  # REST polling of orders while the trade stream is down
    fill_grace: float = 2.0  # an order filled at the broker waits this long for its executions
    reconcile_slack: float = 5.0  # seconds subtracted from the last event time when reconciling
    resend_unsent_on_restart: bool = False
    track_foreign_orders: bool = False
