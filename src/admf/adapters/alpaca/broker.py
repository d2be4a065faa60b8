"""AlpacaBroker: the AsyncBroker of the live engine, on REST + trade-updates stream + journal.

Order identity: the core names an order by its client_order_id and keeps that name for the
order's whole life. On the wire the first submission uses it unchanged; a replacement (which
Alpaca turns into a new order with a new id) is sent as "<client_order_id>~<n>", and every
broker id and wire id is mapped back to the core's name (and journaled).

What reaches the inbox (via `emit`, on the loop thread):
- OrderUpdate on every step forward of the state machine (never backwards, never after a
  terminal state); filled_qty / filled_avg_price are the order's totals over our fills;
- Fill once per execution id, whichever path brought it (stream, poll, reconciliation,
  previous session); qty is the execution's own quantity;
- CommandFailed when a cancel/replace is refused, ConnectionState from the trade stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time

import msgspec

from admf.adapters.alpaca import errors as _errors
from admf.adapters.alpaca import models as m
from admf.adapters.alpaca.errors import (
    AlpacaError,
    BrokerUnavailable,
    DuplicateClientOrderId,
    NotFound,
    OrderRejected,
)
from admf.adapters.alpaca.rest import AlpacaRest
from admf.adapters.alpaca.settings import (
    DATA_URL,
    LIVE_URL,
    PAPER_URL,
    AlpacaSettings,
    Credentials,
    trade_stream_url,
)
from admf.adapters.alpaca.trade_stream import TradeStream
from admf.core.enums import OrderStatus
from admf.core.events import Fill, OrderRequest, OrderUpdate
from admf.execution.async_engine import Emit
from admf.execution.inbox import CommandFailed
from admf.execution.journal import Journal

__all__ = ["AlpacaBroker"]

# Raised by the REST client when the rate limiter cannot send a request before its deadline
# (nothing was sent). Older clients have neither the exception nor the deadline.
StaleRequest: type[Exception] = getattr(_errors, "StaleRequest", type("StaleRequest", (AlpacaError,), {}))

log = logging.getLogger("admf.alpaca.broker")

NS = 1_000_000_000
_EPS = 1e-9
_RANK = {
    OrderStatus.ACCEPTED: 1,
    OrderStatus.PARTIALLY_FILLED: 2,
}


def _rank(s: OrderStatus | None) -> int:
    if s is None:
        return -1
    return 3 if s.is_terminal else _RANK.get(s, 0)


class _Order:
    """What the adapter knows of one logical order (one client_order_id)."""

    __slots__ = (
        "req",
        "cid",
        "broker_id",
        "wire_cid",
        "status",
        "filled_qty",
        "notional",
        "emitted_filled",
        "created_ts",
        "ids",
        "prev_ids",
        "inflight",
        "replacements",
        "broker_filled",
        "pending",
        "owed_since",
        "owed_checks",
        "replacing",
    )

    def __init__(self, req: OrderRequest) -> None:
        self.req = req
        self.cid = req.client_order_id
        self.broker_id: str | None = None
        self.wire_cid = req.client_order_id
        self.status: OrderStatus | None = None
        self.filled_qty = 0.0
        self.notional = 0.0
        self.emitted_filled = -1.0
        self.created_ts = 0
        self.ids: set[str] = set()
        self.prev_ids: list[str] = []
        self.inflight: asyncio.Future[None] | None = None
        self.replacements = 0
        self.broker_filled: dict[str, float] = {}  # filled_qty the broker reports, per broker id
        self.pending: tuple[OrderStatus, int, float | None, str] | None = None  # terminal, held back
        self.owed_since = 0.0
        self.owed_checks = 0
        self.replacing = False  # our PATCH is in flight: its answer binds the new order

    @property
    def open(self) -> bool:
        """Still needs watching: not terminal yet, or terminal at the broker with fills not yet here."""
        return self.status is None or not self.status.is_terminal or self.pending is not None

    @property
    def owed(self) -> float:
        """Quantity the broker says is filled but whose executions have not reached us."""
        return sum(self.broker_filled.values()) - self.filled_qty

    @property
    def avg_price(self) -> float | None:
        return self.notional / self.filled_qty if self.filled_qty > 0 else None


def _wire_cid(cid: str, n: int) -> str:
    suffix = f"~{n}"
    return cid[: m.MAX_CLIENT_ORDER_ID - len(suffix)] + suffix


class AlpacaBroker:
    """Alpaca (paper by default) behind the AsyncBroker protocol of the AsyncExecutionEngine."""

    def __init__(
        self,
        key_id: str,
        secret_key: str,
        *,
        paper: bool = True,
        trading_url: str | None = None,
        stream_url: str | None = None,
        data_url: str = DATA_URL,
        journal: Journal | None = None,
        settings: AlpacaSettings | None = None,
        stale_after: float = 30.0,
    ) -> None:
        self.settings = settings or AlpacaSettings()
        self._creds = Credentials(key_id, secret_key)
        self.trading_url = (trading_url or (PAPER_URL if paper else LIVE_URL)).rstrip("/")
        self.stream_url = stream_url or trade_stream_url(self.trading_url)
        self.paper = paper
        self.journal = journal
        self.rest = AlpacaRest(
            key_id, secret_key, trading_url=self.trading_url, data_url=data_url, settings=self.settings
        )
        self.stream = TradeStream(
            self.stream_url,
            self._creds,
            self._on_trade_update,
            on_connected=self._on_stream_connected,
            settings=self.settings,
        )
        self._emit: Emit | None = None
        self._orders: dict[str, _Order] = {}
        self._by_broker: dict[str, _Order] = {}
        self._by_wire: dict[str, _Order] = {}
        self._foreign: set[str] = set()
        self._exec_ids: set[str] = set()
        self._last_event_ts = 0
        self._reconcile_lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._started = False
        # what the REST client of the running version offers (see StaleRequest)
        params = inspect.signature(self.rest.submit_order).parameters
        self._rest_has_deadline = "not_after" in params
        self._first: dict[str, int] = (
            {"priority": 0} if "priority" in inspect.signature(self.rest.cancel_order).parameters else {}
        )
        self.settings_stale_after = stale_after
        # diagnostics
        self.duplicate_fills = 0
        self.reconciles = 0
        self.recovered_fills = 0
        self.fill_mismatches = 0

    def __repr__(self) -> str:
        return f"AlpacaBroker(trading_url={self.trading_url!r}, paper={self.paper})"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, emit: Emit) -> None:
        """Check the keys, recover the journal, connect the trade stream (reconciling on
        connect), start polling for when the stream is down."""
        self._emit = emit
        self._reconcile_lock = asyncio.Lock()
        self.stream._on_state = emit
        await self.rest.open()
        try:
            await self.rest.get_account()
            self._recover_journal()
            await self._resolve_unsent()
            await self.stream.start(wait=True)
        except BaseException:
            await self.stream.close()
            await self.rest.close()
            raise
        self._poller = asyncio.get_running_loop().create_task(self._poll(), name="admf-alpaca-poll")
        self._started = True

    async def close(self) -> None:
        self._started = False
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
            self._poller = None
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.stream.close()
        await self.rest.close()
        if self.journal is not None:
            self.journal.flush()

    # -- commands ----------------------------------------------------------------------------

    async def submit(self, req: OrderRequest) -> None:
        cid = req.client_order_id
        st = self._orders.get(cid)
        if st is not None:
            # The same order again (a retry by the caller): never a second order at the broker.
            if st.inflight is not None:
                await asyncio.shield(st.inflight)
            if st.broker_id is not None or not st.open:
                return
            await self._send(st)
            return
        st = _Order(req)
        if self.journal is not None and not self.journal.record_intent(req):
            raise DuplicateClientOrderId(f"client_order_id {cid!r} was already used in this journal")
        self._track(st)
        problem = m.check_request(req)
        if problem is not None:
            self._set_status(st, OrderStatus.REJECTED, time.time_ns(), reason=problem, local=True)
            return
        await self._send(st)

    async def _send(self, st: _Order) -> None:
        """POST the order (idempotent by client_order_id, see AlpacaRest.submit_order).

        If every attempt fails without a verdict (network down), the order stays open with no
        broker id; the poller looks it up until the broker answers, and rejects it only once the
        broker says it has no such order."""
        loop = asyncio.get_running_loop()
        st.inflight = fut = loop.create_future()
        body = m.order_body(st.req, st.wire_cid)
        try:
            if self._rest_has_deadline:
                # a decision that cannot leave within stale_after seconds is dropped, never sent late
                wait = self.settings_stale_after
                order = await self.rest.submit_order(body, not_after=time.monotonic() + wait)  # type: ignore[call-arg]
            else:
                order = await self.rest.submit_order(body)
        except OrderRejected as exc:
            self._set_status(st, OrderStatus.REJECTED, time.time_ns(), reason=exc.message, local=True)
            return
        except StaleRequest:
            reason = f"stale: not sent within {self.settings_stale_after:g} s"
            self._set_status(st, OrderStatus.REJECTED, time.time_ns(), reason=reason, local=True)
            return
        except asyncio.CancelledError:
            # cancelled (a stop) while it waited for the rate limit: surely not at the broker, so
            # the journal says so instead of leaving the intent for a restart to look up
            if self.rest.never_sent(st.wire_cid):
                self._set_status(st, OrderStatus.REJECTED, time.time_ns(), reason="not sent: the session stopped",
                                 local=True)
            raise
        finally:
            st.inflight = None
            fut.set_result(None)
        self._apply_order(st, order)

    async def cancel(self, client_order_id: str) -> None:
        st = await self._ready(client_order_id, "cancel")
        assert st.broker_id is not None
        try:
            await self.rest.cancel_order(st.broker_id, **self._first)
        except (OrderRejected, NotFound):
            await self._refresh(st)
            raise

    async def replace(
        self,
        client_order_id: str,
        qty: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> None:
        st = await self._ready(client_order_id, "replace")
        old_id = st.broker_id
        assert old_id is not None
        st.replacements += 1
        wire = _wire_cid(st.cid, st.replacements)
        self._by_wire[wire] = st
        st.replacing = True
        try:
            order = await self.rest.replace_order(
                old_id, qty=qty, limit_price=limit_price, stop_price=stop_price, client_order_id=wire
            )
        except AlpacaError:
            # Refused, or no answer: the old order's state tells (a "replaced" one is followed).
            st.replacing = False
            with contextlib.suppress(AlpacaError):
                await self._refresh(st)
            raise
        finally:
            st.replacing = False
        changes = {"qty": qty, "limit_price": limit_price, "stop_price": stop_price}
        # qty is the replacement order's own quantity (what is left to trade), as in Alpaca.
        new_req = {k: v for k, v in changes.items() if v is not None}
        if qty is not None:
            new_req["qty"] = st.filled_qty + qty
        st.req = msgspec.structs.replace(st.req, **new_req)
        st.prev_ids.append(old_id)
        st.wire_cid = wire
        self._bind(st, order.id, wire)
        status = m.to_status(order.status) or OrderStatus.ACCEPTED
        if order.status == m.REPLACED or status.is_terminal:
            self._apply_order(st, order)
            return
        if _rank(st.status) > _rank(status):  # e.g. partially filled before the replace
            status = st.status or status
        detail = ", ".join(f"{k}={v:g}" for k, v in changes.items() if v is not None)
        self._set_status(st, status, order.updated_ns() or time.time_ns(), reason=f"replaced: {detail}", force=True)

    def outcome_unknown(self, exc: BaseException) -> bool:
        """No answer (network, timeout, 5xx after every retry): the broker may hold the order."""
        return isinstance(exc, BrokerUnavailable)

    async def cancel_all(self) -> None:
        """Cancel every open order of the account (DELETE /v2/orders), then wait briefly for the
        outcomes so they are journaled and on the inbox before a stop."""
        await self.rest.cancel_all_orders(**self._first)
        deadline = time.monotonic() + self.settings.timeout
        while time.monotonic() < deadline:
            opens = await self.rest.list_orders("open", limit=500)
            if not any(self._lookup(o) is not None for o in opens):
                break
            await asyncio.sleep(0.1)
        await self.reconcile()

    async def _ready(self, cid: str, what: str) -> _Order:
        st = self._orders.get(cid)
        if st is None:
            raise NotFound(f"cannot {what}: unknown client_order_id {cid!r}")
        if st.inflight is not None:
            await asyncio.shield(st.inflight)
        if not st.open:
            raise OrderRejected(f"cannot {what} {cid!r}: order is {st.status.value if st.status else '?'}")
        if st.broker_id is None:
            found = await self.rest.get_order_by_client_order_id(st.wire_cid)
            if found is None:
                raise NotFound(f"cannot {what} {cid!r}: the broker does not know this order")
            self._apply_order(st, found)
        return st

    # -- queries (for the main thread through engine.run) ------------------------------------

    async def account(self) -> m.Account:
        return await self.rest.get_account()

    async def positions(self) -> list[m.Position]:
        return await self.rest.get_positions()

    async def open_orders(self) -> list[m.Order]:
        return await self.rest.list_orders("open", limit=500)

    def order_state(self, client_order_id: str) -> tuple[OrderStatus | None, float, str | None] | None:
        """(status, filled qty, current broker id) as this adapter knows it, or None."""
        st = self._orders.get(client_order_id)
        return None if st is None else (st.status, st.filled_qty, st.broker_id)

    @property
    def stats(self) -> dict[str, int]:
        return {
            "orders": len(self._orders),
            "fills": len(self._exec_ids),
            "duplicate_fills": self.duplicate_fills,
            "recovered_fills": self.recovered_fills,
            "reconciles": self.reconciles,
            "fill_mismatches": self.fill_mismatches,
            "stream_connects": self.stream.connects,
            "stream_disconnects": self.stream.disconnects,
            "rest_calls": self.rest.calls,
            "rest_retries": self.rest.retries,
            "rate_limited": self.rest.rate_limited,
        }

    # -- state -------------------------------------------------------------------------------

    def _track(self, st: _Order) -> None:
        self._orders[st.cid] = st
        self._by_wire[st.wire_cid] = st

    def _bind(self, st: _Order, broker_id: str, wire_cid: str | None = None) -> None:
        if broker_id in st.ids and st.broker_id == broker_id:
            return
        if broker_id not in st.ids:
            st.ids.add(broker_id)
            self._by_broker[broker_id] = st
            if self.journal is not None:
                self.journal.set_broker_id(st.cid, broker_id, wire_cid or st.wire_cid)
        st.broker_id = broker_id

    def _lookup(self, o: m.Order) -> _Order | None:
        st = self._by_broker.get(o.id) or self._by_wire.get(o.client_order_id)
        if st is not None or self.journal is None or o.id in self._foreign:
            return st
        cid = self.journal.client_id_for_broker_id(o.id)
        if cid is None:
            intent = self.journal.intent(o.client_order_id)
        else:
            intent = self.journal.intent(cid)
        if intent is None:
            self._foreign.add(o.id)
            return None
        return self._load_intent(intent)

    def _load_intent(self, intent) -> _Order:
        st = _Order(intent.request)
        st.status = OrderStatus.parse(intent.status) if intent.status else None
        self._track(st)
        assert self.journal is not None
        for bid, wire in self.journal.broker_ids(st.cid):
            st.ids.add(bid)
            self._by_broker[bid] = st
            self._by_wire[wire] = st
            st.wire_cid = wire
            st.broker_id = bid
        st.replacements = max(0, len(st.ids) - 1)
        for f in self.journal.fills(st.cid):
            st.filled_qty += f.qty
            st.notional += f.qty * f.price
            self._exec_ids.add(f.exec_id)
        st.emitted_filled = st.filled_qty
        return st

    def _recover_journal(self) -> None:
        if self.journal is None:
            return
        rec = self.journal.recover()
        self._exec_ids.update(rec.exec_ids)
        self._last_event_ts = max(self._last_event_ts, rec.last_event_ts)
        for intent in rec.open_intents:
            if intent.client_order_id not in self._orders:
                self._load_intent(intent)

    async def _resolve_unsent(self) -> None:
        """After a restart: intents never acknowledged are looked up before anything is resent,
        in one listing of the orders since the oldest of them (pages of 500), not one request
        per intent."""
        unsent = [s for s in self._orders.values() if s.broker_id is None and s.open]
        if not unsent:
            return
        since = min(s.req.ts for s in unsent) if all(s.req.ts for s in unsent) else 0
        after = max(0, since - int(self.settings.reconcile_slack * NS) - 60 * NS)
        wanted = {s.wire_cid: s for s in unsent}
        found: dict[str, m.Order] = {}
        cursor: int | str | None = after or None
        while True:
            page = await self.rest.list_orders("all", after=cursor, limit=500, direction="asc")
            for listed in page:
                if listed.client_order_id in wanted:
                    found[listed.client_order_id] = listed
            if len(page) < 500 or len(found) == len(wanted):
                break
            cursor = page[-1].submitted_at or page[-1].created_at
        for wire, st in wanted.items():
            hit = found.get(wire)
            if hit is None and len(wanted) <= 3:
                hit = await self.rest.get_order_by_client_order_id(wire)  # belt and braces for a few
            if hit is not None:
                self._apply_order(st, hit)
            elif self.settings.resend_unsent_on_restart:
                self._spawn(self._send(st))
            else:
                self._set_status(
                    st,
                    OrderStatus.REJECTED,
                    time.time_ns(),
                    reason="never reached the broker before a restart",
                    local=True,
                )

    def _note_ts(self, ts: int) -> None:
        if ts > self._last_event_ts:
            self._last_event_ts = ts
            if self.journal is not None:
                self.journal.note_event_ts(ts)

    def _apply_fill(self, st: _Order, exec_id: str, qty: float, price: float, ts: int, source: str) -> bool:
        if exec_id in self._exec_ids:
            self.duplicate_fills += 1
            return False
        self._exec_ids.add(exec_id)
        req = st.req
        fill = Fill(exec_id, st.cid, req.strategy_id, req.symbol, req.side, qty, price, ts, 0.0, req.reason)
        if self.journal is not None and not self.journal.record_fill(fill, source):
            self.duplicate_fills += 1
            return False
        st.filled_qty += qty
        st.notional += qty * price
        if source != "stream":
            self.recovered_fills += 1
        self._note_ts(ts)
        assert self._emit is not None
        self._emit(fill)
        if st.pending is not None and st.owed <= _EPS:
            status, pts, avg, reason = st.pending
            st.pending = None
            st.owed_since = 0.0
            self._set_status(st, status, max(pts, ts), avg=avg, reason=reason)
        return True

    def _apply_order(self, st: _Order, o: m.Order, ts: int = 0) -> None:
        """Fold a broker snapshot of one of st's orders into st (status only; fills come by exec id)."""
        ts = ts or o.updated_ns() or time.time_ns()
        if st.created_ts == 0 and o.created_at:
            st.created_ts = m.parse_ts_ns(o.created_at)
        if o.filled_qty > st.broker_filled.get(o.id, 0.0):
            st.broker_filled[o.id] = o.filled_qty
        if st.broker_id is None:
            self._bind(st, o.id, o.client_order_id)
        elif o.id != st.broker_id:
            if o.id not in st.ids and o.client_order_id == st.wire_cid:
                self._bind(st, o.id, o.client_order_id)
            else:
                return  # an earlier order of a replace chain: its status is not the order's
        status = m.to_status(o.status)
        if o.status == m.REPLACED:
            if o.replaced_by and not st.replacing and o.replaced_by not in st.ids:
                # Replaced by someone else (or before our PATCH answered): follow the chain.
                self._spawn(self._adopt(st, o.replaced_by))
            return
        if status is OrderStatus.REJECTED and st.prev_ids:
            self._revert_replacement(st)
            return
        if status is None:
            return
        self._set_status(st, status, ts, avg=o.filled_avg_price)

    def _revert_replacement(self, st: _Order) -> None:
        bad = st.broker_id
        st.broker_id = st.prev_ids.pop()
        assert self._emit is not None
        self._emit(CommandFailed("replace", st.cid, "OrderRejected", f"replacement {bad} was rejected", time.time_ns()))
        self._spawn(self._refresh(st))

    def _set_status(
        self,
        st: _Order,
        status: OrderStatus,
        ts: int,
        *,
        avg: float | None = None,
        reason: str = "",
        force: bool = False,
        local: bool = False,
    ) -> None:
        old = st.status
        if not force:
            if old is not None and old.is_terminal:
                return
            if status.is_terminal and st.owed > _EPS:
                # Terminal at the broker but executions are missing here: hold the status back
                # until reconciliation brings the fills, so filled_qty always equals our fills.
                if st.pending is None:
                    st.owed_since = time.monotonic()
                st.pending = (status, ts, avg, reason)
                return
            r_new, r_old = _rank(status), _rank(old)
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
            self._note_ts(ts)
        assert self._emit is not None
        self._emit(upd)

    # -- stream ------------------------------------------------------------------------------

    def _on_trade_update(self, tu: m.TradeUpdate) -> None:
        o = tu.order
        st = self._lookup(o)
        if st is None:
            return
        ts = m.parse_ts_ns(tu.timestamp) if tu.timestamp else o.updated_ns()
        event = tu.event
        if event == "fill" or event == "partial_fill":
            if tu.qty is not None and tu.price is not None:
                exec_id = tu.execution_id or f"{o.id}:{o.filled_qty:g}"
                self._apply_fill(st, exec_id, tu.qty, tu.price, ts, "stream")
        elif event == "order_replace_rejected" or event == "order_cancel_rejected":
            what = "replace" if event == "order_replace_rejected" else "cancel"
            assert self._emit is not None
            self._emit(CommandFailed(what, st.cid, "OrderRejected", f"{what} rejected by the broker", ts))
        self._apply_order(st, o, ts)

    async def _on_stream_connected(self) -> None:
        await self.reconcile()

    async def _poll(self) -> None:
        """Reconcile while the stream is down, or when fills the broker reported are overdue."""
        s = self.settings
        while True:
            await asyncio.sleep(s.poll_interval)
            now = time.monotonic()
            any_open = watch = overdue = unknown = False
            for st in self._orders.values():
                if st.open:
                    any_open = True
                    unknown = unknown or (st.broker_id is None and st.inflight is None)
                    # Only orders the broker has acknowledged can produce trade updates.
                    watch = watch or st.broker_id is not None
                    if st.pending is not None and now - st.owed_since >= s.fill_grace:
                        overdue = True
            self.stream.expect_updates(s.order_silence_timeout if watch else None)
            if not (overdue or unknown) and (self.stream.connected or not any_open):
                continue
            try:
                await self.reconcile()
            except AlpacaError as exc:
                log.warning("reconciliation failed: %s", type(exc).__name__)
            if overdue:
                self._give_up_owed()

    def _give_up_owed(self) -> None:
        """Fills the broker reports but never lists as executions: after a few tries, emit the
        held-back status with the fills we have, and count the mismatch."""
        for st in self._orders.values():
            if st.pending is None or time.monotonic() - st.owed_since < self.settings.fill_grace:
                continue
            st.owed_checks += 1
            if st.owed_checks >= 5:
                status, ts, avg, reason = st.pending
                st.pending = None
                self.fill_mismatches += 1
                log.warning("order %s: broker reports %.9g more filled than its executions", st.cid, st.owed)
                self._set_status(st, status, ts, avg=avg, reason=reason or "fills missing at the broker")

    # -- reconciliation ----------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Catch up over REST: fills since the last event (FILL activities), open orders, and
        the current state of every order still open here. Idempotent."""
        assert self._reconcile_lock is not None
        async with self._reconcile_lock:
            self.reconciles += 1
            open_states = [s for s in self._orders.values() if s.open]
            lows = [s.created_ts for s in open_states if s.created_ts]
            if self._last_event_ts:
                lows.append(self._last_event_ts)
            if lows or open_states:
                after = max(0, min(lows) - int(self.settings.reconcile_slack * NS)) if lows else None
                await self._reconcile_fills(after)
            seen: set[str] = set()
            for o in await self.rest.list_orders("open", limit=500):
                st = self._lookup(o)
                if st is not None:
                    seen.add(o.id)
                    self._apply_order(st, o)
            for st in [s for s in self._orders.values() if s.open]:
                if st.broker_id is not None and st.broker_id in seen:
                    continue
                if st.inflight is not None:
                    continue
                await self._refresh(st)

    async def _reconcile_fills(self, after: int | None) -> None:
        for a in await self.rest.get_fill_activities(after=after):
            exec_id = a.exec_id()
            if exec_id in self._exec_ids:
                continue
            st = self._by_broker.get(a.order_id)
            if st is None and a.order_id not in self._foreign:
                o = await self.rest.get_order(a.order_id)
                st = self._lookup(o) if o is not None else None
                if st is None:
                    self._foreign.add(a.order_id)
            if st is not None:
                self._apply_fill(st, exec_id, a.qty, a.price, m.parse_ts_ns(a.transaction_time), "reconcile")

    async def _adopt(self, st: _Order, broker_id: str) -> None:
        o = await self.rest.get_order(broker_id)
        if o is None or broker_id in st.ids:
            return
        if st.broker_id is not None:
            st.prev_ids.append(st.broker_id)
        self._by_wire[o.client_order_id] = st
        st.wire_cid = o.client_order_id
        self._bind(st, o.id, o.client_order_id)
        self._apply_order(st, o)

    async def _refresh(self, st: _Order) -> None:
        if st.broker_id is not None:
            o = await self.rest.get_order(st.broker_id)
        else:
            o = await self.rest.get_order_by_client_order_id(st.wire_cid)
            if o is None and st.inflight is None and st.open:
                self._set_status(
                    st, OrderStatus.REJECTED, time.time_ns(), reason="the broker never received it", local=True
                )
                return
        if o is not None:
            self._apply_order(st, o)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
