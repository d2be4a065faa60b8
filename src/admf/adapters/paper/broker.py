"""PaperBroker: a local broker that fills orders against the live bars by the backtest's rules.

PaperClient is the SimulatedBroker of a backtest (same matching, same fill rule: next_open
fills a market order at the next bar's open, close at the close of the bar that decided it)
behind the live core's ExecutionClient protocol, on the engine's loop: every live bar reaches
it before the session sees that bar, as in a backtest. PaperBroker is the broker-neutral core
(execution.live_orders) on a PaperClient, so intents, transitions, fills, dedupe and
reconciliation are the same as a real broker's. Orders live in this process only: after a
restart the core finds the orders an earlier session left open unknown here and rejects them.

An OCO exit (`order_class` "oco", a bracket's exits live) is two simulated orders, the stop-loss
and then the take-profit, as a backtest's bracket legs (the stop-loss matched first); the first
fill cancels the other. As at Alpaca, the take-profit is the order itself and the stop-loss its
leg ("<cid>#sl"); the core combines the two members' states (execution.legs).

Limits of the model: DAY orders do not expire (no session calendar here); no slippage or
commission unless configured; partial fills do not happen (a bar fills an order whole).
"""

from __future__ import annotations

import math
import time

import msgspec

from admf.core.enums import ExitReason, OrderStatus, OrderType
from admf.core.events import OCO, Bar, Fill, OrderRequest, OrderUpdate
from admf.execution.costs import Commission, Slippage
from admf.execution.journal import Journal
from admf.execution.legs import order_class_problem
from admf.execution.live_orders import LiveOrders, LocalStream
from admf.execution.reports import FILL, UPDATE, FillReport, OrderReport, Refused, StreamEvent
from admf.execution.simulated import SimOrder, SimulatedBroker

__all__ = ["PaperBroker", "PaperClient", "PaperRefused"]

PREFIX = "paper-"  # broker id = PREFIX + client_order_id
SL = "#sl"  # suffix of an OCO's stop-loss member


class PaperRefused(Refused):
    """A command the paper broker cannot carry out (an unknown or finished order)."""


