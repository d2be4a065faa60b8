"""The live order manager: the one owner of every live order, on the main thread.

A slot's order goes: pre-trade check -> an `Order` (admf.core.orders) here -> the account-level
queue of its symbol -> the execution engine (which journals it, then sends it on the async
thread) -> reports back on the inbox -> `on_update` / `on_fill` here -> the book and the slot.
Nothing else keeps an order's state: the slot keeps only which of its orders are unfinished,
the adapter only the wire ids it needs to translate.

Rules it keeps (the exposure invariant, see README "Live trading"):
- a fill is applied once, by execution id, whatever path brought it;
- an order is finished for its slot only when it is `settled`: terminal at the broker and every
  execution the broker counted applied here. A cancel that fails because the order filled is
  resolved by the fill; an order whose submit answer was lost stays `unknown` until the adapter's
  lookup says what happened;
- books are virtual, the account holds one net position per symbol: at most one order per
  symbol is at the broker at a time (the others wait here, in order), and an order that would
  take the account's net position through zero is sent as two parts, close to zero and then the
  rest, both parts of the book's order. No order is refused for quantity another book holds.
- once the engine stops, nothing is sent: an order decided during the final drain is rejected
  locally ("session stopping").
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import msgspec

from admf.core.enums import OrderStatus, Side
from admf.core.events import Fill, OrderRequest, OrderUpdate
from admf.core.orders import EPS, Applied, Order
from admf.execution.inbox import CommandFailed

__all__ = ["AuditTrail", "Book", "OrderEngine", "OrderManager", "PreTradeCheck", "SlotHandle"]

log = logging.getLogger("admf.live.orders")
PART = ".2"  # suffix of the second part of an order split at the account's zero


class OrderEngine(Protocol):
    """What the manager needs of the execution engine (AsyncExecutionEngine)."""

    @property
    def running(self) -> bool: ...

    def submit(self, req: OrderRequest) -> None: ...

    def cancel(self, client_order_id: str) -> None: ...

    def cancel_all(self) -> None: ...


class Book(Protocol):
    def apply_fill(self, fill: Fill, bar: int = -1) -> bool: ...

    def position(self, symbol: str) -> float: ...


class SlotHandle(Protocol):
    """What the manager tells the slot that made an order."""

    def on_fill(self, fill: Fill, bar: int) -> None: ...

    def on_order_done(self, client_order_id: str, filled: bool = False) -> None: ...


class PreTradeCheck(Protocol):
    def check(self, qty_signed: float, price: float, position: float, now_ns: int) -> str | None: ...


class AuditTrail:
    """One line per order sent, fill, cancel and reject (never per bar); kept for the run
    directory (audit.log, audit.jsonl) and logged on "admf.audit". Holds no secret: only
    order fields, prices, quantities and reasons."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._log = logging.getLogger("admf.audit")

    def add(self, event: str, ts: int, **fields: Any) -> None:
        rec = {"ts": ts, "event": event, **fields}
        self.records.append(rec)
        if self._log.isEnabledFor(logging.INFO):
            self._log.info("%s", self.line(rec))

    @staticmethod
    def line(rec: dict[str, Any]) -> str:
        t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(rec["ts"] // 1_000_000_000))
        rest = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()
                        if k not in ("ts", "event") and v not in (None, ""))
        return f"{t}Z {rec['event']:<7} {rest}"


class BookOrder:
    """A book's order and the wire orders it became: itself, or two parts when it was split at
    the account's zero (the second sent once the first has filled)."""

    __slots__ = ("request", "parts", "rest", "cancel_requested", "done")

    def __init__(self, request: OrderRequest, first: Order) -> None:
        self.request = request
        self.parts = [first]
        self.rest = 0.0  # quantity of a second part not sent yet
        self.cancel_requested = False
        self.done = False  # the slot was told

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    @property
    def filled_qty(self) -> float:
        return sum(p.filled_qty for p in self.parts)

    @property
    def settled(self) -> bool:
        return self.rest <= EPS and all(p.settled for p in self.parts)

    @property
    def leaves(self) -> float:
        return sum(p.leaves for p in self.parts) + self.rest


_AUDIT = {OrderStatus.CANCELED: "cancel", OrderStatus.EXPIRED: "expire", OrderStatus.REJECTED: "reject"}


