"""Unit tests of the broker-neutral live core (execution.live_orders) on a fake ExecutionClient:
dedupe, never backwards, held-back terminal status, replace chains, legs, restart, and a
hypothesis property over random interleavings of stream and reconciliation reports."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fake_client import FakeClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from admf.core.enums import OrderStatus, OrderType, Side
from admf.core.events import Fill, OrderRequest, OrderUpdate
from admf.execution.inbox import CommandFailed
from admf.execution.journal import Journal
from admf.execution.live_orders import LiveOrders
from admf.execution.live_record import Tuning, rank
from admf.execution.reports import UPDATE, NoAnswer, NotSent, OrderReport, Refused, StreamEvent

QUIET = Tuning(poll_interval=3600.0, fill_grace=3600.0)  # no poller round unless a test wants one


def _req(cid: str = "o1", qty: float = 10.0, **kw: Any) -> OrderRequest:
    return OrderRequest(cid, "s1", "SPY", Side.BUY, qty, ts=kw.pop("ts", 5_000), **kw)


def _run(body: Callable[[LiveOrders, FakeClient, list[Any]], Awaitable[None]], *, journal: Journal | None = None,
         tuning: Tuning = QUIET, client: FakeClient | None = None) -> list[Any]:
    out: list[Any] = []
    fake = client or FakeClient()

    async def main() -> None:
        core = LiveOrders(fake, journal=journal, tuning=tuning)
        await core.start(out.append)
        try:
            await body(core, fake, out)
        finally:
            await core.close()

    asyncio.run(main())
    return out


def _check_stream(out: list[Any]) -> None:
    """What the inbox got is consistent: each fill once, status never backwards, filled_qty of
    every update equals the sum of the fills emitted before it."""
    seen: set[str] = set()
    filled: dict[str, float] = {}
    last: dict[str, OrderStatus] = {}
    for ev in out:
        if isinstance(ev, Fill):
            assert ev.exec_id not in seen, f"fill {ev.exec_id} emitted twice"
            seen.add(ev.exec_id)
            filled[ev.client_order_id] = filled.get(ev.client_order_id, 0.0) + ev.qty
        elif isinstance(ev, OrderUpdate):
            cid = ev.client_order_id
            prev = last.get(cid)
            assert prev is None or not prev.is_terminal, f"{cid}: {ev.status} after {prev}"
            assert prev is None or rank(ev.status) >= rank(prev), f"{cid}: {prev} -> {ev.status}"
            assert abs(ev.filled_qty - filled.get(cid, 0.0)) < 1e-9, (ev, filled.get(cid))
            last[cid] = ev.status


def _of(out: list[Any], kind: type) -> list[Any]:
    return [e for e in out if isinstance(e, kind)]


def test_a_fill_by_stream_and_by_reconciliation_is_emitted_once() -> None:
    async def body(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        await core.submit(_req(qty=10.0))
        ev = fake.execute("b1", 10.0)
        fake.deliver(ev)
        fake.deliver(ev)  # a duplicate on the stream
        await core.reconcile()  # and again through the fills listing
        assert core.duplicate_fills == 1  # reconciliation skips known exec ids without counting

    out = _run(body)
    _check_stream(out)
    assert [f.qty for f in _of(out, Fill)] == [10.0]
    assert [u.status for u in _of(out, OrderUpdate)] == [OrderStatus.ACCEPTED, OrderStatus.FILLED]


def test_a_terminal_status_before_its_fills_is_held_back_then_released() -> None:
    async def body(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        await core.submit(_req(qty=10.0))
        first = fake.execute("b1", 4.0)
        last = fake.execute("b1", 6.0)
        fake.deliver(StreamEvent(UPDATE, last.order, last.ts))  # "filled 10" before any execution
        assert core.order_state("o1")[:2] == (OrderStatus.ACCEPTED, 0.0)
        fake.deliver(last)  # the second execution first (out of order)
        assert core.order_state("o1")[:2] == (OrderStatus.PARTIALLY_FILLED, 6.0)
        fake.deliver(first)
        assert core.order_state("o1")[:2] == (OrderStatus.FILLED, 10.0)

    out = _run(body)
    _check_stream(out)
    ups = _of(out, OrderUpdate)
    assert [u.status for u in ups] == [OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED]
    assert ups[-1].filled_avg_price == 100.0


def test_a_held_back_status_is_given_up_after_the_grace() -> None:
    async def body(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        await core.submit(_req(qty=10.0))
        ev = fake.execute("b1", 10.0)
        fake.executions.clear()  # the broker never lists this execution
        fake.deliver(StreamEvent(UPDATE, ev.order, ev.ts))
        for _ in range(200):
            if core.fill_mismatches:
                break
            await asyncio.sleep(0.01)

    out = _run(body, tuning=Tuning(poll_interval=0.005, fill_grace=0.005))
    assert _of(out, OrderUpdate)[-1].status is OrderStatus.FILLED and _of(out, Fill) == []


def test_replace_chain_keeps_one_logical_order_and_a_rejected_replacement_reverts() -> None:
    async def body(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        await core.submit(_req(qty=10.0, order_type=OrderType.LIMIT, limit_price=99.0))
        fake.deliver(fake.execute("b1", 3.0))
        await core.replace("o1", qty=5.0, limit_price=98.0)
        assert fake.orders["b2"].wire_client_id == "o1~1"
        assert core.order_state("o1") == (OrderStatus.PARTIALLY_FILLED, 3.0, "b2")
        assert core.orders["o1"].req.qty == 8.0  # filled + what is left
        fake.deliver(StreamEvent(UPDATE, fake.orders["b1"], fake.now()))  # the old order, "replaced"
        fake.deliver(fake.execute("b2", 5.0))
        assert core.order_state("o1") == (OrderStatus.FILLED, 8.0, "b2")

    out = _run(body)
    _check_stream(out)
    assert [f.qty for f in _of(out, Fill)] == [3.0, 5.0]
    assert all(f.client_order_id == "o1" for f in _of(out, Fill))

    async def rejected(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        await core.submit(_req(qty=10.0, order_type=OrderType.LIMIT, limit_price=99.0))
        await core.replace("o1", limit_price=98.0)
        fake.deliver(StreamEvent(UPDATE, fake.set("b2", status=OrderStatus.REJECTED), fake.now()))
        assert core.order_state("o1") == (OrderStatus.ACCEPTED, 0.0, "b1")

    out = _run(rejected)
    assert [e.command for e in _of(out, CommandFailed)] == ["replace"]
    assert _of(out, OrderUpdate)[-1].status is OrderStatus.ACCEPTED


def test_a_replacement_named_by_the_broker_is_adopted() -> None:
    async def body(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        await core.submit(_req(qty=10.0, order_type=OrderType.LIMIT, limit_price=99.0))
        await fake.replace("b1", "o1~1", None, 98.0, None)  # replaced by someone else (or the answer lost)
        fake.deliver(StreamEvent(UPDATE, fake.orders["b1"], fake.now()))
        for _ in range(50):
            await asyncio.sleep(0)
        assert core.order_state("o1") == (OrderStatus.ACCEPTED, 0.0, "b2")

    _run(body)


def _with_leg(fake: FakeClient, bid: str = "b1", leg: str = "leg-sl", qty: float = 10.0) -> OrderReport:
    """The broker's OCO: order `bid` (the take-profit) with its stop-loss leg, both working."""
    fake.orders[leg] = OrderReport(leg, "x-sl", None, created_ns=fake.now(), leg="stop_loss")  # "held"
    fake.qty[leg] = qty
    return fake.set(bid, legs=(fake.orders[leg],))


