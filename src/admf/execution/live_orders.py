"""LiveOrders: the broker-neutral owner of the live order lifecycle, on the engine's loop thread.

It is the AsyncBroker of the AsyncExecutionEngine, on top of an adapter's ExecutionClient
(which only translates commands to the wire and the wire to OrderReport / FillReport /
StreamEvent). Everything else lives here, for every broker:

- intent -> journal (before the send) -> send -> reports -> the inbox;
- one LiveOrder per client_order_id across its broker orders (replace chains "<cid>~<n>",
  a replacement adopted when the broker names it, reverted when rejected);
- an order with legs (an OCO exit: the order and its stop-loss leg at the broker): the legs'
  ids bound to it and journaled, their fills its own (labelled by the leg), its status the
  combination of every member's (execution.legs), so a sibling's cancel is not the order's;
- status never backwards, never after a terminal one; a terminal status whose executions are
  not all here is held back until they are (given up after a grace, counted);
- a fill once per execution id, whichever path brought it (stream, poll, reconciliation, an
  earlier session: the journal's exec ids);
- on start: journal recovery, resolve-unsent (one paged listing), then the stream (which
  reconciles on every connect); polling while the stream is down (execution.reconciler).

What reaches the inbox (via `emit`): OrderUpdate on every step forward (filled_qty and
filled_avg_price are totals over our fills), Fill once per execution, CommandFailed when a
cancel/replace is refused, ConnectionState from the adapter's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import msgspec

from admf.core.enums import OrderStatus
from admf.core.events import Fill, OrderRequest, OrderUpdate
from admf.execution import legs
from admf.execution.async_engine import Emit
from admf.execution.inbox import CommandFailed
from admf.execution.journal import Intent, Journal
from admf.execution.live_record import EPS, LiveOrder, LiveTuning, Tuning, rank, wire_cid
from admf.execution.reconciler import Reconciler
from admf.execution.reports import (
    CANCEL_REJECTED,
    REPLACE_REJECTED,
    DuplicateOrder,
    FillReport,
    NoAnswer,
    NotSent,
    OrderReport,
    Refused,
    StreamEvent,
    UnknownOrder,
)

__all__ = ["ExecutionClient", "LiveOrders", "LocalStream"]


class ExecutionClient(Protocol):
    """An adapter's translation layer: commands to the wire, the wire to reports.

    Commands raise the outcomes of execution.reports (Refused, NotSent, NoAnswer) or
    subclasses of them; anything else is a bug or a fatal error."""

    max_client_id: int  # longest client order id the broker takes

    @property
    def connected(self) -> bool:
        """Whether the push stream is up (reports arrive without asking)."""
        ...

    async def open(self) -> None:
        """Open connections and check the credentials (raise on fatal errors)."""

    async def start_stream(self, on_event: Callable[[StreamEvent], None],
                           on_connected: Callable[[], Awaitable[None]], on_state: Emit) -> None:
        """Connect the push stream; return after the first connect (and its on_connected)."""

    def expect_updates(self, timeout: float | None) -> None:
        """Orders are open: no push for `timeout` seconds means a dead stream (None: idle)."""

    async def close(self) -> None: ...

    def check(self, req: OrderRequest) -> str | None:
        """Why the broker can never accept this request, or None (checked before the send)."""
        ...

    def never_sent(self, wire_cid: str) -> bool:
        """Whether a submit of this id was cancelled before it left for the wire (asked once)."""
        ...

    async def submit(self, req: OrderRequest, wire_cid: str, not_after: float | None) -> OrderReport:
        """Send it (idempotent by wire_cid); `not_after` (time.monotonic()) bounds the wait
        before it leaves: NotSent after it."""
        ...

    async def cancel(self, broker_id: str) -> None:
        """Ask to cancel, ahead of new orders."""

    async def replace(self, broker_id: str, wire_cid: str, qty: float | None, limit_price: float | None,
                      stop_price: float | None) -> OrderReport:
        """The order that continues `broker_id` (its own qty is what is left to trade)."""
        ...

    async def get_order(self, broker_id: str) -> OrderReport | None: ...

    async def get_order_by_client_id(self, wire_cid: str) -> OrderReport | None: ...

    async def list_orders(self, status: str, *, after_ns: int | None = None, limit: int = 500,
                          direction: str = "asc") -> list[OrderReport]:
        """Orders of the account, "open" or "all", created after `after_ns` (oldest first)."""
        ...

    async def fill_reports(self, after_ns: int | None) -> list[FillReport]:
        """Executions of the account after `after_ns`, oldest first."""
        ...

    async def cancel_all(self) -> None:
        """Cancel every open order of the account, ahead of new orders."""

    def stats(self) -> dict[str, int]:
        """The adapter's own counters (connections, calls)."""
        ...


