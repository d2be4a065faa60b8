"""AlpacaMarketData against the emulator's data websocket and bars REST, over loopback.

The reference for every bar is alpaca-py's StockHistoricalDataClient on the same emulator.
"""

from __future__ import annotations

import msgspec
import pytest
from live_support import FAST, Collector

from admf.adapters.alpaca.broker import AlpacaBroker
from admf.adapters.alpaca.errors import StreamError
from admf.adapters.alpaca.market_data import AlpacaMarketData
from admf.core.events import Bar
from admf.execution.async_engine import AsyncExecutionEngine
from admf.execution.inbox import DataGap, TradeTick

runner = pytest.importorskip("admf.emulator.runner")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NS = 1_000_000_000


@pytest.fixture
def emu():
    with runner.run_emulator(start=5) as e:  # clock at 09:35 New York
        yield e


def _start(emu, settings=FAST, **kw) -> tuple[AsyncExecutionEngine, AlpacaMarketData, Collector]:
    broker = AlpacaBroker(
        emu.api_key,
        emu.secret_key,
        trading_url=emu.trading_url,
        stream_url=emu.stream_url,
        data_url=emu.data_url,
        settings=settings,
    )
    opts = dict(
        timeframe="5m",
        stream_url=emu.data_stream_url("iex"),
        data_url=emu.data_url,
        settings=settings,
        close_grace=None,
    )
    opts.update(kw)
    md = AlpacaMarketData(emu.api_key, emu.secret_key, ["SPY"], **opts)
    engine = AsyncExecutionEngine(broker, services=[md])
    engine.start()
    return engine, md, Collector(engine.inbox)


def _reference_bars(emu, minutes: int, start_ns: int, end_ns: int) -> list[tuple]:
    from datetime import UTC, datetime

    from alpaca.data.historical.stock import StockHistoricalDataClient
    from alpaca.data.requests import StockBarsRequest
    from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

    client = StockHistoricalDataClient(emu.api_key, emu.secret_key, url_override=emu.data_url)
    req = StockBarsRequest(
        symbol_or_symbols="SPY",
        timeframe=TimeFrame(minutes, TimeFrameUnit.Minute),
        start=datetime.fromtimestamp(start_ns / NS, UTC),
        end=datetime.fromtimestamp(end_ns / NS, UTC),
    )
    out = client.get_stock_bars(req).data.get("SPY", [])
    return [(int(b.timestamp.timestamp()) * NS, b.open, b.high, b.low, b.close, b.volume) for b in out]


def _tuples(bars: list[Bar]) -> list[tuple]:
    return [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in bars]


def test_live_bars_aggregate_to_the_timeframe(no_thread_leaks, emu):
    engine, md, col = _start(emu, trades=True)
    try:
        t0 = emu.now_ns()
        emu.step(12)  # 09:35 .. 09:47: two complete 5m buckets and a partial one
        col.until(lambda evs: len(col.of(Bar)) >= 2)
        col.until(lambda evs: len(col.of(TradeTick)) >= 12)
        col.settle(0.2)
        bars = col.of(Bar)
    finally:
        engine.stop()
    assert engine.leaked_tasks == []
    assert _tuples(bars) == _reference_bars(emu, 5, t0, t0 + 10 * 60 * NS - 1_000_000)
    assert [b.ts - t0 for b in bars] == [0, 300 * NS]
    assert md.stats["bars_in"] == 12 and md.stats["gaps"] == 0
    ticks = col.of(TradeTick)
    one_min = {b[0]: b for b in _reference_bars(emu, 1, t0, t0 + 12 * 60 * NS - 1_000_000)}
    for t in ticks:  # every trade lies inside its minute bar's range
        b = one_min[t.ts - t.ts % (60 * NS)]
        assert b[3] - 1e-9 <= t.price <= b[2] + 1e-9


def test_warm_up_fetch_bars_pages_through_everything(no_thread_leaks, emu):
    emu.step(40)
    engine, md, _ = _start(emu)
    try:
        now = emu.now_ns()
        start = now - 45 * 60 * NS
        paged = engine.run(md.rest.get_bars("SPY", "1m", start, now, limit=7))  # forces 7 pages
        whole = engine.run(md.fetch_bars("SPY", "1m", start, now))
        five = engine.run(md.fetch_bars("SPY", "5Min", start, now))
    finally:
        engine.stop()
    ref = _reference_bars(emu, 1, start, now)
    assert len(ref) == 45
    assert _tuples(paged) == _tuples(whole) == ref
    assert md.rest.calls >= 8
    assert _tuples(five) == _reference_bars(emu, 5, start, now)


def test_reconnect_after_drop_backfills_the_missed_minutes(no_thread_leaks, emu):
    engine, md, col = _start(emu)
    try:
        t0 = emu.now_ns()
        emu.step(2)
        col.until(lambda evs: md.stats["bars_in"] == 2)
        emu.set_fault("refuse_reconnects", seconds=0.8, target="data", data_code=406, drop=True)
        emu.step(3)  # published while the socket is gone: lost on the stream
        col.until(lambda evs: md.stats["connects"] >= 2, timeout=6)
        emu.step(6)
        col.until(lambda evs: len(col.of(Bar)) >= 2 and col.of(DataGap))
        col.settle(0.2)
    finally:
        engine.stop()
    (gap,) = col.of(DataGap)
    assert (gap.symbol, gap.missing, gap.backfilled) == ("SPY", 3, 3)
    assert (gap.start_ts - t0, gap.end_ts - t0) == (120 * NS, 300 * NS)
    # with the backfilled minutes the 5m bars equal the server's own aggregation
    assert _tuples(col.of(Bar)) == _reference_bars(emu, 5, t0, t0 + 10 * 60 * NS - 1_000_000)
    assert md.stats["disconnects"] >= 1


def test_silent_data_socket_is_replaced(no_thread_leaks, emu):
    settings = msgspec.structs.replace(FAST, data_timeout=0.6)
    engine, md, col = _start(emu, settings=settings, timeframe="1m")
    try:
        emu.step(1)
        col.until(lambda evs: col.of(Bar))
        emu.set_fault("silence", target="data", seconds=1.0)  # connected, pings answered, no data
        emu.step(2)
        col.until(lambda evs: md.stats["connects"] >= 2, timeout=6)
        col.until(lambda evs: not emu.state()["faults"], timeout=3)
        emu.step(1)
        col.until(lambda evs: len(col.of(Bar)) >= 4)
    finally:
        engine.stop()
    bars = col.of(Bar)
    assert [b.ts - bars[0].ts for b in bars] == [0, 60 * NS, 120 * NS, 180 * NS]  # none lost
    assert col.of(DataGap)[0].backfilled == 2


def test_one_data_connection_per_process(no_thread_leaks, emu):
    engine, md, col = _start(emu)
    try:
        broker2 = AlpacaBroker(
            emu.api_key, emu.secret_key, trading_url=emu.trading_url, stream_url=emu.stream_url + "/", settings=FAST
        )
        md2 = AlpacaMarketData(
            emu.api_key,
            emu.secret_key,
            ["SPY"],
            stream_url=emu.data_stream_url("iex"),
            data_url=emu.data_url,
            settings=FAST,
        )
        engine2 = AsyncExecutionEngine(broker2, services=[md2])
        with pytest.raises(StreamError, match="already open"):
            engine2.start()
        assert engine2.leaked_tasks == []
        with pytest.raises(StreamError, match="already open"):  # the failed attempt freed nothing
            engine2.start()
        emu.step(5)
        col.until(lambda evs: col.of(Bar))  # the first connection is unharmed
    finally:
        engine.stop()
