"""PaperBroker: a local broker that fills orders against the live bars by the backtest's rules.

It is the SimulatedBroker of a backtest (same matching, same fill rule: next_open fills a
market order at the next bar's open, close at the close of the bar that decided it), behind
the AsyncBroker protocol, on the engine's loop: every live bar reaches it before the session
sees that bar, as in a backtest. Intents, transitions and fills go to the same journal a real
broker's orders do. Orders live in this process only: after a restart the orders an earlier
session left open are reported rejected ("not kept across restarts").

An OCO exit (`order_class` "oco", a bracket's exits live) is two simulated orders, the stop-loss
and then the take-profit, as a backtest's bracket legs (the stop-loss matched first); the first
fill cancels the other, and the order's status combines both (execution/legs.py).

Limits of the model: DAY orders do not expire (no session calendar here); no slippage or
commission unless configured; partial fills do not happen (a bar fills an order whole).
"""

from __future__ import annotations

import logging
import math
import time

import msgspec

from admf.core.enums import ExitReason, OrderStatus, OrderType
from admf.core.errors import BrokerError
from admf.core.events import OCO, Bar, Fill, OrderRequest, OrderUpdate
from admf.execution.async_engine import Emit
from admf.execution.costs import Commission, Slippage
from admf.execution.journal import Journal
from admf.execution.legs import Member, combined_status
from admf.execution.simulated import SimulatedBroker

__all__ = ["PaperBroker", "PaperRefused"]

log = logging.getLogger("admf.paper")
SL, TP = "#sl", "#tp"  # suffixes of an OCO's two simulated orders


class PaperRefused(BrokerError):
    """A command the paper broker cannot carry out (an unknown or finished order)."""


