"""An OCO exit through AlpacaBroker against the emulator (real loopback sockets): one logical order,
two broker orders. Its stop-loss leg's id is bound to it (journaled), the leg's fills are its own,
and the broker's cancel of the sibling after a fill is not a cancel of the order."""

from __future__ import annotations

import pytest
from live_support import FAST, Collector

from admf.adapters.alpaca.broker import AlpacaBroker
from admf.core.enums import OrderStatus, OrderType, Side
from admf.core.events import OCO, Fill, OrderRequest, OrderUpdate
from admf.execution.async_engine import AsyncExecutionEngine
from admf.execution.inbox import CommandFailed
from admf.execution.journal import Journal

runner = pytest.importorskip("admf.emulator.runner")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def live(no_thread_leaks, tmp_path):
    with runner.run_emulator(start=5) as emu:
        journal = Journal(tmp_path / "journal.sqlite")
        broker = AlpacaBroker(emu.api_key, emu.secret_key, trading_url=emu.trading_url, stream_url=emu.stream_url,
                              data_url=emu.data_url, journal=journal, settings=FAST)
        engine = AsyncExecutionEngine(broker)
        engine.start()
        col = Collector(engine.inbox)
        engine.submit(OrderRequest("entry", "s1", "SPY", Side.BUY, 10.0))  # the position the exit closes
        col.until(_ended("entry"))
        yield emu, engine, col, journal
        engine.stop()
        journal.close()


def _ended(cid: str):
    return lambda evs: any(type(e) is OrderUpdate and e.client_order_id == cid and e.status.is_terminal for e in evs)


def _oco(target: float, stop: float) -> OrderRequest:
    return OrderRequest("exit", "s1", "SPY", Side.SELL, 10.0, OrderType.LIMIT, limit_price=target,
                        reason="take_profit", order_class=OCO, stop_loss=stop)


def _members(emu) -> list[tuple[str, str]]:
    return emu.call(lambda srv: [(o.type, o.status) for o in srv.broker.order_list if o.order_class == OCO])


def test_a_cancelled_oco_ends_once_both_members_have(live) -> None:
    emu, engine, col, journal = live
    p = emu.price("SPY")
    engine.submit(_oco(round(p + 5, 2), round(p - 5, 2)))
    col.until(lambda evs: any(type(e) is OrderUpdate and e.client_order_id == "exit" for e in evs))
    legs = journal.leg_ids("exit")
    assert [name for _, name in legs] == ["stop_loss"]
    assert journal.client_id_for_broker_id(legs[0][0]) == "exit"
    engine.cancel("exit")
    col.until(_ended("exit"))
    col.settle(0.3)
    ups = col.of(OrderUpdate, client_order_id="exit")
    assert [u.status for u in ups] == [OrderStatus.ACCEPTED, OrderStatus.CANCELED]
    assert sorted(_members(emu)) == [("limit", "canceled"), ("stop", "canceled")]
    assert not col.of(CommandFailed) and not [f for f in col.of(Fill) if f.client_order_id == "exit"]


@pytest.mark.parametrize(("leg", "kind"), [("stop_loss", "stop"), ("take_profit", "limit")])
def test_the_first_fill_of_either_member_fills_the_order(live, leg: str, kind: str) -> None:
    emu, engine, col, journal = live
    p = emu.price("SPY")
    # marketable at once: the leg's events may reach the stream before the submit's answer binds it
    target, stop = (round(p + 5, 2), round(p + 1, 2)) if leg == "stop_loss" else (round(p - 1, 2), round(p - 5, 2))
    engine.submit(_oco(target, stop))
    col.until(_ended("exit"))
    col.settle(0.3)
    fills = [f for f in col.of(Fill) if f.client_order_id == "exit"]
    assert [(f.side, f.qty, f.price, f.reason) for f in fills] == [(Side.SELL, 10.0, p, leg)]
    ups = col.of(OrderUpdate, client_order_id="exit")
    assert ups[-1].status is OrderStatus.FILLED and ups[-1].filled_qty == 10.0
    assert all(u.status is not OrderStatus.CANCELED for u in ups)  # the sibling's cancel is not the order's
    other = "limit" if kind == "stop" else "stop"
    assert sorted(_members(emu)) == sorted([(kind, "filled"), (other, "canceled")])
    assert [f.exec_id for f in journal.fills("exit")] == [f.exec_id for f in fills]
    assert journal.intent("exit").status == "filled"