class LocalStream:
    """The push side of a client that calls its reports in itself (a local broker, a test
    fake): always connected, nothing to watch; `push` hands a report to the core."""

    connected = True
    _on_event: Callable[[StreamEvent], None] | None = None

    async def start_stream(self, on_event: Callable[[StreamEvent], None],
                           on_connected: Callable[[], Awaitable[None]], on_state: Emit) -> None:
        self._on_event = on_event
        await on_connected()

    def expect_updates(self, timeout: float | None) -> None:
        return None

    def push(self, ev: StreamEvent) -> None:
        if self._on_event is not None:
            self._on_event(ev)


class LiveOrders:
    """The AsyncBroker of a live session, for any ExecutionClient."""

    def __init__(self, client: ExecutionClient, *, journal: Journal | None = None,
                 tuning: LiveTuning | None = None, stale_after: float = 30.0) -> None:
        self.client = client
        self.journal = journal
        self.tuning: LiveTuning = tuning if tuning is not None else Tuning()
        self.stale_after = stale_after
        self.reconciler = Reconciler(self)
        self.orders: dict[str, LiveOrder] = {}
        self.by_broker: dict[str, LiveOrder] = {}
        self.by_wire: dict[str, LiveOrder] = {}
        self.foreign: set[str] = set()
        self.exec_ids: set[str] = set()
        self.last_event_ts = 0
        self._emit: Emit | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.started = False
        # diagnostics
        self.duplicate_fills = 0
        self.recovered_fills = 0
        self.fill_mismatches = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, emit: Emit) -> None:
        """Check the keys, recover the journal, resolve unsent intents, connect the stream
        (reconciling on connect), start polling for when the stream is down."""
        self._emit = emit
        rec = self.reconciler
        await self.client.open()
        try:
            self.recover_journal()
            await rec.resolve_unsent()
            await self.client.start_stream(self.on_event, rec.reconcile, emit)
        except BaseException:
            await self.client.close()
            raise
        rec.start()
        self.started = True

    async def close(self) -> None:
        self.started = False
        await self.reconciler.stop()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.client.close()
        if self.journal is not None:
            self.journal.flush()

    def outcome_unknown(self, exc: BaseException) -> bool:
        """No answer: the broker may hold the order (the order manager waits for the lookup)."""
        return isinstance(exc, NoAnswer)

    async def reconcile(self) -> None:
        await self.reconciler.reconcile()

    # -- commands ----------------------------------------------------------------------------

    async def submit(self, req: OrderRequest) -> None:
        cid = req.client_order_id
        st = self.orders.get(cid)
        if st is not None:
            # The same order again (a retry by the caller): never a second order at the broker.
            if st.inflight is not None:
                await asyncio.shield(st.inflight)
            if st.broker_id is not None or not st.open:
                return
            await self.send(st)
            return
        st = LiveOrder(req)
        if self.journal is not None and not self.journal.record_intent(req):
            raise DuplicateOrder(f"client_order_id {cid!r} was already used in this journal")
        self.track(st)
        problem = self.client.check(req)
        if problem is not None:
            self.reject_locally(st, problem)
            return
        await self.send(st)

    async def send(self, st: LiveOrder) -> None:
        """Send the order. If no verdict comes (NoAnswer), it stays open with no broker id: the
        poller looks it up until the broker answers, and rejects it only once the broker says
        it has no such order."""
        # a decision that cannot leave within stale_after seconds of being made is dropped, never
        # sent late (the time it queued before reaching this core counts)
        left = self.stale_after
        if st.req.decided_ns:
            left -= (time.time_ns() - st.req.decided_ns) / 1e9
        if left <= 0:
            self.reject_locally(st, self._stale())
            return
        st.inflight = fut = asyncio.get_running_loop().create_future()
        try:
            order = await self.client.submit(st.req, st.wire_cid, time.monotonic() + left)
        except NotSent:
            self.reject_locally(st, self._stale())
            return
        except Refused as exc:
            self.reject_locally(st, exc.reason)
            return
        except asyncio.CancelledError:
            # cancelled (a stop) while it waited for the rate limit: surely not at the broker, so
            # the journal says so instead of leaving the intent for a restart to look up
            if self.client.never_sent(st.wire_cid):
                self.reject_locally(st, "not sent: the session stopped")
            raise
        finally:
            st.inflight = None
            fut.set_result(None)
        self.apply_order(st, order)

    def _stale(self) -> str:
        return f"stale: not sent within {self.stale_after:g} s of its decision"

    async def cancel(self, client_order_id: str) -> None:
        st = await self._ready(client_order_id, "cancel")
        assert st.broker_id is not None
        try:
            await self.client.cancel(st.broker_id)
        except Refused:
            await self.reconciler.refresh(st)
            raise

    async def replace(self, client_order_id: str, qty: float | None = None, limit_price: float | None = None,
                      stop_price: float | None = None) -> None:
        st = await self._ready(client_order_id, "replace")
        old_id = st.broker_id
        assert old_id is not None
        st.replacements += 1
        wire = wire_cid(st.cid, st.replacements, self.client.max_client_id)
        self.by_wire[wire] = st
        st.replacing = True
        try:
            order = await self.client.replace(old_id, wire, qty, limit_price, stop_price)
        except (Refused, NoAnswer, NotSent):
            # Refused, or no answer: the old order's state tells (a "replaced" one is followed).
            st.replacing = False
            with contextlib.suppress(Refused, NoAnswer, NotSent):
                await self.reconciler.refresh(st)
            raise
        finally:
            st.replacing = False
        changes = {"qty": qty, "limit_price": limit_price, "stop_price": stop_price}
        # qty is the replacement order's own quantity (what is left to trade).
        new_req = {k: v for k, v in changes.items() if v is not None}
        if qty is not None:
            new_req["qty"] = st.filled_qty + qty
        st.req = msgspec.structs.replace(st.req, **new_req)
        if order.broker_id != old_id:
            st.prev_ids.append(old_id)
        st.wire_cid = order.wire_client_id or wire
        self.bind(st, order.broker_id, st.wire_cid)
        status = order.status or OrderStatus.ACCEPTED
        if order.replaced or status.is_terminal:
            self.apply_order(st, order)
            return
        if rank(st.status) > rank(status):  # e.g. partially filled before the replace
            status = st.status or status
        detail = ", ".join(f"{k}={v:g}" for k, v in changes.items() if v is not None)
        self.set_status(st, status, order.updated_ns or time.time_ns(), reason=f"replaced: {detail}", force=True)

    async def cancel_all(self) -> None:
        """Cancel every open order of the account, then wait briefly for the outcomes so they
        are journaled and on the inbox before a stop."""
        await self.client.cancel_all()
        deadline = time.monotonic() + self.tuning.timeout
        while time.monotonic() < deadline:
            opens = await self.client.list_orders("open")
            if not any(self.lookup(o) is not None for o in opens):
                break
            await asyncio.sleep(0.1)
        await self.reconciler.reconcile()

    async def _ready(self, cid: str, what: str) -> LiveOrder:
        st = self.orders.get(cid)
        if st is None:
            raise UnknownOrder(f"cannot {what}: unknown client_order_id {cid!r}")
        if st.inflight is not None:
            await asyncio.shield(st.inflight)
        if not st.open:
            raise Refused(f"cannot {what} {cid!r}: order is {st.status.value if st.status else '?'}")
        if st.broker_id is None:
            found = await self.client.get_order_by_client_id(st.wire_cid)
            if found is None:
                raise UnknownOrder(f"cannot {what} {cid!r}: the broker does not know this order")
            self.apply_order(st, found)
        return st

    # -- queries -----------------------------------------------------------------------------

    def order_state(self, client_order_id: str) -> tuple[OrderStatus | None, float, str | None] | None:
        """(status, filled qty, current broker id) as the core knows it, or None."""
        st = self.orders.get(client_order_id)
        return None if st is None else (st.status, st.filled_qty, st.broker_id)

    @property
    def stats(self) -> dict[str, int]:
        return {
            "orders": len(self.orders),
            "fills": len(self.exec_ids),
            "duplicate_fills": self.duplicate_fills,
            "recovered_fills": self.recovered_fills,
            "reconciles": self.reconciler.runs,
            "fill_mismatches": self.fill_mismatches,
            **self.client.stats(),
        }

    # -- the records -------------------------------------------------------------------------

    def track(self, st: LiveOrder) -> None:
        self.orders[st.cid] = st
        self.by_wire[st.wire_cid] = st

    def bind(self, st: LiveOrder, broker_id: str, wire: str | None = None) -> None:
        if broker_id in st.ids and st.broker_id == broker_id:
            return
        if broker_id not in st.ids:
            st.ids.add(broker_id)
            self.by_broker[broker_id] = st
            if self.journal is not None:
                self.journal.set_broker_id(st.cid, broker_id, wire or st.wire_cid)
        st.broker_id = broker_id

    def bind_legs(self, st: LiveOrder, reports: tuple[OrderReport, ...]) -> None:
        """Bind the broker's child orders of st (journaled with their leg names)."""
        for leg in reports:
            bid = leg.broker_id
            if bid in st.legs or bid in st.ids:
                continue
            name = leg.leg or legs.UNNAMED_LEG
            st.legs[bid] = name
            self.by_broker[bid] = st
            if self.journal is not None:
                self.journal.set_broker_id(st.cid, bid, leg.wire_client_id, leg=name)
            if bid in self.foreign:
                # an event of the leg came before the submit's answer and was set aside: ask again
                self.foreign.discard(bid)
                self.spawn(self.reconciler.refresh(st))

    def lookup(self, o: OrderReport) -> LiveOrder | None:
        """The logical order a broker report belongs to (loaded from the journal if need be)."""
        st = self.by_broker.get(o.broker_id) or self.by_wire.get(o.wire_client_id)
        if st is not None or self.journal is None or o.broker_id in self.foreign:
            return st
        cid = self.journal.client_id_for_broker_id(o.broker_id)
        intent = self.journal.intent(o.wire_client_id if cid is None else cid)
        if intent is None:
            self.foreign.add(o.broker_id)
            return None
        return self.load_intent(intent)

    def load_intent(self, intent: Intent) -> LiveOrder:
        st = LiveOrder(intent.request)
        st.status = OrderStatus.parse(intent.status) if intent.status else None
        self.track(st)
        j = self.journal
        assert j is not None
        for bid, wire in j.broker_ids(st.cid):
            st.ids.add(bid)
            self.by_broker[bid] = st
            self.by_wire[wire] = st
            st.wire_cid = wire
            st.broker_id = bid
        for bid, name in j.leg_ids(st.cid):
            st.legs[bid] = name
            self.by_broker[bid] = st
        st.replacements = max(0, len(st.ids) - 1)
        for f in j.fills(st.cid):
            st.filled_qty += f.qty
            st.notional += f.qty * f.price
            self.exec_ids.add(f.exec_id)
        st.emitted_filled = st.filled_qty
        return st

    def recover_journal(self) -> None:
        if self.journal is None:
            return
        rec = self.journal.recover()
        self.exec_ids.update(rec.exec_ids)
        self.last_event_ts = max(self.last_event_ts, rec.last_event_ts)
        for intent in rec.open_intents:
            if intent.client_order_id not in self.orders:
                self.load_intent(intent)

    def note_ts(self, ts: int) -> None:
        if ts > self.last_event_ts:
            self.last_event_ts = ts
            if self.journal is not None:
                self.journal.note_event_ts(ts)

    # -- applying reports --------------------------------------------------------------------

    def apply_fill(self, st: LiveOrder, f: FillReport, source: str) -> bool:
        """An execution of `st`: journaled, emitted once by exec id; releases a held-back status."""
        exec_id = f.exec_id
        if exec_id in self.exec_ids:
            self.duplicate_fills += 1
            return False
        self.exec_ids.add(exec_id)
        req = st.req
        reason = st.legs.get(f.broker_id, req.reason) if st.legs else req.reason  # a leg's fill: its leg
        fill = Fill(exec_id, st.cid, req.strategy_id, req.symbol, f.side or req.side, f.qty, f.price, f.ts,
                    f.commission, reason)
        if self.journal is not None and not self.journal.record_fill(fill, source):
            self.duplicate_fills += 1
            return False
        st.filled_qty += f.qty
        st.notional += f.qty * f.price
        if source != "stream":
            self.recovered_fills += 1
        self.note_ts(f.ts)
        assert self._emit is not None
        self._emit(fill)
        if st.pending is not None and st.owed <= EPS:
            status, pts, avg, reason = st.pending
            st.pending = None
            st.owed_since = 0.0
            self.set_status(st, status, max(pts, f.ts), avg=avg, reason=reason)
        return True

    def apply_order(self, st: LiveOrder, o: OrderReport, ts: int = 0) -> None:
        """Fold a broker snapshot of one of st's orders into st (status only; fills come by exec id)."""
        ts = ts or o.updated_ns or time.time_ns()
        bid = o.broker_id
        if st.created_ts == 0 and o.created_ns:
            st.created_ts = o.created_ns
        if o.filled_qty > st.broker_filled.get(bid, 0.0):
            st.broker_filled[bid] = o.filled_qty
        if o.legs:
            self.bind_legs(st, o.legs)
        if bid in st.legs:
            self._apply_members(st, (o,), ts)
            return
        if st.broker_id is None:
            self.bind(st, bid, o.wire_client_id)
        elif bid != st.broker_id:
            if bid not in st.ids and o.wire_client_id == st.wire_cid:
                self.bind(st, bid, o.wire_client_id)
            else:
                return  # an earlier order of a replace chain: its status is not the order's
        if st.legs:
            self._apply_members(st, (*o.legs, o), ts)
            return
        if o.replaced:
            if o.replaced_by and not st.replacing and o.replaced_by not in st.ids:
                # Replaced by someone else (or before our replace answered): follow the chain.
                self.spawn(self.reconciler.adopt(st, o.replaced_by))
            return
        status = o.status
        if status is OrderStatus.REJECTED and st.prev_ids:
            self._revert_replacement(st)
            return
        if status is None:
            return
        self.set_status(st, status, ts, avg=o.avg_price)

    def _apply_members(self, st: LiveOrder, reports: tuple[OrderReport, ...], ts: int) -> None:
        """Reports of members of an order with legs (the order's own, a leg's): noted, then the
        order's status combines every member's last report (execution.legs)."""
        for r in reports:
            if r.filled_qty > st.broker_filled.get(r.broker_id, 0.0):
                st.broker_filled[r.broker_id] = r.filled_qty
            st.members[r.broker_id] = legs.note(st.members.get(r.broker_id), r.status, r.filled_qty, r.replaced)
        status = legs.order_status(st.req.qty, st.broker_id, list(st.legs), st.members)
        if status is not None:
            self.set_status(st, status, ts)

    def _revert_replacement(self, st: LiveOrder) -> None:
        bad = st.broker_id
        st.broker_id = st.prev_ids.pop()
        self._failed("replace", st.cid, f"replacement {bad} was rejected", time.time_ns())
        self.spawn(self.reconciler.refresh(st))

    def _failed(self, what: str, cid: str, message: str, ts: int) -> None:
        assert self._emit is not None
        self._emit(CommandFailed(what, cid, "Refused", message, ts))

    def reject_locally(self, st: LiveOrder, reason: str) -> None:
        """This core's own verdict (never sent, stale, unknown to the broker): rejected now."""
        self.set_status(st, OrderStatus.REJECTED, time.time_ns(), reason=reason, local=True)

    def set_status(self, st: LiveOrder, status: OrderStatus, ts: int, *, avg: float | None = None,
                   reason: str = "", force: bool = False, local: bool = False) -> None:
        old = st.status
        if not force:
            if old is not None and old.is_terminal:
                return
            if status.is_terminal and st.owed > EPS:
                # Terminal at the broker but executions are missing here: hold the status back
                # until reconciliation brings the fills, so filled_qty always equals our fills.
                if st.pending is None:
                    st.owed_since = time.monotonic()
                st.pending = (status, ts, avg, reason)
                if st.filled_qty > st.emitted_filled and st.filled_qty > EPS:
                    self.set_status(st, OrderStatus.PARTIALLY_FILLED, ts)  # what is here meanwhile
                return
            r_new, r_old = rank(status), rank(old)
            if r_new < r_old or (r_new == r_old and st.filled_qty == st.emitted_filled):
                return
        st.status = status
        st.emitted_filled = st.filled_qty
        upd = OrderUpdate(
            client_order_id=st.cid,
            status=status,
            ts=ts,
            broker_order_id=st.broker_id or "",
            filled_qty=st.filled_qty,
            filled_avg_price=st.avg_price if st.filled_qty > 0 else avg,
            reason=reason,
        )
        if self.journal is not None:
            self.journal.record_transition(upd)
        if not local:  # a local decision's wall time must not move the broker-time watermark
            self.note_ts(ts)
        assert self._emit is not None
        self._emit(upd)

    # -- the push stream ---------------------------------------------------------------------

    def on_event(self, ev: StreamEvent) -> None:
        o = ev.order
        st = self.lookup(o)
        if st is None:
            return
        ts = ev.ts or o.updated_ns
        if ev.fill is not None:
            self.apply_fill(st, ev.fill, "stream")
        elif ev.kind == CANCEL_REJECTED or ev.kind == REPLACE_REJECTED:
            what = "replace" if ev.kind == REPLACE_REJECTED else "cancel"
            self._failed(what, st.cid, f"{what} rejected by the broker", ts)
        self.apply_order(st, o, ts)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