class PaperBroker:
    def __init__(self, symbols: list[str], *, fill: str = "next_open", journal: Journal | None = None,
                 slippage: Slippage | None = None, commission: Commission | None = None) -> None:
        self.sim = SimulatedBroker(self._on_fill, fill_rule=fill, on_update=self._on_update, slippage=slippage,
                                   commission=commission)
        self.sym = {s: i for i, s in enumerate(symbols)}
        self.last_close: dict[str, float] = {}
        self.journal = journal
        self.bars = 0
        self._emit: Emit | None = None
        self._oco: dict[str, OrderRequest] = {}  # an OCO order's own id -> its request
        self._member_of: dict[str, str] = {}  # a simulated member's id -> its OCO's id
        self._reported: dict[str, OrderStatus] = {}  # an OCO's last reported status

    def __repr__(self) -> str:
        return f"PaperBroker(fill={self.sim.fill_rule!r})"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, emit: Emit) -> None:
        self._emit = emit
        if self.journal is None:
            return
        for intent in self.journal.open_intents():  # an earlier session's: gone with its process
            self._report(OrderUpdate(intent.client_order_id, OrderStatus.REJECTED, time.time_ns(),
                                     reason="the paper broker does not keep orders across restarts"))

    async def close(self) -> None:
        if self.journal is not None:
            self.journal.flush()

    def outcome_unknown(self, exc: BaseException) -> bool:
        return False  # local: every command's outcome is known

    # -- commands ----------------------------------------------------------------------------

    async def submit(self, req: OrderRequest) -> None:
        cid = req.client_order_id
        if self.journal is not None:
            if not self.journal.record_intent(req):
                raise PaperRefused(f"client_order_id {cid!r} was already used in this journal")
            self.journal.set_broker_id(cid, "paper-" + cid)
        k = self.sym.get(req.symbol)
        close = self.last_close.get(req.symbol, math.nan)
        why = None
        if k is None:
            why = f"unknown symbol {req.symbol}"
        elif cid in self.sim.orders or cid in self._oco:
            why = "duplicate client_order_id"
        elif self.sim.fill_rule == "close" and math.isnan(close):
            why = f"no bar of {req.symbol} yet to fill at its close"
        if why is not None or k is None:
            self._report(OrderUpdate(cid, OrderStatus.REJECTED, time.time_ns(), reason=why or ""))
            return
        if req.order_class == OCO:
            self._submit_oco(req, k, close)
            return
        self.sim.submit(req, k, self.bars, close, 0)

    async def cancel(self, client_order_id: str) -> None:
        if client_order_id in self._oco:
            ts = time.time_ns()
            if not any([self.sim.cancel(client_order_id + m, ts) for m in (SL, TP)]):  # both asked
                raise PaperRefused(f"cannot cancel {client_order_id!r}: the order is not open")
            return
        if not self.sim.cancel(client_order_id, time.time_ns()):
            raise PaperRefused(f"cannot cancel {client_order_id!r}: the order is not open")

    async def replace(self, client_order_id: str, qty: float | None = None, limit_price: float | None = None,
                      stop_price: float | None = None) -> None:
        if client_order_id in self._oco:
            raise PaperRefused(f"cannot replace {client_order_id!r}: an oco order is cancelled and sent again instead")
        o = self.sim.orders.get(client_order_id)
        if o is None or o.status.is_terminal:
            raise PaperRefused(f"cannot replace {client_order_id!r}: the order is not open")
        changes: dict[str, float] = {k: v for k, v in (("limit_price", limit_price), ("stop_price", stop_price))
                                     if v is not None}
        if qty is not None:
            changes["qty"] = o.order.filled_qty + qty  # qty is what is left to trade, as at a broker
        o.req = msgspec.structs.replace(o.req, **changes)  # type: ignore[arg-type]
        o.order.request = o.req
        detail = ", ".join(f"{k}={v:g}" for k, v in changes.items())
        self._report(OrderUpdate(client_order_id, OrderStatus.ACCEPTED, time.time_ns(), "paper-" + client_order_id,
                                 reason=f"replaced: {detail}"))

    async def cancel_all(self) -> None:
        for req in self.sim.open_orders():
            self.sim.cancel(req.client_order_id, time.time_ns())

    # -- the live bars -----------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """A live bar, before the session sees it: work the symbol's orders against it."""
        k = self.sym.get(bar.symbol)
        if k is None:
            return
        self.bars += 1
        self.sim.on_bar(k, self.bars, bar.ts, bar.open, bar.high, bar.low, bar.close, 0)
        self.last_close[bar.symbol] = bar.close

    # -- reports -----------------------------------------------------------------------------

    def _on_update(self, u: OrderUpdate) -> None:
        if u.client_order_id in self._member_of:
            self._member_update(u)
            return
        self._report(msgspec.structs.replace(u, broker_order_id="paper-" + u.client_order_id))

    # -- OCO orders: two simulated members, one order of the session -----------------------------

    def _submit_oco(self, req: OrderRequest, k: int, close: float) -> None:
        cid = req.client_order_id
        plain = msgspec.structs.replace(req, order_class="", stop_loss=None)
        sl = msgspec.structs.replace(plain, client_order_id=cid + SL, order_type=OrderType.STOP, limit_price=None,
                                     stop_price=req.stop_loss, reason=ExitReason.STOP_LOSS.value)
        tp = msgspec.structs.replace(plain, client_order_id=cid + TP)
        self._oco[cid] = req
        for member in (sl, tp):  # the stop-loss first: a bar reaching both fills it, as in a backtest
            self._member_of[member.client_order_id] = cid
            self.sim.submit(member, k, self.bars, close, 0)

    def _member_update(self, u: OrderUpdate) -> None:
        cid = self._member_of[u.client_order_id]
        if u.status is OrderStatus.FILLED:  # one cancels the other
            other = cid + (TP if u.client_order_id.endswith(SL) else SL)
            if other in self.sim.orders:
                self.sim.cancel(other, u.ts)
        members = [self.sim.orders[m] for m in (cid + TP, cid + SL) if m in self.sim.orders]
        reports = [Member(m.status, m.filled) for m in members]
        status = combined_status(self._oco[cid].qty, reports[0], reports[1:])
        if status is None or self._reported.get(cid) is status:
            return
        self._reported[cid] = status
        filled = sum(m.filled for m in members)
        avg = sum(m.value for m in members) / filled if filled > 0 else None
        self._report(OrderUpdate(cid, status, u.ts, "paper-" + cid, filled_qty=filled, filled_avg_price=avg))

    def _on_fill(self, fill: Fill, bar: int) -> None:
        cid = self._member_of.get(fill.client_order_id)
        if cid is not None:  # a member's execution is its OCO order's
            fill = msgspec.structs.replace(fill, client_order_id=cid)
        if self.journal is not None and not self.journal.record_fill(fill, "paper"):
            return
        assert self._emit is not None
        self._emit(fill)

    def _report(self, u: OrderUpdate) -> None:
        if self.journal is not None:
            self.journal.record_transition(u)
        assert self._emit is not None
        self._emit(u)