class PaperClient(LocalStream):
    """The SimulatedBroker as an ExecutionClient: its updates and fills become reports."""

    max_client_id = 128

    def __init__(self, symbols: list[str], *, fill: str = "next_open", slippage: Slippage | None = None,
                 commission: Commission | None = None) -> None:
        self.sim = SimulatedBroker(self._on_fill, fill_rule=fill, on_update=self._on_update, slippage=slippage,
                                   commission=commission)
        self.sym = {s: i for i, s in enumerate(symbols)}
        self.last_close: dict[str, float] = {}
        self.bars = 0
        self.last_ts = 0  # the last bar's time
        self.fills: list[FillReport] = []
        self._wire: dict[str, str] = {}  # wire client id -> client_order_id
        self._created: dict[str, int] = {}
        self._last: dict[str, OrderUpdate] = {}  # an order's latest update (a fill's report)
        self._sibling: dict[str, str] = {}  # an OCO member's id -> the other member's

    def __repr__(self) -> str:
        return f"PaperClient(fill={self.sim.fill_rule!r})"

    # -- connections (all local) -------------------------------------------------------------

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def stats(self) -> dict[str, int]:
        return {"paper_bars": self.bars}

    # -- commands ----------------------------------------------------------------------------

    def never_sent(self, wire_cid: str) -> bool:
        return False  # a paper submit does not wait: it was matched or it was not begun

    def check(self, req: OrderRequest) -> str | None:
        if req.symbol not in self.sym:
            return f"unknown symbol {req.symbol}"
        problem = order_class_problem(req)
        if problem is not None:
            return problem
        if self.sim.fill_rule == "close" and math.isnan(self.last_close.get(req.symbol, math.nan)):
            return f"no bar of {req.symbol} yet to fill at its close"
        return None

    async def submit(self, req: OrderRequest, wire_cid: str, not_after: float | None) -> OrderReport:
        cid = req.client_order_id
        if cid in self.sim.orders or (req.order_class == OCO and cid + SL in self.sim.orders):
            raise PaperRefused("duplicate client_order_id")
        self._wire[wire_cid] = cid
        # on the bars' clock, as its fills are (reconciliation asks for fills since then)
        self._created[cid] = min(req.ts, self.last_ts) if req.ts else self.last_ts
        members = [req]
        if req.order_class == OCO:
            tp = msgspec.structs.replace(req, order_class="", stop_loss=None)
            sl = msgspec.structs.replace(tp, client_order_id=cid + SL, order_type=OrderType.STOP, limit_price=None,
                                         stop_price=req.stop_loss, reason=ExitReason.STOP_LOSS.value)
            self._created[sl.client_order_id] = self._created[cid]
            self._sibling[cid], self._sibling[sl.client_order_id] = sl.client_order_id, cid
            members = [sl, tp]  # the stop-loss first: a bar reaching both fills it, as in a backtest
        for r in members:
            self.sim.submit(r, self.sym[req.symbol], self.bars, self.last_close.get(req.symbol, math.nan), 0)
        return self._report(self.sim.orders[cid])

    async def cancel(self, broker_id: str) -> None:
        cid = broker_id.removeprefix(PREFIX)
        ts = time.time_ns()
        # an OCO member's cancel is both members' (as at Alpaca)
        asked = [self.sim.cancel(c, ts) for c in (self._sibling.get(cid, ""), cid) if c]
        if not any(asked):
            raise PaperRefused(f"cannot cancel {broker_id!r}: the order is not open")

    async def replace(self, broker_id: str, wire_cid: str, qty: float | None, limit_price: float | None,
                      stop_price: float | None) -> OrderReport:
        o = self.sim.orders.get(broker_id.removeprefix(PREFIX))
        if o is None or o.status.is_terminal:
            raise PaperRefused(f"cannot replace {broker_id!r}: the order is not open")
        if o.req.client_order_id in self._sibling:
            raise PaperRefused(f"cannot replace {broker_id!r}: an oco order is cancelled and sent again instead")
        changes: dict[str, float] = {k: v for k, v in (("limit_price", limit_price), ("stop_price", stop_price))
                                     if v is not None}
        if qty is not None:
            changes["qty"] = o.order.filled_qty + qty  # qty is what is left to trade, as at a broker
            o.left = qty
        o.req = msgspec.structs.replace(o.req, **changes)  # type: ignore[arg-type]
        o.order.request = o.req
        self._wire[wire_cid] = o.req.client_order_id
        return self._report(o)

    async def cancel_all(self) -> None:
        for req in self.sim.open_orders():
            self.sim.cancel(req.client_order_id, time.time_ns())

    # -- queries -----------------------------------------------------------------------------

    async def get_order(self, broker_id: str) -> OrderReport | None:
        o = self.sim.orders.get(broker_id.removeprefix(PREFIX))
        return None if o is None else self._report(o)

    async def get_order_by_client_id(self, wire_cid: str) -> OrderReport | None:
        o = self.sim.orders.get(self._wire.get(wire_cid, ""))
        return None if o is None else self._report(o)

    async def list_orders(self, status: str, *, after_ns: int | None = None, limit: int = 500,
                          direction: str = "asc") -> list[OrderReport]:
        out = [self._report(o) for o in self.sim.orders.values()
               if (status != "open" or not o.status.is_terminal) and self._created.get(o.req.client_order_id, 0)
               > (after_ns or -1)]
        return out[:limit] if direction == "asc" else out[::-1][:limit]

    async def fill_reports(self, after_ns: int | None) -> list[FillReport]:
        return [f for f in self.fills if after_ns is None or f.ts > after_ns]

    # -- the live bars -----------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """A live bar, before the session sees it: work the symbol's orders against it."""
        k = self.sym.get(bar.symbol)
        if k is None:
            return
        self.bars += 1
        self.sim.on_bar(k, self.bars, bar.ts, bar.open, bar.high, bar.low, bar.close, 0)
        self.last_close[bar.symbol] = bar.close
        self.last_ts = max(self.last_ts, bar.ts)

    # -- reports -----------------------------------------------------------------------------

    def _report(self, o: SimOrder, u: OrderUpdate | None = None) -> OrderReport:
        cid = o.req.client_order_id
        ts = u.ts if u is not None else o.order.ts
        sl = self.sim.orders.get(cid + SL) if cid in self._sibling else None  # an OCO: its stop-loss leg
        legs = () if sl is None else (self._report(sl),)
        leg = ExitReason.STOP_LOSS.value if self._sibling.get(cid) == cid.removesuffix(SL) else ""
        return OrderReport(PREFIX + cid, cid, o.status, o.filled, o.value / o.filled if o.filled > 0 else None,
                           self._created.get(cid, 0), ts, legs=legs, leg=leg)

    def _on_update(self, u: OrderUpdate) -> None:
        self._last[u.client_order_id] = u
        if u.status is OrderStatus.FILLED or u.status is OrderStatus.PARTIALLY_FILLED:
            return  # the fill that follows at once carries it
        self._push(UPDATE, u, None)

    def _on_fill(self, fill: Fill, bar: int) -> None:
        f = FillReport(fill.exec_id, PREFIX + fill.client_order_id, fill.qty, fill.price, fill.ts,
                       commission=fill.commission)
        self.fills.append(f)
        self._push(FILL, self._last[fill.client_order_id], f)
        other = self._sibling.get(fill.client_order_id)
        if other is not None and self.sim.orders[fill.client_order_id].status is OrderStatus.FILLED:
            self.sim.cancel(other, fill.ts)  # one cancels the other

    def _push(self, kind: str, u: OrderUpdate, f: FillReport | None) -> None:
        self.push(StreamEvent(kind, self._report(self.sim.orders[u.client_order_id], u), u.ts, f))


class PaperBroker(LiveOrders):
    """The live core on a PaperClient: what the paper venue builds for a session."""

    def __init__(self, symbols: list[str], *, fill: str = "next_open", journal: Journal | None = None,
                 slippage: Slippage | None = None, commission: Commission | None = None) -> None:
        self.paper = PaperClient(symbols, fill=fill, slippage=slippage, commission=commission)
        super().__init__(self.paper, journal=journal)

    def __repr__(self) -> str:
        return f"PaperBroker(fill={self.paper.sim.fill_rule!r})"

    @property
    def sim(self) -> SimulatedBroker:
        return self.paper.sim

    def on_bar(self, bar: Bar) -> None:
        self.paper.on_bar(bar)