class OrderManager:
    """The slot-facing broker of a live session and the owner of its orders."""

    pending = 0  # the real broker works the orders; nothing to do per bar
    split_flips = True  # a reversal is sent as close, then open once the close has filled

    def __init__(self, engine: OrderEngine, guard: PreTradeCheck, books: Mapping[str, Book],
                 slot_of: Callable[[str], SlotHandle | None], *, bar: Callable[[], int] = lambda: -1,
                 audit: AuditTrail | None = None, cancel_retry: float = 1.0) -> None:
        self.engine = engine
        self.guard = guard
        self.books = books
        self.slot_of = slot_of
        self.bar = bar
        self.audit = audit or AuditTrail()
        self.cancel_retry = cancel_retry
        self.book_orders: dict[str, BookOrder] = {}  # by the book's client_order_id
        self.orders: dict[str, Order] = {}  # every wire order, by its client_order_id
        self._parent: dict[str, BookOrder] = {}  # wire client_order_id -> its book order
        self._queue: dict[str, deque[Order]] = {}  # symbol -> wire orders not yet sent, in order
        self._at_broker: dict[str, str] = {}  # symbol -> the wire order of it at the broker now
        self._cancel_failed: dict[str, float] = {}  # wire order -> monotonic time its cancel failed
        self.exec_ids: set[str] = set()
        self.refused: list[tuple[str, str]] = []
        self.duplicate_fills = 0
        self.anomalies = 0

    # -- slot side (the broker interface of StrategySlot) ----------------------------------------

    def submit(self, req: OrderRequest, sym: int, bar: int, close: float, day: int = 0) -> None:
        why = self.guard.check(req.qty * req.side.sign, close, self.account_position(req.symbol), time.time_ns())
        self._new(req, why)

    def fill_now(self, req: OrderRequest, sym: int, bar: int, price: float, *, market: bool = True) -> None:
        """A risk exit seen on a bar: live, a market order (exits are never limit-checked)."""
        self._new(req, None)

    def cancel(self, client_order_id: str, ts: int = 0) -> bool:
        """Ask for the order to be cancelled. True while it is unsettled: the slot keeps it until
        the outcome is known (canceled, or filled after all)."""
        bo = self.book_orders.get(client_order_id)
        if bo is None or bo.settled:
            return False
        if not bo.cancel_requested:
            bo.cancel_requested = True
            bo.rest = 0.0  # a second part not sent yet never will be
            for part in bo.parts:
                self._cancel_part(part, ts)
            self._settle(bo)
        return True

    def cancel_all(self) -> None:
        """Cancel every open order of the account (the kill switch): what waits here is dropped,
        what is at the broker stays the slots' until its cancel (or fill) is reported."""
        ts = time.time_ns()
        for bo in list(self.book_orders.values()):
            if bo.settled or bo.cancel_requested:
                continue
            bo.cancel_requested = True
            bo.rest = 0.0
            for part in bo.parts:
                q = self._queue.get(part.request.symbol)
                if q is not None and part in q:
                    self._cancel_part(part, ts)
                elif part.is_open:
                    part.apply(OrderUpdate(part.client_order_id, OrderStatus.PENDING_CANCEL, ts))
            self._settle(bo)
        if self.engine.running:
            self.engine.cancel_all()

    def open_orders(self) -> list[OrderRequest]:
        return [b.request for b in self.book_orders.values() if not b.settled]

    def account_position(self, symbol: str) -> float:
        return sum(b.position(symbol) for b in self.books.values())

    def exposure(self, book: str, symbol: str) -> tuple[float, float]:
        """(position + every open buy, position - every open sell) of a book in a symbol: the
        worst cases the exposure invariant bounds."""
        pos = self.books[book].position(symbol)
        up = down = pos
        for b in self.book_orders.values():
            r = b.request
            if r.strategy_id == book and r.symbol == symbol:
                if r.side is Side.BUY:
                    up += b.leaves
                else:
                    down -= b.leaves
        return up, down

    # -- restart -------------------------------------------------------------------------------

    def restore(self, req: OrderRequest, filled: float, sent: bool, exec_ids: set[str]) -> Order:
        """An order an earlier session left open (from the journal): still working for its slot."""
        order = Order(req, OrderStatus.ACCEPTED if sent else OrderStatus.UNKNOWN)
        order.filled_qty = filled
        order.reported_filled = filled
        self._track(req, order)
        self._at_broker.setdefault(req.symbol, req.client_order_id)
        self.exec_ids |= exec_ids
        return order

    # -- reports (from the inbox) ---------------------------------------------------------------

    def on_update(self, u: OrderUpdate) -> None:
        order = self.orders.get(u.client_order_id)
        if order is None:
            return  # not an order of this session's books (an earlier session's, settled there)
        was = order.status
        got = order.apply(u)
        if got is Applied.INVALID:
            self.anomalies += 1
            log.warning("%s; the adapter's reconciliation decides", order.anomalies[-1])
            return
        if got is Applied.APPLIED and order.status is not was and order.status in _AUDIT:
            self._audit_end(order, u.ts, u.reason)
        self._after_report(order)

    def on_fill(self, fill: Fill) -> bool:
        """Apply an execution once: to its order, its book and its slot. False for a duplicate."""
        if fill.exec_id in self.exec_ids:
            self.duplicate_fills += 1
            return False
        self.exec_ids.add(fill.exec_id)
        book = self.books.get(fill.strategy_id)
        if book is None:
            log.warning("fill %s of unknown book %r ignored", fill.exec_id, fill.strategy_id)
            return False
        bar = self.bar()
        if not book.apply_fill(fill, bar):
            self.duplicate_fills += 1
            return False
        self.audit.add("fill", fill.ts, id=fill.client_order_id, book=fill.strategy_id, symbol=fill.symbol,
                       side=fill.side.value, qty=fill.qty, price=fill.price, exec_id=fill.exec_id)
        order = self.orders.get(fill.client_order_id)
        if order is not None and order.apply(fill) is Applied.INVALID:
            self.anomalies += 1
            log.warning("%s", order.anomalies[-1])
        bo = self._parent.get(fill.client_order_id)
        parent = bo.client_order_id if bo is not None else fill.client_order_id
        slot = self.slot_of(parent)
        if slot is not None:
            # the slot knows the book's order, not its parts
            slot.on_fill(fill if parent == fill.client_order_id else
                         msgspec.structs.replace(fill, client_order_id=parent), bar)
        if order is not None:
            self._after_report(order)
        return True

    def on_command_failed(self, ev: CommandFailed) -> None:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return
        if ev.command == "submit" and order.status is OrderStatus.PENDING_NEW:
            # the adapter says whether the broker may hold it (no answer) or surely does not
            status = OrderStatus.UNKNOWN if ev.outcome_unknown else OrderStatus.REJECTED
            order.apply(OrderUpdate(order.client_order_id, status, ev.ts, reason=f"{ev.error}: {ev.message}"))
            if status is OrderStatus.REJECTED:
                self._audit_end(order, ev.ts, ev.message)
            self._after_report(order)
        elif ev.command == "cancel" and order.is_open:
            # refused or unanswered: the adapter refreshes the order; if it is still open after
            # `cancel_retry` seconds the cancel is sent again (see tick)
            self._cancel_failed[order.client_order_id] = time.monotonic()

    def tick(self) -> None:
        """Called now and then from the session loop: resend cancels that failed."""
        if not self._cancel_failed:
            return
        now = time.monotonic()
        for cid, when in list(self._cancel_failed.items()):
            order = self.orders.get(cid)
            if order is None or not order.is_open:
                del self._cancel_failed[cid]
            elif now - when >= self.cancel_retry and self.engine.running:
                del self._cancel_failed[cid]
                self.engine.cancel(cid)

    # -- internals ------------------------------------------------------------------------------

    def _track(self, req: OrderRequest, order: Order) -> BookOrder:
        bo = BookOrder(req, order)
        self.book_orders[req.client_order_id] = bo
        self.orders[req.client_order_id] = order
        self._parent[req.client_order_id] = bo
        return bo

    def _new(self, req: OrderRequest, refused: str | None) -> None:
        if not req.decided_ns:  # time spent in this manager's per-symbol queue counts toward stale_after
            req = msgspec.structs.replace(req, decided_ns=time.time_ns())
        order = Order(req)
        self._track(req, order)
        if refused is None and not self.engine.running:
            refused = "session stopping: not sent"
        if refused is not None:
            log.warning("order %s refused: %s", req.client_order_id, refused)
            self.refused.append((req.client_order_id, refused))
            self._reject(order, refused)
            return
        sym = req.symbol
        if sym in self._at_broker or self._queue.get(sym):
            self._queue.setdefault(sym, deque()).append(order)
        else:
            self._send(order)

    def _send(self, order: Order) -> None:
        req = order.request
        sym = req.symbol
        if not self.engine.running:
            self._reject(order, "session stopping: not sent")
            return
        bo = self._parent[req.client_order_id]
        if bo.parts[0] is order and len(bo.parts) == 1:
            # the book's order itself: does it take the account's net position through zero?
            net = self.account_position(sym)
            if net * req.side.sign < -EPS and req.qty > abs(net) + EPS:
                first = abs(net)
                bo.rest = req.qty - first
                req = msgspec.structs.replace(req, qty=first)
                order = Order(req)
                bo.parts[0] = order
                self.orders[req.client_order_id] = order
        self._at_broker[sym] = req.client_order_id
        # an OCO exit is one order (its worst case is its quantity once, as `exposure` counts it)
        oco = {"order_class": req.order_class, "stop_loss": req.stop_loss} if req.order_class else {}
        self.audit.add("order", req.ts, id=req.client_order_id, book=req.strategy_id, symbol=sym,
                       side=req.side.value, qty=req.qty, type=req.order_type.value, reason=req.reason, **oco)
        self.engine.submit(req)

    def _cancel_part(self, order: Order, ts: int) -> None:
        q = self._queue.get(order.request.symbol)
        if q is not None and order in q:  # never sent: cancelled here
            q.remove(order)
            order.apply(OrderUpdate(order.client_order_id, OrderStatus.CANCELED, ts, reason="cancelled before sending"))
            return
        if not order.is_open:
            return
        order.apply(OrderUpdate(order.client_order_id, OrderStatus.PENDING_CANCEL, ts))
        if self.engine.running:
            self.engine.cancel(order.client_order_id)

    def _reject(self, order: Order, reason: str) -> None:
        order.apply(OrderUpdate(order.client_order_id, OrderStatus.REJECTED, time.time_ns(), reason=reason))
        self._audit_end(order, order.request.ts, reason)
        self._after_report(order)

    def _audit_end(self, order: Order, ts: int, reason: str) -> None:
        r = order.request
        self.audit.add(_AUDIT[order.status], ts, id=r.client_order_id, book=r.strategy_id, symbol=r.symbol,
                       side=r.side.value, qty=r.qty, filled=order.filled_qty, reason=reason)

    def _after_report(self, order: Order) -> None:
        if not order.settled:
            return
        cid = order.client_order_id
        sym = order.request.symbol
        if self._at_broker.get(sym) == cid:
            del self._at_broker[sym]
        bo = self._parent.get(cid)
        if bo is not None:
            if bo.rest > EPS and order.status is OrderStatus.FILLED:
                # the first part closed the account's position to zero: now the rest, first in line
                req = msgspec.structs.replace(bo.request, client_order_id=cid + PART, qty=bo.rest)
                bo.rest = 0.0
                second = Order(req)
                bo.parts.append(second)
                self.orders[req.client_order_id] = second
                self._parent[req.client_order_id] = bo
                self._queue.setdefault(sym, deque()).appendleft(second)
            else:
                bo.rest = 0.0
            self._settle(bo)
        self._next(sym)

    def _settle(self, bo: BookOrder) -> None:
        """Tell the slot, once, when the book's order and all its parts are settled."""
        if bo.done or not bo.settled:
            return
        bo.done = True
        slot = self.slot_of(bo.client_order_id)
        if slot is not None:
            filled = all(p.status is OrderStatus.FILLED for p in bo.parts) and bo.filled_qty >= bo.request.qty - EPS
            slot.on_order_done(bo.client_order_id, filled)

    def _next(self, sym: str) -> None:
        if sym in self._at_broker:
            return
        q = self._queue.get(sym)
        while q:
            order = q.popleft()
            if order.is_open:
                self._send(order)
                return