def test_leg_ids_bind_to_the_logical_order_and_their_fills_are_its_own(tmp_path: Path) -> None:
    async def body(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        await core.submit(_req(qty=10.0, reason="take_profit"))
        fake.deliver(StreamEvent(UPDATE, _with_leg(fake), fake.now()))
        fake.deliver(fake.execute("leg-sl", 10.0))
        assert core.orders["o1"].legs == {"leg-sl": "stop_loss"}
        assert core.order_state("o1") == (OrderStatus.FILLED, 10.0, "b1")  # the parent's id, not a leg's
        fake.deliver(fake.finish("b1", OrderStatus.CANCELED))  # the broker cancels the sibling

    journal_path = tmp_path / "legs.sqlite"
    with Journal(journal_path) as j:
        out = _run(body, journal=j)
        assert j.leg_ids("o1") == [("leg-sl", "stop_loss")] and j.client_id_for_broker_id("leg-sl") == "o1"
        assert j.broker_ids("o1") == [("b1", "o1")]
    _check_stream(out)
    assert [(f.client_order_id, f.exec_id, f.reason) for f in _of(out, Fill)] == [("o1", "x1", "stop_loss")]
    assert [u.status for u in _of(out, OrderUpdate)] == [OrderStatus.ACCEPTED, OrderStatus.FILLED]


def test_an_order_with_a_leg_ends_unfilled_once_both_members_have() -> None:
    async def body(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        await core.submit(_req(qty=10.0))
        fake.deliver(StreamEvent(UPDATE, _with_leg(fake), fake.now()))
        fake.deliver(fake.finish("b1", OrderStatus.CANCELED))
        assert core.order_state("o1")[0] is OrderStatus.ACCEPTED  # the leg may still fill
        fake.deliver(StreamEvent(UPDATE, fake.set("leg-sl", status=None, replaced=True), fake.now()))
        assert core.order_state("o1")[0] is OrderStatus.CANCELED  # a replaced leg no longer works

    out = _run(body)
    _check_stream(out)
    assert [u.status for u in _of(out, OrderUpdate)] == [OrderStatus.ACCEPTED, OrderStatus.CANCELED]


def test_a_legs_events_before_the_submits_answer_are_caught_up(tmp_path: Path) -> None:
    async def body(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        await core.submit(_req(qty=10.0))
        parent = _with_leg(fake)
        fake.deliver(fake.execute("leg-sl", 10.0))  # an id the core cannot place yet: set aside
        assert "leg-sl" in core.foreign and core.order_state("o1")[0] is OrderStatus.ACCEPTED
        fake.deliver(StreamEvent(UPDATE, parent, fake.now()))  # the answer naming the leg (still held)
        for _ in range(50):
            await asyncio.sleep(0)  # the refresh the binding spawned: the leg is filled, its fill owed
        assert "leg-sl" not in core.foreign and core.orders["o1"].owed == 10.0
        await core.reconcile()  # the fills listing brings the execution
        assert core.order_state("o1") == (OrderStatus.FILLED, 10.0, "b1")

    with Journal(tmp_path / "j.sqlite") as j:
        out = _run(body, journal=j)
    _check_stream(out)
    assert [f.reason for f in _of(out, Fill)] == ["stop_loss"]


def test_restart_restores_the_leg_ids_and_the_order_is_not_sent_again(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    fake = FakeClient()

    async def first(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        await core.submit(_req(qty=10.0))
        fake.deliver(StreamEvent(UPDATE, _with_leg(fake), fake.now()))

    async def second(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        assert core.orders["o1"].legs == {"leg-sl": "stop_loss"}
        assert core.order_state("o1") == (OrderStatus.PARTIALLY_FILLED, 4.0, "b1")  # reconciled on start
        fake.deliver(fake.execute("leg-sl", 6.0))  # the leg's events reach the restored order
        assert core.order_state("o1") == (OrderStatus.FILLED, 10.0, "b1")

    with Journal(path) as j:
        _run(first, journal=j, client=fake)
    fake.execute("leg-sl", 4.0)  # while down: the leg filled in part, unheard (the event is lost)
    fake.queued.clear()
    with Journal(path) as j:
        out = _run(second, journal=j, client=fake)
    assert fake.calls["submit"] == 1
    assert [(f.qty, f.reason) for f in _of(out, Fill)] == [(4.0, "stop_loss"), (6.0, "stop_loss")]


def test_restart_resolves_unsent_intents_in_one_listing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    fake = FakeClient()
    with Journal(path) as j:
        for i in range(40):
            j.record_intent(_req(f"u{i}", ts=2_000 + i))
    asyncio.run(fake.submit(_req("u7"), "u7", None))  # this one did reach the broker before the crash
    with Journal(path) as j:
        out = _run(lambda core, fake, out: asyncio.sleep(0), journal=j, client=fake)
        assert j.open_intents()[0].client_order_id == "u7"
    assert fake.calls["list_orders"] <= 3 and fake.calls["get_order_by_client_id"] == 0
    assert fake.calls["submit"] == 1  # nothing resent
    ups = {u.client_order_id: u for u in _of(out, OrderUpdate)}
    assert ups["u7"].status is OrderStatus.ACCEPTED and ups["u7"].broker_order_id == "b1"
    assert all(ups[f"u{i}"].status is OrderStatus.REJECTED and "restart" in ups[f"u{i}"].reason
               for i in range(40) if i != 7)


def test_restart_knows_the_fills_of_an_earlier_session(tmp_path: Path) -> None:
    fake = FakeClient()
    path = tmp_path / "j.sqlite"

    async def first(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        await core.submit(_req(qty=10.0))
        fake.deliver(fake.execute("b1", 4.0))
        fake.execute("b1", 6.0)  # happens while "down": never delivered

    async def second(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        fake.deliver(fake.queued[0])  # the first execution again, from the stream's replay

    with Journal(path) as j:
        _run(first, journal=j, client=fake)
    with Journal(path) as j:
        out = _run(second, journal=j, client=fake)
    assert [f.qty for f in _of(out, Fill)] == [6.0]  # the missed one, once; the old one not again
    assert _of(out, OrderUpdate)[-1].status is OrderStatus.FILLED and _of(out, OrderUpdate)[-1].filled_qty == 10.0


def test_a_refused_cancel_refreshes_and_raises() -> None:
    async def body(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        await core.submit(_req(qty=10.0))
        fake.execute("b1", 10.0)  # filled at the broker, the stream has not said so
        fake.refuse_cancel = True
        try:
            await core.cancel("o1")
        except Refused:
            pass
        else:
            raise AssertionError("a refused cancel must raise")
        assert core.orders["o1"].pending is not None  # "filled" known, held until the execution
        await core.reconcile()
        assert core.order_state("o1")[:2] == (OrderStatus.FILLED, 10.0)

    out = _run(body)
    _check_stream(out)


def _check_terminal(out: list[Any], truth: OrderReport) -> None:
    """A terminal status is emitted only with every execution the broker counted, and no
    update repeats the one before it."""
    ups = _of(out, OrderUpdate)
    for a, b in zip(ups, ups[1:], strict=False):
        assert (a.status, a.filled_qty) != (b.status, b.filled_qty), f"repeated {b}"
    if ups and ups[-1].status.is_terminal:
        assert ups[-1].status is truth.status and abs(ups[-1].filled_qty - truth.filled_qty) < 1e-9, ups[-1]


def test_submit_outcomes_refused_not_sent_and_no_answer() -> None:
    async def body(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        fake.submit_error = Refused("insufficient buying power")
        await core.submit(_req("refused"))
        fake.submit_error = NotSent("no rate-limit slot before the deadline")
        await core.submit(_req("stale"))
        fake.submit_error = NoAnswer("timeout after sending")
        with pytest.raises(NoAnswer) as lost:
            await core.submit(_req("lost"))
        assert core.outcome_unknown(lost.value)  # the order manager keeps it "unknown"
        assert core.order_state("lost") == (None, 0.0, None)
        await core.reconcile()  # the lookup finds what the broker holds: nothing is resent
        assert core.order_state("lost") == (OrderStatus.ACCEPTED, 0.0, "b1")

    out = _run(body)
    ups = {u.client_order_id: u for u in _of(out, OrderUpdate)}
    assert ups["refused"].status is OrderStatus.REJECTED and ups["refused"].reason == "insufficient buying power"
    assert ups["stale"].status is OrderStatus.REJECTED and ups["stale"].reason.startswith("stale")
    assert ups["lost"].status is OrderStatus.ACCEPTED


def test_an_order_the_broker_never_received_is_rejected_on_lookup() -> None:
    class Unreachable(FakeClient):
        async def submit(self, req: OrderRequest, wire_cid: str, not_after: float | None) -> OrderReport:
            self.calls["submit"] += 1
            raise NoAnswer("connection refused")  # never arrived

    async def body(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        with pytest.raises(NoAnswer):
            await core.submit(_req("down"))
        await core.reconcile()

    out = _run(body, client=Unreachable())
    (u,) = _of(out, OrderUpdate)
    assert u.status is OrderStatus.REJECTED and "never received" in u.reason


# -- the property -----------------------------------------------------------------------------

_step = hs.one_of(
    hs.tuples(hs.just("exec"), hs.integers(1, 4)),  # the broker fills a few shares
    hs.tuples(hs.just("deliver"), hs.integers(0, 50)),  # a queued event reaches the core
    hs.tuples(hs.just("dup"), hs.integers(0, 50)),  # ... and stays queued (delivered again later)
    hs.tuples(hs.just("drop"), hs.integers(0, 50)),  # ... or is lost
    hs.tuples(hs.just("status"), hs.integers(0, 50)),  # only its order snapshot arrives (late)
    hs.tuples(hs.just("reconcile"), hs.just(0)),
    hs.tuples(hs.just("cancel"), hs.just(0)),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.lists(_step, max_size=30), hs.integers(4, 12))
def test_property_random_report_interleavings(steps: list[tuple[str, int]], qty: int) -> None:
    async def body(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        await core.submit(_req(qty=float(qty)))
        fake.queued.append(StreamEvent(UPDATE, fake.orders["b1"], fake.now()))  # the broker's "new"
        delivered: list[StreamEvent] = []
        for what, k in steps:
            o = fake.orders["b1"]
            open_ = o.status is not None and not o.status.is_terminal
            q = fake.queued
            if what == "exec" and open_:
                fake.execute("b1", float(min(k, qty - o.filled_qty)))
            elif what == "cancel" and open_:
                fake.finish("b1", OrderStatus.CANCELED)
            elif what == "reconcile":
                await core.reconcile()
            elif q:
                i = k % len(q)
                ev = q[i] if what == "dup" else q.pop(i)
                if what == "status":
                    ev = StreamEvent(UPDATE, ev.order, ev.ts)
                if what != "drop":
                    fake.deliver(ev)
                    delivered.append(ev)
            _check_stream(out)
            _check_terminal(out, fake.orders["b1"])
        await core.reconcile()  # the truth, finally
        _check_stream(out)
        truth = fake.orders["b1"]
        _check_terminal(out, truth)
        fills = _of(out, Fill)
        assert sorted(f.exec_id for f in fills) == sorted(f.exec_id for f in fake.executions)
        assert abs(sum(f.qty for f in fills) - truth.filled_qty) < 1e-9
        assert core.order_state("o1")[:2] == (truth.status, truth.filled_qty)

    _run(body)


def test_a_decision_older_than_stale_after_is_dropped_before_the_wire_and_a_young_one_keeps_its_age() -> None:
    import time

    async def body(core: LiveOrders, fake: FakeClient, out: list[Any]) -> None:
        # queued 31 s (e.g. behind another order of its symbol) before reaching the core
        await core.submit(_req("old", decided_ns=time.time_ns() - 31 * 10**9))
        assert fake.calls["submit"] == 0
        rejected = [u for u in _of(out, OrderUpdate) if u.client_order_id == "old"]
        assert rejected[-1].status is OrderStatus.REJECTED and "stale" in rejected[-1].reason
        # decided 20 s ago: the wire deadline is what is left of its 30 s, not a fresh 30 s
        await core.submit(_req("young", decided_ns=time.time_ns() - 20 * 10**9))
        assert fake.calls["submit"] == 1
        left = fake.last_not_after - time.monotonic()
        assert 8.0 < left <= 10.0

    _run(body)
