"""An in-memory ExecutionClient for unit tests of the live core (execution.live_orders).

It holds the broker's truth (orders, executions) and lets a test decide what the core hears:
stream events are queued, then delivered, duplicated, reordered or dropped by the test;
reconciliation reads the truth. Counts every call, for the batching checks.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec

from admf.core.enums import OrderStatus
from admf.core.events import OrderRequest
from admf.execution.live_orders import LocalStream
from admf.execution.reports import FILL, PARTIAL_FILL, UPDATE, FillReport, NoAnswer, OrderReport, Refused, StreamEvent


class FakeClient(LocalStream):
    max_client_id = 48

    def __init__(self) -> None:
        self.orders: dict[str, OrderReport] = {}  # broker id -> its current state (the truth)
        self.by_wire: dict[str, str] = {}
        self.qty: dict[str, float] = {}
        self.executions: list[FillReport] = []
        self.queued: list[StreamEvent] = []  # pushed by the broker, not yet delivered
        self.calls: Counter[str] = Counter()
        self.refuse_cancel = False
        self.submit_error: Exception | None = None  # raised by the next submit (after it "arrived" if NoAnswer)
        self._n = 0
        self._t = 1_000

    # -- the broker's side (driven by the test) -----------------------------------------------

    def now(self) -> int:
        self._t += 1_000
        return self._t

    def set(self, bid: str, **changes: Any) -> OrderReport:
        o = msgspec.structs.replace(self.orders[bid], updated_ns=self.now(), **changes)
        self.orders[bid] = o
        return o

    def execute(self, bid: str, qty: float, price: float = 100.0) -> StreamEvent:
        """The broker fills `qty` of order `bid`: truth changes, an event is queued."""
        o = self.orders[bid]
        filled = o.filled_qty + qty
        done = filled >= self.qty[bid] - 1e-9
        f = FillReport(f"x{len(self.executions) + 1}", bid, qty, price, self.now())
        self.executions.append(f)
        o = self.set(bid, filled_qty=filled, avg_price=price,
                     status=OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED)
        ev = StreamEvent(FILL if done else PARTIAL_FILL, o, f.ts, f)
        self.queued.append(ev)
        return ev

    def finish(self, bid: str, status: OrderStatus) -> StreamEvent:
        ev = StreamEvent(UPDATE, self.set(bid, status=status), self.now())
        self.queued.append(ev)
        return ev

    def deliver(self, ev: StreamEvent) -> None:
        self.push(ev)

    # -- ExecutionClient -----------------------------------------------------------------------

    async def open(self) -> None:
        self.calls["open"] += 1

    async def close(self) -> None:
        self.calls["close"] += 1

    def stats(self) -> dict[str, int]:
        return {"fake_calls": sum(self.calls.values())}

    def never_sent(self, wire_cid: str) -> bool:
        return False

    def check(self, req: OrderRequest) -> str | None:
        return None if req.qty > 0 else "qty must be positive"

    async def submit(self, req: OrderRequest, wire_cid: str, not_after: float | None) -> OrderReport:
        self.calls["submit"] += 1
        self.last_not_after = not_after
        err, self.submit_error = self.submit_error, None
        if err is not None and not isinstance(err, NoAnswer):
            raise err
        if wire_cid in self.by_wire:
            return self.orders[self.by_wire[wire_cid]]
        self._n += 1
        bid = f"b{self._n}"
        t = self.now()
        self.orders[bid] = OrderReport(bid, wire_cid, OrderStatus.ACCEPTED, created_ns=t, updated_ns=t)
        self.by_wire[wire_cid] = bid
        self.qty[bid] = req.qty
        if err is not None:
            raise err  # the broker took it, the answer was lost
        return self.orders[bid]

    async def cancel(self, broker_id: str) -> None:
        self.calls["cancel"] += 1
        o = self.orders.get(broker_id)
        if o is None or self.refuse_cancel or (o.status is not None and o.status.is_terminal):
            raise Refused("order is not cancelable")
        self.finish(broker_id, OrderStatus.CANCELED)

    async def replace(self, broker_id: str, wire_cid: str, qty: float | None, limit_price: float | None,
                      stop_price: float | None) -> OrderReport:
        self.calls["replace"] += 1
        old = self.orders[broker_id]
        self._n += 1
        bid = f"b{self._n}"
        t = self.now()
        self.orders[bid] = OrderReport(bid, wire_cid, OrderStatus.ACCEPTED, created_ns=t, updated_ns=t)
        self.by_wire[wire_cid] = bid
        self.qty[bid] = qty if qty is not None else self.qty[broker_id] - old.filled_qty
        self.set(broker_id, status=None, replaced=True, replaced_by=bid)
        return self.orders[bid]

    async def get_order(self, broker_id: str) -> OrderReport | None:
        self.calls["get_order"] += 1
        return self.orders.get(broker_id)

    async def get_order_by_client_id(self, wire_cid: str) -> OrderReport | None:
        self.calls["get_order_by_client_id"] += 1
        bid = self.by_wire.get(wire_cid)
        return None if bid is None else self.orders[bid]

    async def list_orders(self, status: str, *, after_ns: int | None = None, limit: int = 500,
                          direction: str = "asc") -> list[OrderReport]:
        self.calls["list_orders"] += 1
        out = [o for o in self.orders.values() if (status != "open" or _open(o)) and o.created_ns > (after_ns or 0)]
        return out[:limit]

    async def fill_reports(self, after_ns: int | None) -> list[FillReport]:
        self.calls["fill_reports"] += 1
        return [f for f in self.executions if after_ns is None or f.ts > after_ns]

    async def cancel_all(self) -> None:
        self.calls["cancel_all"] += 1
        for bid, o in list(self.orders.items()):
            if _open(o):
                self.finish(bid, OrderStatus.CANCELED)


def _open(o: OrderReport) -> bool:
    return o.status is not None and not o.status.is_terminal and not o.replaced
