"""Inbox and AsyncExecutionEngine against a small in-process fake broker (no network)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from admf.core.enums import OrderStatus, Side
from admf.core.errors import BrokerError
from admf.core.events import Fill, OrderRequest, OrderUpdate
from admf.execution.async_engine import AsyncBroker, AsyncExecutionEngine
from admf.execution.inbox import CommandFailed, ConnectionState, Inbox


class FakeBroker:
    """Acks each submit with NEW then a full fill, after a short await (like a network call)."""

    def __init__(self, fail_start: Exception | None = None) -> None:
        self.fail_start = fail_start
        self.emit = None
        self.calls: list[tuple] = []
        self.loop_thread: str | None = None
        self.closed = False
        self.background: asyncio.Task | None = None

    async def start(self, emit) -> None:
        if self.fail_start:
            raise self.fail_start
        self.emit = emit
        self.loop_thread = threading.current_thread().name
        self.background = asyncio.create_task(asyncio.sleep(3600))

    async def close(self) -> None:
        self.closed = True
        if self.background:
            self.background.cancel()

    async def submit(self, req: OrderRequest) -> None:
        self.calls.append(("submit", req.client_order_id, threading.current_thread().name))
        await asyncio.sleep(0.01)
        self.emit(OrderUpdate(req.client_order_id, OrderStatus.ACCEPTED, 1, "b-" + req.client_order_id))
        self.emit(
            Fill(
                "x-" + req.client_order_id,
                req.client_order_id,
                req.strategy_id,
                req.symbol,
                req.side,
                req.qty,
                100.0,
                2,
            )
        )

    async def cancel(self, client_order_id: str) -> None:
        self.calls.append(("cancel", client_order_id))
        raise BrokerError("order not found")

    async def replace(self, client_order_id, qty=None, limit_price=None, stop_price=None) -> None:
        self.calls.append(("replace", client_order_id, qty, limit_price, stop_price))

    def outcome_unknown(self, exc: BaseException) -> bool:
        return False

    async def cancel_all(self) -> None:
        self.calls.append(("cancel_all",))
        await asyncio.sleep(0.01)


def _req(cid: str) -> OrderRequest:
    return OrderRequest(client_order_id=cid, strategy_id="s1", symbol="SPY", side=Side.BUY, qty=3.0)


def _drain_until(inbox: Inbox, pred, timeout: float = 3.0) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = inbox.get(0.05)
        if ev is not None:
            got.append(ev)
            if pred(got):
                return got
    raise AssertionError(f"condition not met; got {got}")


def test_inbox_fifo_drain_and_timeout():
    inbox = Inbox()
    assert inbox.get(0.01) is None
    for i in range(5):
        inbox.put(i)
    assert len(inbox) == 5
    assert inbox.get() == 0
    assert inbox.drain() == [1, 2, 3, 4]
    assert inbox.drain() == []
    assert inbox.get_nowait() is None


def test_inbox_many_producers_one_consumer():
    inbox = Inbox()

    def produce(k: int) -> None:
        for i in range(1000):
            inbox.put((k, i))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = inbox.drain()
    assert len(got) == 4000
    for k in range(4):
        assert [i for kk, i in got if kk == k] == list(range(1000))  # per-producer order kept


def test_engine_round_trip_commands_and_clean_stop():
    before = set(threading.enumerate())
    broker = FakeBroker()
    assert isinstance(broker, AsyncBroker)
    engine = AsyncExecutionEngine(broker)
    engine.start()
    assert engine.running
    main = threading.current_thread().name
    t0 = time.perf_counter()
    engine.submit(_req("c1"))
    assert time.perf_counter() - t0 < 0.05  # does not wait for the 10 ms "network" call
    got = _drain_until(engine.inbox, lambda g: any(isinstance(e, Fill) for e in g))
    fill = next(e for e in got if isinstance(e, Fill))
    assert (fill.client_order_id, fill.qty, fill.price) == ("c1", 3.0, 100.0)
    assert broker.calls[0][2] == broker.loop_thread != main

    engine.cancel("c1")
    got = _drain_until(engine.inbox, lambda g: any(isinstance(e, CommandFailed) for e in g))
    failed = next(e for e in got if isinstance(e, CommandFailed))
    assert (failed.command, failed.client_order_id, failed.error) == ("cancel", "c1", "BrokerError")

    engine.replace("c1", qty=5.0, limit_price=101.5)
    engine.stop(cancel_open_orders=True)
    assert ("replace", "c1", 5.0, 101.5, None) in broker.calls
    assert broker.calls[-1] == ("cancel_all",)
    assert broker.closed
    assert not engine.running
    states = [e for e in engine.inbox.drain() if isinstance(e, ConnectionState)]
    assert states[-1].state == "stopped"
    time.sleep(0.05)
    assert set(threading.enumerate()) == before  # no leaked threads
    with pytest.raises(RuntimeError):
        engine.submit(_req("c2"))
    engine.stop()  # idempotent


def test_engine_start_failure_raises_and_cleans_up():
    before = set(threading.enumerate())
    engine = AsyncExecutionEngine(FakeBroker(fail_start=BrokerError("request is not authorized")))
    with pytest.raises(BrokerError, match="not authorized"):
        engine.start()
    assert not engine.running
    time.sleep(0.05)
    assert set(threading.enumerate()) == before


async def test_engine_works_inside_a_running_loop():
    """As in a Jupyter cell: the caller's loop is running; the engine must not touch it."""
    caller_loop = asyncio.get_running_loop()
    broker = FakeBroker()
    engine = AsyncExecutionEngine(broker, use_uvloop=False)
    engine.start()
    try:
        assert engine.loop is not caller_loop
        engine.submit(_req("j1"))
        ev = None
        for _ in range(100):
            ev = engine.inbox.get(0.02)
            if isinstance(ev, Fill):
                break
            await asyncio.sleep(0)
        assert isinstance(ev, Fill)
        assert engine.run(asyncio.sleep(0, result=42), timeout=2) == 42
    finally:
        engine.stop()


def test_engine_uses_uvloop_when_installed():
    uvloop = pytest.importorskip("uvloop")
    engine = AsyncExecutionEngine(FakeBroker())
    engine.start()
    try:
        assert isinstance(engine.loop, uvloop.Loop)
    finally:
        engine.stop()
