"""AlpacaBroker + AsyncExecutionEngine against the Alpaca emulator over real loopback sockets.

Independent checks go through alpaca-py (Alpaca's own client) talking to the same emulator.
"""

from __future__ import annotations

import math
import time

import pytest
from live_support import FAST, Collector

from admf.adapters.alpaca.broker import AlpacaBroker
from admf.core.enums import OrderStatus, OrderType, Side
from admf.core.events import Fill, OrderRequest, OrderUpdate
from admf.execution.async_engine import AsyncExecutionEngine
from admf.execution.inbox import CommandFailed, ConnectionState
from admf.execution.journal import Journal

runner = pytest.importorskip("admf.emulator.runner")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def emu():
    with runner.run_emulator(start=5) as e:  # 5 bars played: 09:35 New York, session open
        yield e


@pytest.fixture
def ref(emu):
    """alpaca-py's TradingClient on the same emulator: the independent view of the account."""
    from alpaca.trading.client import TradingClient

    tc = TradingClient(emu.api_key, emu.secret_key, paper=True, url_override=emu.trading_url)
    tc._retry, tc._retry_wait = 0, 0
    return tc


def _orders_at_emulator(ref, cid_prefix: str) -> list:
    from alpaca.trading.enums import QueryOrderStatus
    from alpaca.trading.requests import GetOrdersRequest

    got = ref.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500))
    return [o for o in got if o.client_order_id.startswith(cid_prefix)]


def _session(emu, journal: Journal | None, settings=FAST) -> tuple[AsyncExecutionEngine, AlpacaBroker, Collector]:
    broker = AlpacaBroker(
        emu.api_key,
        emu.secret_key,
        trading_url=emu.trading_url,
        stream_url=emu.stream_url,
        data_url=emu.data_url,
        journal=journal,
        settings=settings,
    )
    engine = AsyncExecutionEngine(broker)
    engine.start()
    return engine, broker, Collector(engine.inbox)


