"""Trade-updates and market-data websockets: alpaca-py's stream clients and raw protocol frames."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import msgpack
from alpaca.data.live.stock import StockDataStream
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest
from alpaca.trading.stream import TradingStream

from admf.emulator.testing import TEST_KEY, TEST_SECRET

AUTH_TRADE = {"action": "authenticate", "data": {"key_id": TEST_KEY, "secret_key": TEST_SECRET}}
LISTEN = {"action": "listen", "data": {"streams": ["trade_updates"]}}


async def _poll(pred, timeout: float = 5.0):
    for _ in range(int(timeout / 0.01)):
        got = pred()
        if got:
            return got
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def _stop(stream, task: asyncio.Task) -> None:
    # Close the socket first: a cancelled websockets client otherwise waits out its 10 s close timeout.
    await stream.stop_ws()
    await stream.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_alpaca_trading_stream_gets_lifecycle_events(emulator_factory, trading_client) -> None:
    emu = emulator_factory(partial_fill_prob=1.0, seed=3)
    tc = trading_client(emu)
    events: list[TradeUpdate] = []

    async def on_update(u: TradeUpdate) -> None:
        events.append(u)

    ts = TradingStream(emu.api_key, emu.secret_key, url_override=emu.stream_url)
    ts.subscribe_trade_updates(on_update)
    task = asyncio.create_task(ts._run_forever())
    try:
        await _poll(lambda: emu.call(lambda s: any(c.listening for c in s.trade_hub.conns)))
        price = Decimal(repr(emu.price("SPY")))
        o = await asyncio.to_thread(tc.submit_order, MarketOrderRequest(symbol="SPY", qty=10, side="buy",
                                                                        time_in_force="day"))
        await asyncio.to_thread(emu.step, 6)  # partial fills continue bar by bar
        await _poll(lambda: any(e.event == "fill" for e in events))
        lim = await asyncio.to_thread(tc.submit_order, LimitOrderRequest(
            symbol="SPY", qty=1, limit_price=1.0, side="buy", time_in_force="day"))
        await asyncio.to_thread(tc.cancel_order_by_id, lim.id)
        await _poll(lambda: any(e.event == "canceled" for e in events))
    finally:
        await _stop(ts, task)
    mine = [e for e in events if e.order.id == o.id]
    kinds = [e.event for e in mine]
    assert kinds[0] == "new" and kinds[-1] == "fill" and set(kinds[1:-1]) == {"partial_fill"}
    execs = mine[1:]
    # Per-execution quantities add up to the order; position_qty is the running position.
    assert sum(Decimal(str(e.qty)) for e in execs) == 10
    running = 0
    for e in execs:
        running += Decimal(str(e.qty))
        assert Decimal(str(e.position_qty)) == running
        assert Decimal(str(e.order.filled_qty)) == running
        assert e.execution_id is not None and e.timestamp is not None
    assert Decimal(str(execs[0].price)) == price
    assert len({e.execution_id for e in execs}) == len(execs)
    assert [e.event for e in events if e.order.id == lim.id] == ["new", "pending_cancel", "canceled"]


async def test_alpaca_data_stream_gets_replayed_bars_trades_quotes(emulator_factory) -> None:
    emu = emulator_factory(symbols=["SPY"])
    got: list = []

    async def on_any(x) -> None:
        got.append(x)

    ds = StockDataStream(emu.api_key, emu.secret_key, url_override=emu.data_stream_url("iex"))
    ds.subscribe_bars(on_any, "SPY")
    ds.subscribe_trades(on_any, "SPY")
    ds.subscribe_quotes(on_any, "SPY")
    task = asyncio.create_task(ds._run_forever())
    try:
        await _poll(lambda: emu.call(lambda s: any(c.subs["bars"] for c in s.data_hub.conns)))
        await asyncio.to_thread(emu.step, 3)
        await _poll(lambda: sum(1 for x in got if type(x).__name__ == "Bar") == 3)
    finally:
        await _stop(ds, task)
    s = emu.call(lambda srv: srv.market.series["SPY"])
    bars = [x for x in got if type(x).__name__ == "Bar"]
    assert [b.close for b in bars] == s.c[1:4].tolist()
    assert [b.open for b in bars] == s.o[1:4].tolist()
    assert [int(b.timestamp.timestamp()) * 10**9 for b in bars] == s.t[1:4].tolist()
    trades = [x for x in got if type(x).__name__ == "Trade"]
    quotes = [x for x in got if type(x).__name__ == "Quote"]
    assert [t.price for t in trades] == s.c[1:4].tolist()
    assert all(q.bid_price < t.price < q.ask_price for q, t in zip(quotes, trades, strict=True))


async def test_test_feed_streams_fakepaca(emulator) -> None:
    got: list = []

    async def on_trade(t) -> None:
        got.append(t)

    ds = StockDataStream(emulator.api_key, emulator.secret_key, url_override=emulator.data_stream_url("test"))
    ds.subscribe_trades(on_trade, "FAKEPACA")
    task = asyncio.create_task(ds._run_forever())
    try:
        await _poll(lambda: emulator.call(lambda s: any(c.subs["trades"] for c in s.data_hub.conns)))
        await asyncio.to_thread(emulator.step, 2)
        await _poll(lambda: len(got) == 2)
    finally:
        await _stop(ds, task)
    assert {t.symbol for t in got} == {"FAKEPACA"}
    assert got[1].price == emulator.price("FAKEPACA")


async def test_data_protocol_json_mode(emulator) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(emulator.data_stream_url("sip")) as ws:
        first = await ws.receive()
        assert first.type == aiohttp.WSMsgType.TEXT and json.loads(first.data) == [
            {"T": "success", "msg": "connected"}]
        await ws.send_str(json.dumps({"action": "auth", "key": TEST_KEY, "secret": TEST_SECRET}))
        assert json.loads((await ws.receive()).data) == [{"T": "success", "msg": "authenticated"}]
        await ws.send_str(json.dumps({"action": "subscribe", "bars": ["SPY"], "trades": ["AAPL"]}))
        sub = json.loads((await ws.receive()).data)
        assert sub == [{"T": "subscription", "trades": ["AAPL"], "quotes": [], "bars": ["SPY"], "updatedBars": [],
                        "dailyBars": [], "statuses": [], "lulds": [], "corrections": ["AAPL"],
                        "cancelErrors": ["AAPL"]}]
        await ws.send_str(json.dumps({"action": "subscribe", "bars": ["FAKEPACA"], "dailyBars": ["SPY"]}))
        sub = json.loads((await ws.receive()).data)[0]
        assert sub["bars"] == ["FAKEPACA", "SPY"] and sub["dailyBars"] == ["SPY"] and sub["trades"] == ["AAPL"]
        await ws.send_str(json.dumps({"action": "unsubscribe", "bars": ["FAKEPACA"], "trades": ["AAPL"]}))
        sub = json.loads((await ws.receive()).data)[0]
        assert sub["bars"] == ["SPY"] and sub["trades"] == [] and sub["corrections"] == []
        await asyncio.to_thread(emulator.step, 3)
        frame = await asyncio.wait_for(ws.receive(), 5)
        msgs = json.loads(frame.data)
        # One batched array for the three bars, each map with T first, and the running daily bar.
        assert [m["T"] for m in msgs] == ["b", "d", "b", "d", "b", "d"]
        assert all(next(iter(m)) == "T" for m in msgs)
        s = emulator.call(lambda srv: srv.market.series["SPY"])
        bars = [m for m in msgs if m["T"] == "b"]
        assert [m["c"] for m in bars] == s.c[1:4].tolist()
        assert bars[0]["t"] == "2024-01-02T14:31:00Z" and {"n", "vw"} <= set(bars[0])
        daily = [m for m in msgs if m["T"] == "d"][-1]
        assert daily["o"] == s.o[0] and daily["c"] == s.c[3] and daily["v"] == int(s.v[:4].sum())
        assert daily["h"] == s.h[:4].max() and daily["t"] == "2024-01-02T05:00:00Z"


async def test_data_protocol_msgpack_timestamps(emulator) -> None:
    headers = {"Content-Type": "application/msgpack"}
    async with aiohttp.ClientSession() as http, http.ws_connect(emulator.data_stream_url(), headers=headers) as ws:
        first = await ws.receive()
        assert first.type == aiohttp.WSMsgType.BINARY
        assert msgpack.unpackb(first.data) == [{"T": "success", "msg": "connected"}]
        await ws.send_bytes(msgpack.packb({"action": "auth", "key": TEST_KEY, "secret": TEST_SECRET}))
        assert msgpack.unpackb((await ws.receive()).data)[0]["msg"] == "authenticated"
        await ws.send_bytes(msgpack.packb({"quotes": ["SPY"], "action": "subscribe"}))
        await ws.receive()
        await asyncio.to_thread(emulator.step)
        [q] = msgpack.unpackb((await asyncio.wait_for(ws.receive(), 5)).data)
        assert list(q)[:2] == ["T", "S"] and q["T"] == "q"
        assert isinstance(q["t"], msgpack.Timestamp)
        # The quote is stamped inside the bar's minute, 2 ms before it closes.
        assert q["t"].to_unix_nano() == 1_704_205_920 * 10**9 - 2_000_000


async def test_trade_stream_protocol(emulator, rest) -> None:
    r = rest(emulator)
    async with aiohttp.ClientSession() as http, http.ws_connect(emulator.stream_url) as ws:
        await ws.send_str(json.dumps(LISTEN))
        msg = await ws.receive()
        assert msg.type == aiohttp.WSMsgType.BINARY  # JSON inside binary frames, as paper sends them
        assert json.loads(msg.data) == {"stream": "authorization",
                                        "data": {"status": "unauthorized", "action": "listen"}}
        await ws.send_str(json.dumps({"action": "authenticate", "data": {"key_id": TEST_KEY, "secret_key": "x"}}))
        assert json.loads((await ws.receive()).data)["data"]["status"] == "unauthorized"
        await ws.send_str(json.dumps(AUTH_TRADE))
        assert json.loads((await ws.receive()).data) == {
            "stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}}
        await ws.send_str(json.dumps(LISTEN))
        assert json.loads((await ws.receive()).data) == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
        resp = await asyncio.to_thread(r.order, qty=1, client_order_id="ts-1")
        assert resp.status_code == 200
        new = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        fill = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert new["stream"] == "trade_updates" and new["data"]["event"] == "new"
        assert new["data"]["order"]["client_order_id"] == "ts-1" and new["data"]["timestamp"].endswith("Z")
        d = fill["data"]
        assert d["event"] == "fill" and d["qty"] == "1" and d["position_qty"] == "1"
        assert d["price"] == d["order"]["filled_avg_price"] and d["order"]["status"] == "filled"
        # listen with no streams stops updates.
        await ws.send_str(json.dumps({"action": "listen", "data": {"streams": []}}))
        assert json.loads((await ws.receive()).data) == {"stream": "listening", "data": {"streams": []}}
        await asyncio.to_thread(r.order, qty=1)
        try:
            extra = await asyncio.wait_for(ws.receive(), 0.3)
        except TimeoutError:
            extra = None
        assert extra is None


async def test_trade_stream_msgpack_codec(emulator, rest) -> None:
    headers = {"Content-Type": "application/msgpack"}
    async with aiohttp.ClientSession() as http, http.ws_connect(emulator.stream_url, headers=headers) as ws:
        await ws.send_str(json.dumps(AUTH_TRADE))
        assert msgpack.unpackb((await ws.receive()).data)["data"]["status"] == "authorized"
        await ws.send_str(json.dumps(LISTEN))
        await ws.receive()
        await asyncio.to_thread(rest(emulator).order, qty=2)
        new = msgpack.unpackb((await asyncio.wait_for(ws.receive(), 5)).data)
        assert new["data"]["event"] == "new" and new["data"]["order"]["qty"] == "2"


async def test_alpaca_parses_replaced_expired_rejected(emulator, trading_client) -> None:
    tc = trading_client(emulator)
    events: list[TradeUpdate] = []

    async def on_update(u: TradeUpdate) -> None:
        events.append(u)

    ts = TradingStream(emulator.api_key, emulator.secret_key, url_override=emulator.stream_url)
    ts.subscribe_trade_updates(on_update)
    task = asyncio.create_task(ts._run_forever())
    try:
        await _poll(lambda: emulator.call(lambda s: any(c.listening for c in s.trade_hub.conns)))
        o = await asyncio.to_thread(tc.submit_order, LimitOrderRequest(
            symbol="SPY", qty=1, limit_price=1.0, side="buy", time_in_force="day"))
        new = await asyncio.to_thread(tc.replace_order_by_id, o.id, ReplaceOrderRequest(limit_price=2.0))
        await asyncio.to_thread(emulator.set_fault, "reject_orders")
        rej = await asyncio.to_thread(tc.submit_order, MarketOrderRequest(symbol="SPY", qty=1, side="buy",
                                                                          time_in_force="day"))
        await asyncio.to_thread(emulator.advance_to, "2024-01-02T21:00:00Z")  # the close: DAY orders expire
        await _poll(lambda: any(e.event == "expired" for e in events))
    finally:
        await _stop(ts, task)
    got = [(e.event, str(e.order.id)) for e in events]
    assert got == [("new", str(o.id)), ("pending_replace", str(o.id)), ("replaced", str(o.id)), ("new", str(new.id)),
                   ("rejected", str(rej.id)), ("expired", str(new.id))]
    assert events[1].order.status == "pending_replace"
    assert events[2].order.status == "replaced" and str(events[2].order.replaced_by) == str(new.id)
    assert events[-1].order.expired_at is not None


async def test_header_auth_and_short_auth_forms(emulator) -> None:
    keys = {"APCA-API-KEY-ID": TEST_KEY, "APCA-API-SECRET-KEY": TEST_SECRET}
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(emulator.data_stream_url("iex"), headers=keys) as ws:
            assert json.loads((await ws.receive()).data)[0]["msg"] == "connected"
            assert json.loads((await ws.receive()).data) == [{"T": "success", "msg": "authenticated"}]
            await ws.send_str(json.dumps({"action": "subscribe", "bars": ["SPY"]}))
            assert json.loads((await ws.receive()).data)[0]["bars"] == ["SPY"]
        async with http.ws_connect(emulator.stream_url) as ws:
            await ws.send_str(json.dumps({"action": "auth", "key": TEST_KEY, "secret": TEST_SECRET}))
            assert json.loads((await ws.receive()).data)["data"]["status"] == "authorized"
