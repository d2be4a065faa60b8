"""Live market data from Alpaca's data websocket (v2/iex, v2/sip or v2/test), as inbox events.

Flow per connection: welcome -> auth -> subscribe (the full current set, again after every
reconnect). 1-minute bars go through a gap check (missing minutes may be backfilled over REST),
then the aggregator to the configured timeframe, then the inbox as core Bar events.
Only one connection per endpoint per process is allowed (Alpaca answers 406 to a second one):
add symbols to the running client with subscribe() instead of opening another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import aiohttp
import msgspec

from admf.adapters.alpaca import models as m
from admf.adapters.alpaca.aggregator import BarAggregator, GapDetector
from admf.adapters.alpaca.errors import AuthError, KeyRefused, StreamError
from admf.adapters.alpaca.rest import AlpacaRest
from admf.adapters.alpaca.settings import DATA_STREAM_URL, DATA_URL, AlpacaSettings, Credentials
from admf.adapters.alpaca.wsclient import ConnectionConflict, ReconnectingWebSocket
from admf.core.events import Bar
from admf.execution.async_engine import Emit
from admf.execution.inbox import DataGap, QuoteTick, TradeTick

__all__ = ["AlpacaMarketData", "MarketDataStream"]

log = logging.getLogger("admf.alpaca.data")

_ENC = msgspec.json.Encoder()


class _Msg(msgspec.Struct, tag_field="T"):
    pass


class _Success(_Msg, tag="success"):
    msg: str = ""


class _Error(_Msg, tag="error"):
    code: int = 0
    msg: str = ""


class _Subscription(_Msg, tag="subscription"):
    trades: list[str] = []
    quotes: list[str] = []
    bars: list[str] = []


class _Bar(_Msg, tag="b"):
    S: str
    t: str
    o: float
    h: float
    l: float
    c: float
    v: float


class _UpdatedBar(_Bar, tag="u"):
    pass


class _Trade(_Msg, tag="t"):
    S: str
    t: str
    p: float
    s: float


class _Quote(_Msg, tag="q"):
    S: str
    t: str
    bp: float
    bs: float
    ap: float
    as_: float = msgspec.field(name="as")


_Known = _Success | _Error | _Subscription | _Bar | _UpdatedBar | _Trade | _Quote
_BATCH = msgspec.json.Decoder(list[_Known], strict=False)
_ONE = msgspec.json.Decoder(_Known, strict=False)
_RAW_BATCH = msgspec.json.Decoder(list[msgspec.Raw])

# Error codes after which reconnecting cannot help.
_FATAL = {402: AuthError, 409: StreamError, 408: StreamError, 411: AuthError}


class MarketDataStream(ReconnectingWebSocket):
    """The data websocket. Delivers decoded messages to `on_messages` (a list per frame)."""

    component = "market_data"
    _in_use: ClassVar[dict[str, MarketDataStream]] = {}

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        on_messages: Callable[[list[Any]], None],
        *,
        bars: Iterable[str] = (),
        trades: Iterable[str] = (),
        quotes: Iterable[str] = (),
        settings: AlpacaSettings | None = None,
        on_state: Any = None,
    ) -> None:
        super().__init__(url, credentials, settings=settings, on_state=on_state)
        self.data_timeout = self.settings.data_timeout
        self._on_messages = on_messages
        self.subs: dict[str, set[str]] = {"bars": set(bars), "trades": set(trades), "quotes": set(quotes)}
        self.acked: dict[str, list[str]] = {}
        self.errors: list[tuple[int, str]] = []
        self._stalled = False
        self.stalls = 0

    async def start(self, wait: bool = True) -> None:
        owner = MarketDataStream._in_use.get(self.url)
        if owner is not None and owner is not self:
            raise StreamError(
                f"a market data connection to {self.url} is already open in this process; "
                "subscribe more symbols on it instead of opening another"
            )
        MarketDataStream._in_use[self.url] = self
        try:
            await super().start(wait)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        await super().close()
        if MarketDataStream._in_use.get(self.url) is self:
            del MarketDataStream._in_use[self.url]

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        t = self.settings.handshake_timeout
        self._expect(await self._recv_data(ws, t), "connected")
        await ws.send_str(
            _ENC.encode({"action": "auth", "key": self._creds.key_id, "secret": self._creds.secret_key}).decode()
        )
        self._expect(await self._recv_data(ws, t), "authenticated")
        if any(self.subs.values()):
            await ws.send_str(self._sub_message("subscribe", self.subs))
            while True:
                msgs = self._decode(await self._recv_data(ws, t))
                sub = next((x for x in msgs if isinstance(x, _Subscription)), None)
                self._check_errors(msgs)
                rest = [x for x in msgs if not isinstance(x, _Subscription | _Success)]
                if rest:
                    self._deliver(rest)
                if sub is not None:
                    self.acked = {"bars": sub.bars, "trades": sub.trades, "quotes": sub.quotes}
                    return

    def _expect(self, data: bytes | str, what: str) -> None:
        msgs = self._decode(data)
        self._check_errors(msgs)
        if not any(isinstance(x, _Success) and x.msg == what for x in msgs):
            raise StreamError(f"market data: expected '{what}'")

    def _check_errors(self, msgs: list[Any]) -> None:
        for x in msgs:
            if isinstance(x, _Error):
                text = self._creds.scrub(x.msg)
                self.errors.append((x.code, text))
                if x.code == 406:
                    raise ConnectionConflict(f"market data: {x.code} {text}", code=x.code)
                if x.code == 402:
                    raise KeyRefused(f"Alpaca refused the API key on the market data stream (error 402 {text}): "
                                     "check ALPACA_API_KEY/ALPACA_API_SECRET", code=x.code)
                cls = _FATAL.get(x.code)
                if cls is not None:
                    raise cls(f"market data: {x.code} {text}", code=x.code)
                if x.code in (401, 404):  # not authenticated / auth timeout: retry
                    raise ConnectionError(f"market data: {x.code} {text}")

    @staticmethod
    def _sub_message(action: str, subs: dict[str, set[str]]) -> str:
        body: dict[str, Any] = {"action": action}
        for k, v in subs.items():
            if v:
                body[k] = sorted(v)
        return _ENC.encode(body).decode()

    def _decode(self, data: bytes | str) -> list[Any]:
        raw = data.encode() if isinstance(data, str) else data
        try:
            if raw[:1] == b"[":
                return _BATCH.decode(raw)
            return [_ONE.decode(raw)]
        except msgspec.ValidationError:
            # An unknown message type in the batch: decode one by one, skipping what we do not know.
            out = []
            items = _RAW_BATCH.decode(raw) if raw[:1] == b"[" else [msgspec.Raw(raw)]
            for item in items:
                with contextlib.suppress(msgspec.ValidationError, msgspec.DecodeError):
                    out.append(_ONE.decode(item))
            return out

    def _on_frame(self, data: bytes | str) -> None:
        msgs = self._decode(data)
        data_msgs = []
        for x in msgs:
            if isinstance(x, _Bar | _Trade | _Quote):
                data_msgs.append(x)
            elif isinstance(x, _Error):
                self.errors.append((x.code, self._creds.scrub(x.msg)))
                log.warning("market data error %s: %s", x.code, self._creds.scrub(x.msg))
            elif isinstance(x, _Subscription):
                self.acked = {"bars": x.bars, "trades": x.trades, "quotes": x.quotes}
        if data_msgs:
            self._last_data = time.monotonic()
            if self._stalled:
                self._stalled = False
                self._state("connected", "market data flowing again")
            self._deliver(data_msgs)

    def _deliver(self, msgs: list[Any]) -> None:
        self._on_messages(msgs)

    async def _after_connect(self) -> None:
        """Watch for a stall: connected and subscribed, yet no data message for stall_timeout
        seconds (a feed that never delivers, a zombie socket): report it once as a "stalled"
        ConnectionState; the next data message reports "connected" again."""
        stall = self.settings.stall_timeout
        if stall is None:
            return
        self._stalled = False
        while True:
            idle = time.monotonic() - self._last_data
            if not self._stalled and idle >= stall and any(self.subs.values()):
                self._stalled = True
                self.stalls += 1
                self._state("stalled", f"connected and subscribed, but no market data for {idle:.0f}s")
            await asyncio.sleep(max(stall - idle, 0.0) if idle < stall else min(stall, 1.0))

    async def update(self, action: str, channel: str, symbols: Iterable[str]) -> None:
        """Add or remove symbols of a channel; sent now if connected, and on every reconnect."""
        syms = set(symbols)
        if action == "subscribe":
            self.subs[channel] |= syms
        else:
            self.subs[channel] -= syms
        ws = self._ws
        if ws is not None and self.connected and not ws.closed and syms:
            await ws.send_str(self._sub_message(action, {channel: syms}))


class AlpacaMarketData:
    """LiveService: bars (aggregated to `timeframe`), optional trades/quotes, gap detection,
    backfill of missing minutes, and REST warm-up via fetch_bars()."""

    def __init__(
        self,
        key_id: str,
        secret_key: str,
        symbols: Iterable[str],
        *,
        timeframe: str = "1m",
        feed: str = "iex",
        stream_url: str | None = None,
        data_url: str = DATA_URL,
        trades: bool = False,
        quotes: bool = False,
        session: str = "rth",
        backfill: bool = True,
        close_grace: float | None = 5.0,
        settings: AlpacaSettings | None = None,
        rest: AlpacaRest | None = None,
    ) -> None:
        self.settings = settings or AlpacaSettings()
        self._creds = Credentials(key_id, secret_key)
        self.symbols = list(dict.fromkeys(symbols))
        self.feed = feed
        self.url = stream_url or f"{DATA_STREAM_URL}/v2/{feed}"
        _, tf_s = m.parse_timeframe(timeframe)
        self.timeframe_s = tf_s
        self.rest = rest or AlpacaRest(key_id, secret_key, data_url=data_url, settings=self.settings)
        self._own_rest = rest is None
        self.backfill = backfill
        self._want_trades = trades
        self._want_quotes = quotes
        self._session_kind = session
        self._close_grace = close_grace
        self._emit: Emit | None = None
        self._stream: MarketDataStream | None = None
        self._queue: asyncio.Queue[tuple[int, list[Any]]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.aggregator: BarAggregator | None = None
        self.gaps = GapDetector(session)
        self.bars_in = 0
        self.bars_out = 0
        self.backfilled = 0

    def __repr__(self) -> str:
        return f"AlpacaMarketData(url={self.url!r}, symbols={self.symbols!r}, timeframe_s={self.timeframe_s})"

    @property
    def stream(self) -> MarketDataStream:
        if self._stream is None:
            raise RuntimeError("market data not started")
        return self._stream

    @property
    def stats(self) -> dict[str, int]:
        s = self._stream
        return {
            "bars_in": self.bars_in,
            "bars_out": self.bars_out,
            "gaps": self.gaps.gaps,
            "missing_minutes": self.gaps.missing,
            "backfilled": self.backfilled,
            "late": self.aggregator.late if self.aggregator else 0,
            "connects": s.connects if s else 0,
            "disconnects": s.disconnects if s else 0,
        }

    async def start(self, emit: Emit) -> None:
        self._emit = emit
        self.aggregator = BarAggregator(self.timeframe_s, self._emit_bar, self._close_grace)
        self._queue = asyncio.Queue()
        await self.rest.open()
        self._stream = MarketDataStream(
            self.url,
            self._creds,
            self._enqueue,
            bars=self.symbols,
            trades=self.symbols if self._want_trades else (),
            quotes=self.symbols if self._want_quotes else (),
            settings=self.settings,
            on_state=emit,
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._process(), name="admf-md-process")]
        if self._close_grace is not None and self.timeframe_s > 60:
            self._tasks.append(loop.create_task(self._timer(), name="admf-md-timer"))
        try:
            await self._stream.start(wait=True)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.close()
        q = self._queue
        if q is not None and self._tasks:
            # Let bars already received reach the inbox before stopping.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(q.join(), 1.0)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        if self._own_rest:
            await self.rest.close()

    async def subscribe(self, symbols: Iterable[str]) -> None:
        syms = [s for s in symbols if s not in self.symbols]
        self.symbols.extend(syms)
        st = self.stream
        await st.update("subscribe", "bars", syms)
        if self._want_trades:
            await st.update("subscribe", "trades", syms)
        if self._want_quotes:
            await st.update("subscribe", "quotes", syms)

    async def fetch_bars(self, symbol: str, timeframe: str, start: Any, end: Any = None) -> list[Bar]:
        """Historical bars over REST (all pages), oldest first: the warm-up before live bars."""
        return await self.rest.get_bars(symbol, timeframe, start, end, feed=self._rest_feed())

    def _rest_feed(self) -> str | None:
        return self.feed if self.feed in ("iex", "sip") else None

    # -- pipeline ----------------------------------------------------------------------------

    def _enqueue(self, msgs: list[Any]) -> None:
        assert self._queue is not None
        self._queue.put_nowait((time.time_ns(), msgs))

    def _emit_bar(self, bar: Bar) -> None:
        self.bars_out += 1
        assert self._emit is not None
        self._emit(bar)

    async def _process(self) -> None:
        q = self._queue
        assert q is not None and self._emit is not None
        emit = self._emit
        while True:
            arrived, msgs = await q.get()
            try:
                for x in msgs:
                    if type(x) is _Bar:
                        await self._on_bar(Bar(x.S, m.parse_ts_ns(x.t), x.o, x.h, x.l, x.c, x.v), arrived)
                    elif type(x) is _Trade:
                        emit(TradeTick(x.S, m.parse_ts_ns(x.t), x.p, x.s))
                    elif type(x) is _Quote:
                        emit(QuoteTick(x.S, m.parse_ts_ns(x.t), x.bp, x.bs, x.ap, x.as_))
            except Exception as exc:  # a bad message must not stop the feed
                log.warning("market data processing failed: %s: %s", type(exc).__name__, exc)
            finally:
                q.task_done()

    async def _on_bar(self, bar: Bar, arrived: int) -> None:
        self.bars_in += 1
        agg = self.aggregator
        assert agg is not None
        gap = self.gaps.check(bar.symbol, bar.ts)
        if gap is not None:
            start, end, missing = gap
            got = 0
            if self.backfill:
                got = await self._backfill(bar.symbol, start, end, arrived)
            assert self._emit is not None
            self._emit(DataGap(bar.symbol, start, end, missing, got, time.time_ns()))
        agg.add(bar, arrived)

    async def _backfill(self, symbol: str, start: int, end: int, arrived: int) -> int:
        try:
            bars = await asyncio.wait_for(
                self.rest.get_bars(symbol, "1Min", start, end - 1, feed=self._rest_feed()), self.settings.timeout
            )
        except Exception as exc:
            log.warning("backfill of %s failed: %s", symbol, type(exc).__name__)
            return 0
        agg = self.aggregator
        assert agg is not None
        n = 0
        for b in bars:
            if start <= b.ts < end:
                agg.add(b, arrived)
                n += 1
        self.backfilled += n
        return n

    async def _timer(self) -> None:
        agg = self.aggregator
        assert agg is not None
        while True:
            await asyncio.sleep(0.5)
            agg.flush_due(time.time_ns())