@pytest.fixture
def live(no_thread_leaks, emu, tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    engine, broker, col = _session(emu, journal)
    yield engine, broker, col, journal
    engine.stop()
    journal.close()
    assert engine.leaked_tasks == []


def _req(cid: str, side: Side = Side.BUY, qty: float = 3.0, **kw) -> OrderRequest:
    return OrderRequest(client_order_id=cid, strategy_id="s1", symbol="SPY", side=side, qty=qty, **kw)


def _filled(cid: str):
    return lambda evs: any(
        isinstance(e, OrderUpdate) and e.client_order_id == cid and e.status.is_terminal for e in evs
    )


def _resting_buy_limit(emu) -> float:
    """A buy limit below the last price (so it rests now) that the next bar's low reaches."""
    for _ in range(50):
        s = emu.call(lambda srv: srv.market.series["SPY"])
        p = s.ptr
        cur, nxt_low = float(s.c[p - 1]), float(s.l[p])
        limit = math.ceil(nxt_low * 100 + 1) / 100  # at or above the next low: it will fill
        if limit < cur - 0.01:
            return limit
        emu.step(1)
    raise AssertionError("no suitable bar found")


def test_submit_fill_reaches_the_inbox_once(live, emu, ref):
    engine, broker, col, journal = live
    t0 = time.perf_counter()
    engine.submit(_req("mkt-1", qty=3.0))
    assert time.perf_counter() - t0 < 0.05  # the main thread never waits for the network (~10 us)
    col.until(_filled("mkt-1"))
    col.settle(0.3)
    (fill,) = col.of(Fill)
    remote = ref.get_order_by_client_id("mkt-1")
    assert (fill.qty, fill.side, fill.symbol) == (3.0, Side.BUY, "SPY")
    assert fill.price == pytest.approx(float(remote.filled_avg_price))
    statuses = [u.status for u in col.of(OrderUpdate, client_order_id="mkt-1")]
    assert statuses[-1] is OrderStatus.FILLED and statuses.count(OrderStatus.FILLED) == 1
    last = col.of(OrderUpdate)[-1]
    assert (last.filled_qty, last.broker_order_id) == (3.0, str(remote.id))
    assert float(ref.get_open_position("SPY").qty) == 3.0
    assert [f.exec_id for f in journal.fills("mkt-1")] == [fill.exec_id]
    assert journal.intent("mkt-1").broker_order_id == str(remote.id)


def test_limit_replace_then_cancel(live, emu, ref):
    engine, broker, col, journal = live
    price = emu.price("SPY")
    low = round(price * 0.9, 2)
    engine.submit(_req("lim-1", qty=5.0, order_type=OrderType.LIMIT, limit_price=low))
    col.until(lambda evs: any(isinstance(e, OrderUpdate) and e.status is OrderStatus.ACCEPTED for e in evs))
    first_id = col.of(OrderUpdate)[-1].broker_order_id

    engine.replace("lim-1", qty=4.0, limit_price=round(low - 1, 2))
    col.until(lambda evs: any(isinstance(e, OrderUpdate) and e.reason.startswith("replaced") for e in evs))
    upd = [e for e in col.of(OrderUpdate) if e.reason.startswith("replaced")][0]
    assert upd.client_order_id == "lim-1" and upd.status is OrderStatus.ACCEPTED
    assert upd.broker_order_id != first_id
    old = ref.get_order_by_id(first_id)
    new = ref.get_order_by_id(upd.broker_order_id)
    assert old.status.value == "replaced" and str(old.replaced_by) == upd.broker_order_id
    assert (new.client_order_id, float(new.qty), float(new.limit_price)) == ("lim-1~1", 4.0, round(low - 1, 2))

    engine.cancel("lim-1")
    col.until(_filled("lim-1"))
    col.settle(0.3)
    ups = col.of(OrderUpdate, client_order_id="lim-1")
    assert ups[-1].status is OrderStatus.CANCELED and ups[-1].broker_order_id == upd.broker_order_id
    assert all(u.status.value != "replaced" for u in col.of(OrderUpdate))  # the core never sees the chain
    assert ref.get_order_by_id(upd.broker_order_id).status.value == "canceled"
    assert journal.broker_ids("lim-1") == [(first_id, "lim-1"), (upd.broker_order_id, "lim-1~1")]

    engine.cancel("lim-1")  # already canceled: refused loudly, not silently
    col.until(lambda evs: any(isinstance(e, CommandFailed) for e in evs))
    assert col.of(CommandFailed)[0].command == "cancel"


def test_idempotent_submit_after_5xx_following_accept(live, emu, ref):
    engine, broker, col, _ = live
    emu.set_fault("order_errors", status=500, count=1, actions=["submit"])
    engine.submit(_req("idem-1", qty=2.0))
    col.until(_filled("idem-1"))
    col.settle(0.3)
    assert len(_orders_at_emulator(ref, "idem-1")) == 1  # exactly one order at the broker
    assert [f.qty for f in col.of(Fill)] == [2.0]
    assert not col.of(CommandFailed)


def test_idempotent_submit_after_timeout_following_accept(live, emu, ref):
    engine, broker, col, journal = live
    emu.set_fault("order_errors", mode="timeout", timeout=1.5, count=1, actions=["submit"])
    engine.submit(_req("idem-2", qty=2.0))
    col.until(_filled("idem-2"), timeout=8)
    col.settle(1.5)  # the POST times out (1 s), the lookup finds the order: nothing resent
    assert len(_orders_at_emulator(ref, "idem-2")) == 1
    assert [f.qty for f in col.of(Fill)] == [2.0]
    assert not col.of(CommandFailed)
    assert broker.order_state("idem-2")[:2] == (OrderStatus.FILLED, 2.0)
    assert journal.intent("idem-2").broker_order_id == broker.order_state("idem-2")[2] is not None


def test_rate_limit_storm_is_queued(live, emu, ref):
    engine, broker, col, _ = live
    emu.set_fault("rate_limit_burst", count=5)
    for i in range(3):
        engine.submit(_req(f"rl-{i}", qty=1.0))
    col.until(lambda evs: all(_filled(f"rl-{i}")(evs) for i in range(3)), timeout=8)
    assert broker.rest.rate_limited >= 5
    assert not col.of(CommandFailed)
    assert sorted(f.client_order_id for f in col.of(Fill)) == ["rl-0", "rl-1", "rl-2"]


def test_stream_drop_fill_while_down_is_recovered_once(live, emu, ref):
    engine, broker, col, journal = live
    limit = _resting_buy_limit(emu)
    engine.submit(_req("drop-1", qty=4.0, order_type=OrderType.LIMIT, limit_price=limit))
    col.until(lambda evs: any(isinstance(e, OrderUpdate) and e.status is OrderStatus.ACCEPTED for e in evs))
    emu.set_fault("refuse_reconnects", seconds=1.0, target="trade", drop=True)
    col.until(lambda evs: any(isinstance(e, ConnectionState) and e.state == "disconnected" for e in evs))
    emu.step(1)  # the order fills while the socket is down
    assert ref.get_order_by_client_id("drop-1").status.value == "filled"
    col.until(_filled("drop-1"), timeout=6)
    col.until(lambda evs: broker.stream.connects >= 2, timeout=6)  # reconnected once refusals end
    col.settle(0.5)
    fills = col.of(Fill, client_order_id="drop-1")
    assert [f.qty for f in fills] == [4.0]
    assert fills[0].price == pytest.approx(float(ref.get_order_by_client_id("drop-1").filled_avg_price))
    assert broker.stats["recovered_fills"] == 1
    assert broker.stream.disconnects >= 1 and broker.stream.connects >= 2
    assert len(journal.fills("drop-1")) == 1


def test_silent_stream_is_detected_and_the_fill_recovered(live, emu, ref):
    engine, broker, col, _ = live
    limit = _resting_buy_limit(emu)
    engine.submit(_req("quiet-1", qty=2.0, order_type=OrderType.LIMIT, limit_price=limit))
    col.until(lambda evs: any(isinstance(e, OrderUpdate) and e.status is OrderStatus.ACCEPTED for e in evs))
    emu.set_fault("silence", target="trade", seconds=1.5)  # connected, pings answered, no updates
    connects = broker.stream.connects
    emu.step(1)
    col.until(_filled("quiet-1"), timeout=6)
    col.settle(0.3)
    assert [f.qty for f in col.of(Fill)] == [2.0]
    assert broker.stats["recovered_fills"] == 1
    # the watchdog (no update for order_silence_timeout with an order open) reconnected
    col.until(lambda evs: broker.stream.connects > connects, timeout=4)


def test_duplicated_updates_are_applied_once(live, emu):
    engine, broker, col, journal = live
    emu.set_fault("duplicate_updates")
    engine.submit(_req("dup-1", qty=3.0))
    col.until(_filled("dup-1"))
    col.settle(0.3)
    assert [f.qty for f in col.of(Fill)] == [3.0]
    assert broker.stats["duplicate_fills"] >= 1
    assert [u.status for u in col.of(OrderUpdate)].count(OrderStatus.FILLED) == 1


def test_partial_fills_are_per_execution(no_thread_leaks, tmp_path):
    from alpaca.trading.client import TradingClient

    with runner.run_emulator(start=5, partial_fill_prob=1.0, seed=3) as emu:
        journal = Journal(tmp_path / "j.sqlite")
        engine, broker, col = _session(emu, journal)
        try:
            engine.submit(_req("part-1", qty=10.0))
            for _ in range(20):
                if _filled("part-1")(col.settle(0.05)):
                    break
                emu.step(1)
            col.until(_filled("part-1"))
            col.settle(0.2)
        finally:
            engine.stop()
            journal.close()
        tc = TradingClient(emu.api_key, emu.secret_key, url_override=emu.trading_url)
        acts = tc.get("/account/activities/FILL", {"direction": "asc", "page_size": 100})
    fills = col.of(Fill)
    assert len(fills) >= 2  # really split
    by_exec = {a["id"].split("::")[-1]: a for a in acts}
    assert {f.exec_id for f in fills} == set(by_exec)
    for f in fills:
        assert f.qty == float(by_exec[f.exec_id]["qty"])  # per execution, never cumulative
        assert f.price == float(by_exec[f.exec_id]["price"])
    assert sum(f.qty for f in fills) == 10.0
    ups = col.of(OrderUpdate)
    cum = [u.filled_qty for u in ups]
    assert cum == sorted(cum) and ups[-1].status is OrderStatus.FILLED and cum[-1] == 10.0
    vwap = sum(f.qty * f.price for f in fills) / 10.0
    assert ups[-1].filled_avg_price == pytest.approx(vwap)


def test_restart_never_sends_twice_and_recovers_missed_fills(no_thread_leaks, emu, ref, tmp_path):
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import LimitOrderRequest

    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    engine, broker, col = _session(emu, journal)
    limit = _resting_buy_limit(emu)
    engine.submit(_req("rs-1", qty=2.0, order_type=OrderType.LIMIT, limit_price=limit))
    col.until(lambda evs: any(isinstance(e, OrderUpdate) and e.status is OrderStatus.ACCEPTED for e in evs))
    engine.stop()  # the process "dies" with rs-1 resting
    # An intent written just before a crash, whose POST did reach the broker ...
    far = round(emu.price("SPY") * 0.8, 2)
    journal.record_intent(_req("rs-ghost", qty=1.0, order_type=OrderType.LIMIT, limit_price=far))
    ref.submit_order(
        LimitOrderRequest(
            symbol="SPY",
            qty=1,
            side=OrderSide.BUY,
            limit_price=far,
            time_in_force=TimeInForce.DAY,
            client_order_id="rs-ghost",
        )
    )
    # ... and one whose POST never left the process.
    journal.record_intent(_req("rs-lost", qty=1.0))
    emu.step(1)  # rs-1 fills while no session runs
    journal.close()

    journal = Journal(path)
    engine, broker, col = _session(emu, journal)
    try:
        col.until(_filled("rs-1"))
        col.until(lambda evs: any(isinstance(e, OrderUpdate) and e.client_order_id == "rs-ghost" for e in evs))
        engine.submit(_req("rs-1", qty=2.0, order_type=OrderType.LIMIT, limit_price=limit))  # core resends
        engine.submit(_req("rs-ghost", qty=1.0, order_type=OrderType.LIMIT, limit_price=far))
        col.settle(0.5)
    finally:
        engine.stop(cancel_open_orders=True)
    col.settle(0.05)  # what stop() left on the inbox
    assert [f.qty for f in col.of(Fill, client_order_id="rs-1")] == [2.0]
    ghost = col.of(OrderUpdate, client_order_id="rs-ghost")
    assert ghost[0].status is OrderStatus.ACCEPTED and ghost[-1].status is OrderStatus.CANCELED
    lost = col.of(OrderUpdate, client_order_id="rs-lost")
    assert [u.status for u in lost] == [OrderStatus.REJECTED] and "restart" in lost[0].reason
    assert len(_orders_at_emulator(ref, "rs-1")) == 1
    assert len(_orders_at_emulator(ref, "rs-ghost")) == 1
    assert _orders_at_emulator(ref, "rs-lost") == []
    assert journal.open_intents() == []  # cancel-all on stop reached the journal
    assert len(journal.fills("rs-1")) == 1
    journal.close()


def test_emulator_restart_reconnects_and_trading_continues(live, emu):
    engine, broker, col, _ = live
    emu.restart(down=0.3)
    col.until(lambda evs: broker.stream.connects >= 2, timeout=6)
    engine.submit(_req("after-restart", qty=1.0))
    col.until(_filled("after-restart"), timeout=6)
    assert [f.qty for f in col.of(Fill)] == [1.0]


def test_bad_keys_fail_start_loudly_without_leaking_the_secret(no_thread_leaks, emu, caplog):
    import logging
    import traceback

    from admf.adapters.alpaca.errors import AuthError
    from admf.adapters.alpaca.market_data import AlpacaMarketData

    caplog.set_level(logging.DEBUG)
    wrong = "SK-wrong-secret-that-must-not-show-123"
    broker = AlpacaBroker(emu.api_key, wrong, trading_url=emu.trading_url, stream_url=emu.stream_url, settings=FAST)
    engine = AsyncExecutionEngine(broker)
    with pytest.raises(AuthError) as info:
        engine.start()
    assert info.value.status == 401 and not engine.running

    # the data stream's own auth failure (error 402) is fatal too
    good = AlpacaBroker(
        emu.api_key, emu.secret_key, trading_url=emu.trading_url, stream_url=emu.stream_url, settings=FAST
    )
    md = AlpacaMarketData(
        emu.api_key, wrong, ["SPY"], stream_url=emu.data_stream_url("iex"), data_url=emu.data_url, settings=FAST
    )
    engine2 = AsyncExecutionEngine(good, services=[md])
    with pytest.raises(AuthError) as info2:
        engine2.start()
    blob = "\n".join(
        [
            "".join(traceback.format_exception(info.value)),
            "".join(traceback.format_exception(info2.value)),
            repr(broker),
            repr(md),
            repr(broker.rest),
            repr(broker.stream),
            caplog.text,
            *(repr(e) for e in engine.inbox.drain() + engine2.inbox.drain()),
        ]
    )
    assert wrong not in blob and emu.secret_key not in blob and emu.api_key not in blob


def test_submit_while_the_broker_is_down_is_resolved_when_it_returns(live, emu, ref):
    import threading

    engine, broker, col, journal = live
    restarting = threading.Thread(target=emu.restart, kwargs={"down": 1.2})
    restarting.start()
    try:
        col.until(lambda evs: any(isinstance(e, ConnectionState) and e.state == "disconnected" for e in evs))
        engine.submit(_req("down-1", qty=1.0))
        col.until(lambda evs: any(isinstance(e, CommandFailed) and e.client_order_id == "down-1" for e in evs))
        assert journal.intent("down-1").broker_order_id is None  # outcome unknown: kept open
        col.until(_filled("down-1"), timeout=8)
    finally:
        restarting.join()
    (upd,) = [u for u in col.of(OrderUpdate, client_order_id="down-1")]
    assert upd.status is OrderStatus.REJECTED and "never received" in upd.reason
    assert _orders_at_emulator(ref, "down-1") == []
    assert not col.of(Fill)


def test_replace_whose_answer_is_lost_still_follows_the_new_order(live, emu, ref):
    engine, broker, col, journal = live
    low = round(emu.price("SPY") * 0.9, 2)
    engine.submit(_req("lost-patch", qty=5.0, order_type=OrderType.LIMIT, limit_price=low))
    col.until(lambda evs: any(isinstance(e, OrderUpdate) and e.status is OrderStatus.ACCEPTED for e in evs))
    emu.set_fault("order_errors", status=502, count=1, actions=["replace"])  # replaced, then a 502
    engine.replace("lost-patch", limit_price=round(low - 1, 2))
    col.until(lambda evs: any(isinstance(e, CommandFailed) and e.command == "replace" for e in evs))
    new = next(o for o in _orders_at_emulator(ref, "lost-patch") if o.status.value == "new")
    col.until(lambda evs: broker.order_state("lost-patch")[2] == str(new.id))  # adopted the new order
    engine.cancel("lost-patch")
    col.until(_filled("lost-patch"))
    assert col.of(OrderUpdate)[-1].status is OrderStatus.CANCELED
    assert ref.get_order_by_id(new.id).status.value == "canceled"
