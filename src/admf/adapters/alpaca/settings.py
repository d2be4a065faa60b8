"""Endpoints, credentials and tunables of the Alpaca adapter (defaults are Alpaca's paper API)."""

from __future__ import annotations

import ssl

import aiohttp
import msgspec
from yarl import URL

from admf.adapters.alpaca.errors import BadEndpoint, EmptyKey, EndpointUnreachable

__all__ = [
    "DATA_STREAM_URL",
    "DATA_URL",
    "ENDPOINTS",
    "LIVE_URL",
    "PAPER_URL",
    "AlpacaSettings",
    "Credentials",
    "check_url",
    "trade_stream_url",
    "unreachable",
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


# kind -> (what it is, where the user sets it, accepted schemes)
ENDPOINTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "trading": ("the broker", "--base-url (live_trading.base_url)", ("http", "https")),
    "data": ("the market data API", "--data-url (live_trading.data_url)", ("http", "https")),
    "trade_stream": ("the trade stream", "--stream-url (live_trading.stream_url)", ("ws", "wss")),
    "market_data": ("the market data stream", "--data-stream-url (live_trading.data_stream_url) and live_trading.feed",
                    ("ws", "wss")),
}


def shown_url(url: str) -> str:
    """`url` without any user:password part, for messages."""
    try:
        u = URL(url)
    except (ValueError, TypeError):
        return "<unparsable URL>"
    return str(u.with_user(None)) if u.user or u.password else url


def check_url(url: str, kind: str) -> str:
    """`url` if it can be an endpoint of `kind` (see ENDPOINTS), else BadEndpoint naming it."""
    what, hint, schemes = ENDPOINTS[kind]
    try:
        u = URL(url)
    except (ValueError, TypeError):
        u = None
    want = " or ".join(f"{x}://" for x in schemes)
    if u is None or not u.scheme or u.scheme not in schemes:
        got = "no" if u is None or not u.scheme or not u.host else f"the {u.scheme}://"
        raise BadEndpoint(f"{what} URL {shown_url(url)!r} has {got} scheme, it needs {want}; check {hint}")
    if not u.host:
        raise BadEndpoint(f"{what} URL {shown_url(url)!r} has no host; check {hint}")
    return url


def unreachable(url: str, kind: str, exc: BaseException) -> EndpointUnreachable:
    """The one-line error for a first connection to `url` that failed with `exc`."""
    what, hint, _ = ENDPOINTS[kind]
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        why = "TLS handshake failed (is it a plain http/ws server? then use http:// or ws://)"
    elif isinstance(exc, aiohttp.ClientConnectorDNSError):
        why = "host not found"
    elif isinstance(exc, ConnectionRefusedError) or "Connect call failed" in str(exc):
        why = "connection refused"
    elif isinstance(exc, TimeoutError):
        why = "no answer (timed out)"
    else:
        why = f"{type(exc).__name__}"
    return EndpointUnreachable(f"cannot reach {what} at {shown_url(url)}: {why}; check {hint}")


class Credentials:
    """API key pair. Never printed: repr and str show neither part."""

    __slots__ = ("_key_id", "_secret")

    def __init__(self, key_id: str, secret_key: str) -> None:
        for value, name in ((key_id, "key id"), (secret_key, "secret key")):
            if not value or not value.strip():
                raise EmptyKey(f"the Alpaca API {name} is empty: set ALPACA_API_KEY and ALPACA_API_SECRET "
                               "(or APCA_API_KEY_ID and APCA_API_SECRET_KEY), or live_trading.api_key/secret_key")
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

    # rate limit: the server's X-Ratelimit-* headers rule; rate_per_min is the limit assumed
    # until they arrive (and for servers that send none), per window of rate_window seconds
    rate_per_min: int = 200
    rate_window: float = 60.0
    rate_reserve: int = 4  # calls of each window never used: room for clock and counting errors
    reset_slack: float = 1.0  # seconds added to X-Ratelimit-Reset (clock offset when there is no Date)
    timeout: float = 10.0  # per HTTP call
    max_retries: int = 4  # for 5xx and timeouts
    rate_limit_patience: float = 120.0  # seconds of queueing behind 429s before RateLimited
    max_reset_wait: float = 65.0  # longest pause an X-Ratelimit-Reset header may impose at once
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    # websockets
    ws_backoff_base: float = 1.0
    ws_backoff_cap: float = 30.0
    ws_conflict_delay: float = 5.0  # minimum wait after HTTP 429 / data error 406 (connection limit)
    heartbeat: float = 10.0  # ping interval; a pong missing for this long means a dead socket
    silence_timeout: float = 30.0  # no frame at all (pongs included) for this long -> reconnect
    data_timeout: float | None = None  # market data: no data message for this long -> reconnect
    # market data: connected and subscribed but no data message for this long -> a "stalled"
    # ConnectionState (once per silence; "connected" again with the next message)
    stall_timeout: float | None = 120.0
    # trade stream: with orders open, no trade update for this long -> reconnect (+ reconcile)
    order_silence_timeout: float | None = 60.0
    handshake_timeout: float = 10.0
    # order flow
    poll_interval: float = 5.0  # REST polling of orders while the trade stream is down
    fill_grace: float = 2.0  # an order filled at the broker waits this long for its executions
    reconcile_slack: float = 5.0  # seconds subtracted from the last event time when reconciling
    resend_unsent_on_restart: bool = False
    track_foreign_orders: bool = False
