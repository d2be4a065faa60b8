"""Reconciliation of the live core with the broker: on connect, on restart, and while the
stream is down. Broker-neutral: it asks the ExecutionClient for reports and folds them into
the core's records (execution.live_orders), which dedupes and journals.

- reconcile(): fills since the watermark (the last broker event, minus a slack, or the oldest
  open order), the open orders, then a refresh of every order still open here. Idempotent.
- resolve_unsent(): after a restart, the intents never acknowledged are looked up in one
  paged listing of the orders since the oldest of them (not one request per intent); the
  ones the broker never received are rejected (or resent, if configured).
- the poller: reconciles while the stream is down, while an order's answer is unknown, and
  when a held-back terminal status waits too long for its executions (given up after a few).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from admf.core.errors import BrokerError
from admf.execution.reports import OrderReport

if TYPE_CHECKING:
    from admf.execution.live_orders import LiveOrders
    from admf.execution.live_record import LiveOrder

__all__ = ["Reconciler"]

log = logging.getLogger("admf.live.reconcile")
NS = 1_000_000_000
PAGE = 500
GIVE_UP_AFTER = 5  # grace periods a held-back status waits for its executions


class Reconciler:
    def __init__(self, core: LiveOrders) -> None:
        self.core = core
        self.runs = 0
        self._lock: asyncio.Lock | None = None
        self._poller: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._poller = asyncio.get_running_loop().create_task(self._poll(), name="admf-live-poll")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
            self._poller = None

    # -- reconcile ---------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Catch up with the broker: fills since the watermark, open orders, still-open orders."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        core, client = self.core, self.core.client
        async with self._lock:
            self.runs += 1
            open_states = [s for s in core.orders.values() if s.open]
            lows = [s.created_ts for s in open_states if s.created_ts]
            if core.last_event_ts:
                lows.append(core.last_event_ts)
            if lows or open_states:
                after = max(0, min(lows) - int(core.tuning.reconcile_slack * NS)) if lows else None
                await self._fills(after)
            seen: set[str] = set()
            for o in await client.list_orders("open"):
                st = core.lookup(o)
                if st is not None:
                    seen.add(o.broker_id)
                    core.apply_order(st, o)
            for st in [s for s in core.orders.values() if s.open]:
                if st.broker_id is not None and st.broker_id in seen:
                    continue
                if st.inflight is not None:
                    continue
                await self.refresh(st)

    async def _fills(self, after: int | None) -> None:
        core = self.core
        for f in await core.client.fill_reports(after):
            if f.exec_id in core.exec_ids:
                continue
            st = core.by_broker.get(f.broker_id)
            if st is None and f.broker_id not in core.foreign:
                o = await core.client.get_order(f.broker_id)
                st = core.lookup(o) if o is not None else None
                if st is None:
                    core.foreign.add(f.broker_id)
            if st is not None:
                core.apply_fill(st, f, "reconcile")

    async def refresh(self, st: LiveOrder) -> None:
        """The broker's current view of one order (by broker id, or by wire id if unbound)."""
        core, client = self.core, self.core.client
        if st.broker_id is not None:
            o = await client.get_order(st.broker_id)
            if o is None and st.open and st.pending is None and not st.replacing:
                # a broker that lost the order (a local broker after a restart)
                core.reject_locally(st, "the broker no longer knows this order")
                return
        else:
            o = await client.get_order_by_client_id(st.wire_cid)
            if o is None and st.inflight is None and st.open:
                core.reject_locally(st, "the broker never received it")
                return
        if o is not None:
            core.apply_order(st, o)
        for leg in list(st.legs):  # a leg's state decides with the order's (execution.legs)
            lo = await client.get_order(leg)
            if lo is not None:
                core.apply_order(st, lo)

    async def adopt(self, st: LiveOrder, broker_id: str) -> None:
        """Follow a replace chain to the order that continues st's."""
        core = self.core
        o = await core.client.get_order(broker_id)
        if o is None or broker_id in st.ids:
            return
        if st.broker_id is not None:
            st.prev_ids.append(st.broker_id)
        core.by_wire[o.wire_client_id] = st
        st.wire_cid = o.wire_client_id
        core.bind(st, o.broker_id, o.wire_client_id)
        core.apply_order(st, o)

    # -- restart -----------------------------------------------------------------------------

    async def resolve_unsent(self) -> None:
        core, client = self.core, self.core.client
        unsent = [s for s in core.orders.values() if s.broker_id is None and s.open]
        if not unsent:
            return
        since = min(s.req.ts for s in unsent) if all(s.req.ts for s in unsent) else 0
        after = max(0, since - int(core.tuning.reconcile_slack * NS) - 60 * NS)
        wanted = {s.wire_cid: s for s in unsent}
        found: dict[str, OrderReport] = {}
        cursor: int | None = after or None
        while True:
            page = await client.list_orders("all", after_ns=cursor, limit=PAGE, direction="asc")
            for listed in page:
                if listed.wire_client_id in wanted:
                    found[listed.wire_client_id] = listed
            if len(page) < PAGE or len(found) == len(wanted) or not page[-1].created_ns:
                break
            cursor = page[-1].created_ns
        for wire, st in wanted.items():
            hit = found.get(wire)
            if hit is None and len(wanted) <= 3:
                hit = await client.get_order_by_client_id(wire)  # belt and braces for a few
            if hit is not None:
                core.apply_order(st, hit)
            elif core.tuning.resend_unsent_on_restart:
                core.spawn(core.send(st))
            else:
                core.reject_locally(st, "never reached the broker before a restart")

    # -- polling -----------------------------------------------------------------------------

    async def _poll(self) -> None:
        core, s = self.core, self.core.tuning
        while True:
            await asyncio.sleep(s.poll_interval)
            now = time.monotonic()
            any_open = watch = overdue = unknown = False
            for st in core.orders.values():
                if st.open:
                    any_open = True
                    unknown = unknown or (st.broker_id is None and st.inflight is None)
                    # Only orders the broker has acknowledged can produce pushed updates.
                    watch = watch or st.broker_id is not None
                    if st.pending is not None and now - st.owed_since >= s.fill_grace:
                        overdue = True
            core.client.expect_updates(s.order_silence_timeout if watch else None)
            if not (overdue or unknown) and (core.client.connected or not any_open):
                continue
            try:
                await self.reconcile()
            except BrokerError as exc:
                log.warning("reconciliation failed: %s", type(exc).__name__)
            if overdue:
                self._give_up_owed()

    def _give_up_owed(self) -> None:
        """Fills the broker reports but never lists as executions: after a few tries, emit the
        held-back status with the fills we have, and count the mismatch."""
        core = self.core
        for st in core.orders.values():
            if st.pending is None or time.monotonic() - st.owed_since < core.tuning.fill_grace:
                continue
            st.owed_checks += 1
            if st.owed_checks >= GIVE_UP_AFTER:
                status, ts, avg, reason = st.pending
                st.pending = None
                core.fill_mismatches += 1
                log.warning("order %s: broker reports %.9g more filled than its executions", st.cid, st.owed)
                core.set_status(st, status, ts, avg=avg, reason=reason or "fills missing at the broker", force=True)
