"""A market-data stream that is connected and subscribed but never delivers (the emulator's
"silence" fault: pings answered, no data) is reported as a "stalled" ConnectionState, once,
and as "connected" again when data flows."""

from __future__ import annotations

import msgspec
import pytest
from live_support import FAST, Collector

from admf.adapters.alpaca.broker import AlpacaBroker
from admf.adapters.alpaca.market_data import AlpacaMarketData
from admf.adapters.alpaca.settings import AlpacaSettings
from admf.core.events import Bar
from admf.execution.async_engine import AsyncExecutionEngine
from admf.execution.inbox import ConnectionState

runner = pytest.importorskip("admf.emulator.runner")

STALL = msgspec.structs.replace(FAST, stall_timeout=0.6, silence_timeout=5.0)


def _states(col: Collector, state: str) -> list[ConnectionState]:
    return [e for e in col.of(ConnectionState, component="market_data") if e.state == state]


def test_default_stall_timeout_is_documented_and_two_bar_minutes():
    assert AlpacaSettings().stall_timeout == 120.0


def test_a_silent_data_stream_is_reported_stalled_once_then_connected_when_data_flows(no_thread_leaks):
    with runner.run_emulator(start=5) as emu:
        broker = AlpacaBroker(emu.api_key, emu.secret_key, trading_url=emu.trading_url, stream_url=emu.stream_url,
                              data_url=emu.data_url, settings=STALL)
        md = AlpacaMarketData(emu.api_key, emu.secret_key, ["SPY"], timeframe="1m",
                              stream_url=emu.data_stream_url("iex"), data_url=emu.data_url, settings=STALL,
                              close_grace=None, backfill=False)
        engine = AsyncExecutionEngine(broker, services=[md])
        engine.start()
        try:
            col = Collector(engine.inbox)
            emu.step(1)
            col.until(lambda evs: any(isinstance(e, Bar) for e in evs))
            assert not _states(col, "stalled")
            emu.set_fault("silence", target="data")  # connected, pings answered, bars not sent
            for _ in range(3):
                emu.step(1)
            col.until(lambda evs: bool(_states(col, "stalled")), timeout=5)
            col.settle(1.5)  # well past another stall_timeout: still one report
            stalled = _states(col, "stalled")
            assert len(stalled) == 1 and md.stream.stalls == 1
            assert "no market data" in stalled[0].detail
            assert md.stream.connected  # a stall is reported, not a disconnect
            bars = len(col.of(Bar))
            emu.clear_faults("silence")
            emu.step(1)
            col.until(lambda evs: len([e for e in evs if isinstance(e, Bar)]) > bars, timeout=5)
            back = _states(col, "connected")
            assert back and back[-1].ts > stalled[0].ts and "flowing again" in back[-1].detail
        finally:
            engine.stop()
