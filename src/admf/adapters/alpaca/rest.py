"""Async REST client for Alpaca's trading API (and the historical bars of its data API).

One keep-alive aiohttp session; every call is rate limited (RateLimiter: follows the server's
X-Ratelimit-* window with a reserve, cancels before everything else, a deadline drops a call
unsent), has a timeout, and retries 5xx / timeouts with exponential backoff and jitter. Order
submission is idempotent by client_order_id: after a timeout, a 5xx or a 422 duplicate, the
order is looked up before anything is resent.

Until a host has answered once, failing to connect to it is a bad input, not an outage: the
call raises EndpointUnreachable (a UserError naming the URL and the flag) without retrying, and
a 401 is KeyRefused. Once the host has answered, the same failures are retried as transient.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

import aiohttp
import msgspec

from admf.adapters.alpaca import models as m
from admf.adapters.alpaca.errors import (
    AlpacaError,
    AuthError,
    BrokerTimeout,
    BrokerUnavailable,
    DuplicateClientOrderId,
    InsufficientBuyingPower,
    KeyRefused,
    NotFound,
    OrderRejected,
    RateLimited,
    StaleRequest,
)
from admf.adapters.alpaca.ratelimit import Backoff, RateLimiter
from admf.adapters.alpaca.settings import (
    DATA_URL,
    PAPER_URL,
    AlpacaSettings,
    Credentials,
    check_url,
    unreachable,
)
from admf.core.events import Bar

__all__ = ["AlpacaRest", "CANCEL", "LAST_RESORT", "NORMAL"]

LAST_RESORT = -1  # a cancel-all (the stop's, the kill switch's): before everything, may spend the whole reserve
CANCEL = 0  # priority of cancels and the calls of a stop: served first, may spend part of the reserve
NORMAL = 1  # new orders and queries
NEW_ORDER = "order"  # the rate limiter's tag of POST /v2/orders (withdrawn by a cancel-all)

log = logging.getLogger("admf.alpaca.rest")

# Failing to connect at all (refused, TLS mismatch, unknown host): a wrong URL if it happens
# before the host ever answered.
_CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ClientSSLError)
_KEY_HINT = "check ALPACA_API_KEY/ALPACA_API_SECRET and paper_trading"

_JSON = msgspec.json.Encoder()
_ERROR_BODY = msgspec.json.Decoder(dict)
_MULTI = msgspec.json.Decoder(list[dict])


class AlpacaRest:
    """REST client. Use as `async with AlpacaRest(...) as rest:` or call open()/close()."""

    def __init__(
        self,
        key_id: str,
        secret_key: str,
        *,
        trading_url: str = PAPER_URL,
        data_url: str = DATA_URL,
        settings: AlpacaSettings | None = None,
        user_agent: str = "admf",
        trace_configs: list[aiohttp.TraceConfig] | None = None,
    ) -> None:
        self._creds = Credentials(key_id, secret_key)
        self._trace_configs = trace_configs
        self.trading_url = check_url(trading_url, "trading").rstrip("/")
        self.data_url = check_url(data_url, "data").rstrip("/")
        self._answered: set[bool] = set()  # data_api values whose host has answered at least once
        self.settings = s = settings or AlpacaSettings()
        self._backoff = Backoff(s.backoff_base, s.backoff_cap)
        self._trading_limiter: RateLimiter | None = None
        self._data_limiter: RateLimiter | None = None
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=s.timeout)
        self._user_agent = user_agent
        self.calls = 0  # requests actually sent, retries included
        self.retries = 0
        self.rate_limited = 0  # 429 answers seen
        self._never_sent: set[str] = set()  # client_order_ids of submits cancelled before leaving

    def __repr__(self) -> str:
        return f"AlpacaRest(trading_url={self.trading_url!r}, data_url={self.data_url!r})"

    @property
    def credentials(self) -> Credentials:
        return self._creds

    @property
    def limiter(self) -> RateLimiter:
        if self._trading_limiter is None:
            raise RuntimeError("AlpacaRest is not open")
        return self._trading_limiter

    async def open(self) -> None:
        if self._session is not None:
            return
        s = self.settings
        self._trading_limiter, self._data_limiter = (
            RateLimiter(s.rate_per_min, reserve=s.rate_reserve, urgent=CANCEL, window=s.rate_window,
                        reset_slack=s.reset_slack, max_reset_wait=s.max_reset_wait)
            for _ in range(2)
        )
        headers = {**self._creds.headers(), "User-Agent": self._user_agent, "Accept": "application/json"}
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(limit=32, keepalive_timeout=60),
            trace_configs=self._trace_configs,
        )

    async def close(self) -> None:
        for limiter in (self._trading_limiter, self._data_limiter):
            if limiter is not None:
                limiter.close()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> AlpacaRest:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transport ---------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        data_api: bool = False,
        retry: bool = True,
        priority: int = NORMAL,
        not_after: float | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> tuple[int, bytes]:
        """Send one call (with queueing on 429 and, if `retry`, retries on 5xx/timeouts).

        `priority` orders the calls waiting for the rate limit (CANCEL before NORMAL);
        `not_after` (a time.monotonic() deadline) raises StaleRequest, unsent, if the call
        cannot go before it (a 429 counts as not sent). `on_send` is called each time the call
        leaves for the wire. Returns (status, body) for 2xx; raises a mapped AlpacaError otherwise.
        """
        if self._session is None:
            await self.open()
        session = self._session
        assert session is not None
        limiter = self._data_limiter if data_api else self._trading_limiter
        assert limiter is not None
        base = self.data_url if data_api else self.trading_url
        url = base + path
        payload = None if body is None else _JSON.encode(body)
        headers = {"Content-Type": "application/json"} if payload is not None else None
        qs = None if params is None else {k: _param(v) for k, v in params.items() if v is not None}
        tag = NEW_ORDER if method == "POST" and path == "/v2/orders" else ""
        attempt = 0
        n429 = 0
        first_429 = 0.0
        while True:
            try:
                await limiter.acquire(priority, not_after, tag)
            except StaleRequest as exc:
                raise StaleRequest(str(exc), method=method, path=path) from None
            self.calls += 1
            if on_send is not None:
                on_send()
            error: AlpacaError | None = None
            answered = False
            status = 0
            raw = b""
            try:
                async with session.request(
                    method, url, params=qs, data=payload, headers=headers, allow_redirects=False
                ) as resp:
                    answered = True
                    limiter.observe_headers(resp.headers)
                    raw = await resp.read()
                    status = resp.status
            except TimeoutError:
                error = BrokerTimeout(f"no answer within {self.settings.timeout:g}s", method=method, path=path)
            except aiohttp.ClientError as exc:
                if not answered and data_api not in self._answered and isinstance(exc, _CONNECT_ERRORS):
                    raise unreachable(base, "data" if data_api else "trading", exc) from None
                error = BrokerUnavailable(self._creds.scrub(f"{type(exc).__name__}: {exc}"), method=method, path=path)
            finally:
                if not answered:
                    limiter.release()
            if answered:
                self._answered.add(data_api)
            if error is None:
                if status < 300:
                    return status, raw
                if status == 429:
                    self.rate_limited += 1
                    now = time.monotonic()
                    if n429 == 0:
                        first_429 = now
                    elif now - first_429 > self.settings.rate_limit_patience:
                        raise self._error(status, raw, method, path) from None
                    # The headers closed the window until its reset if they could; else back off.
                    if limiter.budget.wait(now) == 0.0:
                        limiter.block_for(self._backoff.delay(n429))
                    n429 += 1
                    continue
                error = self._error(status, raw, method, path)
                if status < 500:
                    raise error from None
            if not retry or attempt >= self.settings.max_retries:
                raise error from None
            self.retries += 1
            delay = self._backoff.delay(attempt)
            log.warning("%s %s failed (%s); retry %d in %.2fs", method, path, type(error).__name__, attempt + 1, delay)
            await asyncio.sleep(delay)
            attempt += 1

    def _error(self, status: int, raw: bytes, method: str, path: str) -> AlpacaError:
        code = 0
        message = ""
        try:
            body = _ERROR_BODY.decode(raw)
            code = int(body.get("code") or 0)
            message = str(body.get("message") or "")
        except (msgspec.DecodeError, ValueError, TypeError):
            message = raw[:200].decode("utf-8", "replace")
        message = self._creds.scrub(message) or f"HTTP {status}"
        low = message.lower()
        kw: dict[str, Any] = {"status": status, "code": code, "method": method, "path": path}
        is_order = path.startswith("/v2/orders") or path.startswith("/v2/positions")
        if status == 401 or code == 40110000:
            return KeyRefused(f"Alpaca refused the API key (HTTP {status}): {_KEY_HINT} (server said: {message})",
                              **kw)
        if status == 403:
            if "buying power" in low:
                return InsufficientBuyingPower(message, **kw)
            if is_order:
                return OrderRejected(message, **kw)
            return AuthError(message, **kw)
        if status == 404:
            return NotFound(message, **kw)
        if status == 422 or status == 400:
            if "client_order_id" in low and "unique" in low:
                return DuplicateClientOrderId(message, **kw)
            return OrderRejected(message, **kw)
        if status == 429:
            return RateLimited(message, **kw)
        if status >= 500:
            return BrokerUnavailable(message, **kw)
        return AlpacaError(message, **kw)

    # -- orders ------------------------------------------------------------------------------

    async def submit_order(
        self, body: dict[str, Any], *, not_after: float | None = None, priority: int = NORMAL
    ) -> m.Order:
        """POST /v2/orders, idempotent by body['client_order_id'] (resolves dup/timeout/5xx by lookup).

        `not_after` (time.monotonic()) bounds the wait for the rate limit: StaleRequest means the
        order was never sent. It applies until the first attempt reaches the server; once one
        may have, the order is resolved by lookup and resent whatever the time.
        """
        cid = str(body["client_order_id"])
        attempt = 0
        deadline = not_after
        sent = False

        def on_send() -> None:
            nonlocal sent
            sent = True

        while True:
            try:
                _, raw = await self.request(
                    "POST", "/v2/orders", body=body, retry=False, priority=priority, not_after=deadline,
                    on_send=on_send,
                )
                return m.ORDER.decode(raw)
            except asyncio.CancelledError:
                if not sent:
                    self._never_sent.add(cid)  # cancelled while it waited for the rate limit
                raise
            except DuplicateClientOrderId:
                found = await self.get_order_by_client_order_id(cid, priority=priority)
                if found is not None:
                    return found
                raise
            except BrokerUnavailable:
                # The order may have been accepted before the failure: look before resending.
                deadline = None
                found = await self.get_order_by_client_order_id(cid, priority=priority)
                if found is not None:
                    return found
                if attempt >= self.settings.max_retries:
                    raise
                self.retries += 1
                await asyncio.sleep(self._backoff.delay(attempt))
                attempt += 1

    def never_sent(self, client_order_id: str) -> bool:
        """Whether a submit_order of this id was cancelled before any attempt left for the wire
        (asked once: the record is dropped). Such an order surely is not at the broker."""
        if client_order_id in self._never_sent:
            self._never_sent.discard(client_order_id)
            return True
        return False

    async def get_order_by_client_order_id(self, client_order_id: str, *, priority: int = NORMAL) -> m.Order | None:
        try:
            _, raw = await self.request(
                "GET", "/v2/orders:by_client_order_id", params={"client_order_id": client_order_id},
                priority=priority,
            )
        except NotFound:
            return None
        return m.ORDER.decode(raw)

    async def get_order(self, order_id: str, *, priority: int = NORMAL) -> m.Order | None:
        try:
            _, raw = await self.request("GET", f"/v2/orders/{order_id}", priority=priority)
        except NotFound:
            return None
        return m.ORDER.decode(raw)

    async def list_orders(
        self,
        status: str = "open",
        *,
        after: Any = None,
        until: Any = None,
        limit: int = 500,
        direction: str = "asc",
        nested: bool | None = None,
        symbols: list[str] | None = None,
        priority: int = NORMAL,
    ) -> list[m.Order]:
        params = {
            "status": status,
            "after": after,
            "until": until,
            "limit": limit,
            "direction": direction,
            "nested": nested,
            "symbols": ",".join(symbols) if symbols else None,
        }
        _, raw = await self.request("GET", "/v2/orders", params=params, priority=priority)
        return m.ORDERS.decode(raw)

    async def replace_order(
        self,
        order_id: str,
        *,
        qty: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
        client_order_id: str | None = None,
        priority: int = NORMAL,
    ) -> m.Order:
        body = m.replace_body(qty, limit_price, stop_price, client_order_id)
        _, raw = await self.request("PATCH", f"/v2/orders/{order_id}", body=body, retry=False, priority=priority)
        return m.ORDER.decode(raw)

    async def cancel_order(self, order_id: str, *, priority: int = CANCEL) -> None:
        await self.request("DELETE", f"/v2/orders/{order_id}", priority=priority)

    async def cancel_all_orders(self, *, priority: int = LAST_RESORT) -> list[tuple[str, int]]:
        """DELETE /v2/orders: (order id, HTTP status of that cancel) per open order. Always sent
        as LAST_RESORT (whatever `priority` says): it must not wait for the next window. New
        orders still queued behind the rate limit are withdrawn first (StaleRequest, never sent):
        nothing asked before a cancel-all reaches the broker after it."""
        if self._trading_limiter is not None:
            self._trading_limiter.withdraw(NEW_ORDER, "not sent: a cancel-all came first")
        _, raw = await self.request("DELETE", "/v2/orders", priority=min(priority, LAST_RESORT))
        if not raw.strip():
            return []
        return [(str(x.get("id", "")), int(x.get("status", 0))) for x in _MULTI.decode(raw)]

    # -- account -----------------------------------------------------------------------------

    async def get_account(self, *, priority: int = NORMAL) -> m.Account:
        _, raw = await self.request("GET", "/v2/account", priority=priority)
        return m.ACCOUNT.decode(raw)

    async def get_positions(self, *, priority: int = NORMAL) -> list[m.Position]:
        _, raw = await self.request("GET", "/v2/positions", priority=priority)
        return m.POSITIONS.decode(raw)

    async def get_clock(self, *, priority: int = NORMAL) -> m.Clock:
        _, raw = await self.request("GET", "/v2/clock", priority=priority)
        return m.CLOCK.decode(raw)

    async def get_fill_activities(
        self,
        *,
        after: Any = None,
        until: Any = None,
        page_size: int = 100,
        max_pages: int = 100,
        priority: int = NORMAL,
    ) -> list[m.FillActivity]:
        """FILL activities oldest first, following page_token (= id of the last item)."""
        out: list[m.FillActivity] = []
        token: str | None = None
        for _ in range(max_pages):
            params = {
                "after": after,
                "until": until,
                "direction": "asc",
                "page_size": page_size,
                "page_token": token,
            }
            _, raw = await self.request("GET", "/v2/account/activities/FILL", params=params, priority=priority)
            page = m.ACTIVITIES.decode(raw)
            out.extend(page)
            if len(page) < page_size:
                break
            token = page[-1].id
        return out

    # -- historical data ---------------------------------------------------------------------

    async def get_bars(
        self,
        symbol: str,
        timeframe: str,
        start: Any,
        end: Any = None,
        *,
        feed: str | None = None,
        adjustment: str = "raw",
        limit: int = 10000,
        max_pages: int = 1000,
    ) -> list[Bar]:
        """GET /v2/stocks/{symbol}/bars over every page, oldest first. `timeframe` as '5m' or '5Min'."""
        tf, _ = m.parse_timeframe(timeframe)
        bars: list[Bar] = []
        token: str | None = None
        for _ in range(max_pages):
            params = {
                "timeframe": tf,
                "start": start,
                "end": end,
                "feed": feed,
                "adjustment": adjustment,
                "limit": limit,
                "page_token": token,
            }
            _, raw = await self.request("GET", f"/v2/stocks/{symbol}/bars", params=params, data_api=True)
            page = m.BARS_PAGE.decode(raw)
            got = page.bars
            if isinstance(got, dict):
                got = got.get(symbol, [])
            for b in got or ():
                bars.append(m.wire_bar(symbol, b))
            token = page.next_page_token
            if not token:
                break
        return bars


def _param(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        # Large ints are ns timestamps; small ones (limit, page_size) stay numbers.
        return m.format_ts(v) if v > 10**15 else str(v)
    if isinstance(v, datetime):
        return m.format_ts(m.datetime_ns(v))
    if isinstance(v, date):
        return v.isoformat()
    return str(v)
