"""Property: whatever order reports do (late, duplicated, out of order, lost, partial), the
OrderManager + StrategySlot keep the exposure invariant and the books equal the broker.

A unit test: a fake broker (a model of an account: orders, executions, a position) stands in for
the adapter; hypothesis drives decisions and the broker's side of things. After every step:
- exposure: the broker's position plus every order that may still fill (open at the broker or
  waiting to be sent) stays within the slot's size on each side;
- books == broker, for what was reported: the book's position is the sum of the distinct
  executions delivered so far (none applied twice);
and at the end, once everything is delivered and reconciled, the book equals the broker.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from admf.core.enums import OrderStatus, Side
from admf.core.events import Fill, OrderRequest, OrderUpdate
from admf.execution.inbox import CommandFailed
from admf.execution.order_manager import OrderManager
from admf.portfolio.portfolio import Portfolio
from admf.risk.exits import ExitRules
from admf.risk.limits import Limits
from admf.risk.sizing import Sizing
from admf.risk.slot import StrategySlot

SIZE = 10.0
SYM = "SPY"


@dataclass
class BrokerOrder:
    req: OrderRequest
    filled: float = 0.0
    status: str = "open"  # open, filled, canceled
    fills: list[Fill] = field(default_factory=list)

    @property
    def leaves(self) -> float:
        return self.req.qty - self.filled if self.status == "open" else 0.0


class FakeBroker:
    """The engine the manager talks to, and the account behind it."""

    def __init__(self) -> None:
        self.orders: dict[str, BrokerOrder] = {}
        self.never_received: set[str] = set()
        self.cancels: list[str] = []
        self.outbox: list[Any] = []
        self.position = 0.0
        self.exec_n = itertools.count(1)
        self.running = True

    # engine interface
    def submit(self, req: OrderRequest) -> None:
        self.orders[req.client_order_id] = BrokerOrder(req)
        self.outbox.append(OrderUpdate(req.client_order_id, OrderStatus.ACCEPTED, 1, "B" + req.client_order_id))

    def cancel(self, client_order_id: str) -> None:
        self.cancels.append(client_order_id)

    def cancel_all(self) -> None:
        self.cancels.extend(c for c, o in self.orders.items() if o.status == "open")

    # the broker's side
    def open_orders(self) -> list[BrokerOrder]:
        return [o for o in self.orders.values() if o.status == "open"]

    def fill(self, k: int, frac: float) -> None:
        opens = self.open_orders()
        if not opens:
            return
        o = opens[k % len(opens)]
        qty = max(1.0, round(o.leaves * frac))
        qty = min(qty, o.leaves)
        o.filled += qty
        f = Fill(f"x{next(self.exec_n)}", o.req.client_order_id, o.req.strategy_id, SYM, o.req.side, qty, 100.0, 2)
        o.fills.append(f)
        self.position += qty * o.req.side.sign
        if o.leaves <= 1e-9:
            o.status = "filled"
        self.outbox.append(f)
        status = OrderStatus.FILLED if o.status == "filled" else OrderStatus.PARTIALLY_FILLED
        self.outbox.append(OrderUpdate(o.req.client_order_id, status, 2, "B", filled_qty=o.filled))

    def process_cancel(self, k: int) -> None:
        if not self.cancels:
            return
        cid = self.cancels.pop(k % len(self.cancels))
        o = self.orders.get(cid)
        if o is not None and o.status == "open":
            o.status = "canceled"
            self.outbox.append(OrderUpdate(cid, OrderStatus.CANCELED, 3, "B", filled_qty=o.filled))
        else:
            self.outbox.append(CommandFailed("cancel", cid, "OrderRejected", "order is already filled", 3))

    def lose_submit_answer(self, k: int, arrived: bool) -> None:
        """The answer to a submit is lost (no ack on the way); maybe the order never arrived."""
        # a submit's own answer (ts 1), not a reconciliation report of an order already known
        acks = [i for i, e in enumerate(self.outbox) if type(e) is OrderUpdate and e.status is OrderStatus.ACCEPTED
                and e.ts == 1 and e.client_order_id in self.orders]
        if not acks:
            return
        ev = self.outbox.pop(acks[k % len(acks)])
        cid = ev.client_order_id
        if not arrived and self.orders[cid].filled == 0:
            del self.orders[cid]
            self.never_received.add(cid)
            self.cancels = [c for c in self.cancels if c != cid]
        self.outbox.append(CommandFailed("submit", cid, "BrokerUnavailable", "no answer", 1, outcome_unknown=True))

    def reconcile(self, known: dict[str, Any]) -> None:
        """What the adapter's reconciliation reports: every order's state and all its fills."""
        for cid, o in self.orders.items():
            self.outbox.extend(o.fills)
            status = {"open": OrderStatus.ACCEPTED, "filled": OrderStatus.FILLED,
                      "canceled": OrderStatus.CANCELED}[o.status]
            self.outbox.append(OrderUpdate(cid, status, 4, "B", filled_qty=o.filled))
        for cid in self.never_received:
            if cid in known:
                self.outbox.append(OrderUpdate(cid, OrderStatus.REJECTED, 4, reason="the broker never received it"))


class NoLimits:
    def check(self, qty_signed: float, price: float, position: float, now_ns: int) -> str | None:
        return None


class Strategy:
    def on_bar(self, *args: float) -> int:
        return 0


def _setup() -> tuple[FakeBroker, OrderManager, StrategySlot, Portfolio]:
    broker = FakeBroker()
    book = Portfolio("book", 1_000_000.0, [SYM])
    holder: list[StrategySlot] = []
    mgr = OrderManager(broker, NoLimits(), {"book": book}, lambda cid: holder[0] if holder else None)
    slot = StrategySlot(strategy=Strategy(), book=book, broker=mgr, sym=0, symbol=SYM, strategy_id="book",
                        sizing=Sizing(kind="fixed_shares", shares=SIZE), exits=ExitRules(), limits=Limits())
    holder.append(slot)
    return broker, mgr, slot, book


def _deliver(mgr: OrderManager, ev: Any) -> None:
    if type(ev) is Fill:
        mgr.on_fill(ev)
    elif type(ev) is OrderUpdate:
        mgr.on_update(ev)
    else:
        mgr.on_command_failed(ev)


def _check(broker: FakeBroker, mgr: OrderManager, book: Portfolio, delivered: set[str],
           fills: dict[str, Fill]) -> None:
    up = down = broker.position
    for o in broker.open_orders():
        if o.req.side is Side.BUY:
            up += o.leaves
        else:
            down -= o.leaves
    for q in mgr._queue.values():  # decided, not sent yet
        for order in q:
            if order.request.side is Side.BUY:
                up += order.leaves
            else:
                down -= order.leaves
    assert up <= SIZE + 1e-9 and down >= -SIZE - 1e-9, f"exposure {down:g}..{up:g} beyond {SIZE:g}"
    applied = sum(fills[x].signed_qty for x in delivered)
    assert abs(book.position(SYM) - applied) < 1e-9, "a fill was applied twice, or not at all"


action = st.one_of(
    st.tuples(st.just("decide"), st.sampled_from([-1, 0, 1])),
    st.tuples(st.just("fill"), st.integers(0, 3), st.sampled_from([0.3, 0.5, 1.0])),
    st.tuples(st.just("cancel"), st.integers(0, 3)),
    st.tuples(st.just("deliver"), st.integers(0, 7), st.sampled_from(["once", "once", "twice", "lose"])),
    st.tuples(st.just("lose_ack"), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("reconcile"),),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(action, min_size=1, max_size=60))
def test_exposure_and_books_hold_under_any_report_sequence(actions: list[tuple]) -> None:
    broker, mgr, slot, book = _setup()
    delivered: set[str] = set()
    fills: dict[str, Fill] = {}

    def deliver(ev: Any) -> None:
        if type(ev) is Fill:
            fills[ev.exec_id] = ev
            delivered.add(ev.exec_id)
        _deliver(mgr, ev)

    bar = 0
    for a in actions:
        kind = a[0]
        if kind == "decide":
            bar += 1
            slot.decide(a[1], bar, bar, 100.0, 100.0, 100.0, 100.0, 1.0)
        elif kind == "fill":
            broker.fill(a[1], a[2])
        elif kind == "cancel":
            broker.process_cancel(a[1])
        elif kind == "deliver" and broker.outbox:
            ev = broker.outbox.pop(a[1] % len(broker.outbox))
            if a[2] != "lose":
                deliver(ev)
                if a[2] == "twice":
                    deliver(ev)
        elif kind == "lose_ack":
            broker.lose_submit_answer(a[1], a[2])
        elif kind == "reconcile":
            broker.reconcile(mgr.orders)
        _check(broker, mgr, book, delivered, fills)

    # the end: the broker works off every cancel, then everything is reported (and reconciled)
    for _ in range(20):
        while broker.cancels:
            broker.process_cancel(0)
        broker.reconcile(mgr.orders)
        while broker.outbox:
            deliver(broker.outbox.pop(0))
        _check(broker, mgr, book, delivered, fills)
        if not slot.working and not broker.cancels:
            break
        for _ in broker.open_orders():  # what is still open fills, as a market order would
            broker.fill(0, 1.0)
    assert abs(book.position(SYM) - broker.position) < 1e-9, "the book differs from the broker"
    assert not slot.working, f"orders still working for the slot: {slot.working}"
    # the slot ends where its last decision asked, or on its way there
    assert abs(slot.target) <= SIZE


def test_a_queued_order_keeps_the_time_it_was_decided_not_the_time_it_left_the_queue() -> None:
    import time

    broker = FakeBroker()
    book = Portfolio("book", 1_000_000.0, [SYM])
    mgr = OrderManager(broker, NoLimits(), {"book": book}, lambda cid: None)
    t0 = time.time_ns()
    mgr.submit(OrderRequest("a", "book", SYM, Side.BUY, 5.0), 0, 0, 100.0)
    mgr.submit(OrderRequest("b", "book", SYM, Side.BUY, 5.0), 0, 0, 100.0)  # queued behind "a"
    decided = time.time_ns()
    assert list(broker.orders) == ["a"]
    time.sleep(0.05)
    mgr.on_update(broker.outbox.pop())  # "a" accepted
    broker.fill(0, 1.0)
    for ev in broker.outbox:
        if isinstance(ev, Fill):
            mgr.on_fill(ev)
        else:
            mgr.on_update(ev)
    assert list(broker.orders) == ["a", "b"]  # sent once "a" settled, 50 ms later
    assert t0 <= broker.orders["b"].req.decided_ns <= decided
