"""The simulated broker of a backtest: fills orders against bars, synchronously.

Fill rules: `next_open` fills a market order at the open of the symbol's next bar; `close`
fills it at the close of the bar that produced it. Limit, stop and stop-limit orders are
checked against each later bar of their symbol by the matching core (execution/matching.py,
shared with the emulator; its docstring states every rule). Market and stop fills get the
slippage model; limit and stop-limit fills are at their price. DAY orders expire at the end
of the session day they were placed in (America/New_York).

`fill_volume_cap` (off by default): a bar fills at most that share of its volume; the rest of
the order keeps working and fills on later bars (a market order at their opens). Risk exits and
the session-close flatten (`fill_now`) fill in full, at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from admf.core.enums import OrderStatus, OrderType, Side, TimeInForce
from admf.core.events import Fill, OrderRequest, OrderUpdate
from admf.core.orders import Order
from admf.core.units import QTY_EPS
from admf.execution import matching
from admf.execution.costs import Commission, Slippage

TERMINAL = frozenset(s for s in OrderStatus if s.is_terminal)  # read per working order per bar
KIND = {OrderType.MARKET: matching.MARKET, OrderType.LIMIT: matching.LIMIT, OrderType.STOP: matching.STOP,
        OrderType.STOP_LIMIT: matching.STOP_LIMIT}


class SimOrder:
    __slots__ = ("req", "sym", "day", "sign", "kind", "triggered", "order", "left", "filled", "value", "n")

    def __init__(self, req: OrderRequest, sym: int, day: int) -> None:
        self.req = req
        self.sym = sym
        self.day = day
        self.sign = 1 if req.side is Side.BUY else -1
        self.kind = KIND[req.order_type]
        self.triggered = False  # a stop or stop-limit whose stop was reached
        # the state machine's order; strict: an impossible transition is a bug and raises
        self.order = Order(req, strict=True)
        self.left = req.qty  # quantity not yet filled
        self.filled = 0.0
        self.value = 0.0  # sum of qty * price of its fills
        self.n = 0  # fills so far

    @property
    def status(self) -> OrderStatus:
        return self.order.status


class SimulatedBroker:
    """Holds working orders per symbol and fills them bar by bar."""

    split_flips = False  # a reversal's two orders go together (both fill on the same bar)

    def __init__(
        self,
        on_fill: Callable[[Fill, int], None],
        *,
        fill_rule: str = "next_open",
        slippage: Slippage | None = None,
        commission: Commission | None = None,
        on_update: Callable[[OrderUpdate], None] | None = None,
        volume_cap: float | None = None,
        volume: Sequence[float] | None = None,
    ) -> None:
        if fill_rule not in ("next_open", "close"):
            raise ValueError(f"fill_rule must be next_open or close, not {fill_rule!r}")
        if volume_cap is not None and not (0.0 < volume_cap <= 1.0 and volume is not None):
            raise ValueError(f"volume_cap must be in (0, 1] with the bars' volume, not {volume_cap!r}")
        self.fill_rule = fill_rule
        self.volume_cap = volume_cap
        self.volume = volume  # per bar index, read only when volume_cap is set
        self.slippage = slippage or Slippage()
        self.commission = commission or Commission()
        self.on_fill = on_fill
        self.on_update = on_update
        self.working: dict[int, list[SimOrder]] = {}
        self.orders: dict[str, SimOrder] = {}
        self.pending = 0  # count of working orders, read by the engine's hot loop
        self.order_log: list[OrderRequest] = []
        self.update_log: list[OrderUpdate] = []

    def _update(self, o: SimOrder, status: OrderStatus, ts: int, filled: float = 0.0,
                price: float | None = None, reason: str = "") -> None:
        u = OrderUpdate(o.req.client_order_id, status, ts, filled_qty=filled, filled_avg_price=price,
                        reason=reason)
        if status is not OrderStatus.FILLED:  # a fill moves the order itself (see _fill)
            o.order.apply(u)
        self.update_log.append(u)
        if self.on_update is not None:
            self.on_update(u)

    def submit(self, req: OrderRequest, sym: int, bar: int, close: float, day: int = 0) -> None:
        """Accept an order at bar `bar` (decided at its close)."""
        if req.client_order_id in self.orders:
            raise ValueError(f"duplicate client_order_id {req.client_order_id}")
        o = SimOrder(req, sym, day)
        self.orders[req.client_order_id] = o
        self.order_log.append(req)
        self._update(o, OrderStatus.ACCEPTED, req.ts)
        if req.order_type is OrderType.MARKET and self.fill_rule == "close":
            self._fill(o, self.slippage.apply(close, o.sign), req.ts, bar, self._room(o, bar))
            if o.left <= QTY_EPS:
                return
        self.working.setdefault(sym, []).append(o)
        self.pending += 1

    def fill_now(self, req: OrderRequest, sym: int, bar: int, price: float, *, market: bool = True) -> None:
        """Fill at once at `price` (a risk exit whose trigger was seen inside the bar)."""
        o = SimOrder(req, sym, 0)
        self.orders[req.client_order_id] = o
        self.order_log.append(req)
        self._update(o, OrderStatus.ACCEPTED, req.ts)
        self._fill(o, self.slippage.apply(price, o.sign) if market else price, req.ts, bar)

    def cancel(self, client_order_id: str, ts: int = 0) -> bool:
        o = self.orders.get(client_order_id)
        if o is None or o.status.is_terminal:
            return False
        lst = self.working.get(o.sym, [])
        if o in lst:  # else it is in the list on_bar is working through, which skips it now
            lst.remove(o)
            self.pending -= 1
        self._update(o, OrderStatus.CANCELED, ts)
        return True

    def open_orders(self, sym: int | None = None) -> list[OrderRequest]:
        groups = self.working.values() if sym is None else [self.working.get(sym, [])]
        return [o.req for g in groups for o in g]

    def _room(self, o: SimOrder, bar: int) -> float:
        """What bar `bar` can fill of the order: all of it unless a volume cap is set."""
        if self.volume_cap is None or self.volume is None:
            return o.left
        q = o.req.qty
        return matching.participation(o.left, self.volume[bar], self.volume_cap, q != int(q))

    def _fill(self, o: SimOrder, price: float, ts: int, bar: int, qty: float | None = None) -> None:
        r = o.req
        if qty is None and o.n == 0:  # the common case, kept cheap: the whole order at once
            q = r.qty
            o.n, o.left, o.filled, o.value = 1, 0.0, q, q * price
            fill = Fill(r.client_order_id + "-1", r.client_order_id, r.strategy_id, r.symbol, r.side, q, price, ts,
                        self.commission.cost(q, price), r.reason)
            o.order.apply(fill)
            self._update(o, OrderStatus.FILLED, ts, q, price)
            self.on_fill(fill, bar)
            return
        q = o.left if qty is None else qty
        if q <= QTY_EPS:
            return
        o.n += 1
        o.left -= q
        o.filled += q
        o.value += q * price
        done = o.left <= QTY_EPS
        if done:
            o.left = 0.0
        fill = Fill(f"{r.client_order_id}-{o.n}", r.client_order_id, r.strategy_id, r.symbol, r.side, q, price, ts,
                    self.commission.cost(q, price), r.reason)
        o.order.apply(fill)  # the execution moves the order; the report below only tells of it
        avg = price if o.n == 1 else o.value / o.filled
        self._update(o, OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED, ts, o.filled, avg)
        self.on_fill(fill, bar)

    def on_bar(self, sym: int, bar: int, ts: int, o: float, h: float, l: float, c: float, day: int = 0) -> None:
        """Work the symbol's orders against a new bar (called before strategies see it)."""
        orders = self.working.get(sym)
        if not orders:
            return
        # orders placed while this bar is worked (a bracket's legs after its entry filled) go to
        # the new list and start on the next bar; one cancelled meanwhile (the other leg of an
        # OCO pair) is skipped
        self.working[sym] = keep = []
        self.pending -= len(orders)
        capped = self.volume_cap is not None
        for od in orders:
            if od.order.status in TERMINAL:
                continue
            if od.kind == matching.MARKET:  # the common case, matched here: at the open
                px: float | None = self.slippage.apply(o, od.sign)
            elif od.req.tif is TimeInForce.DAY and day != od.day:
                self._update(od, OrderStatus.EXPIRED, ts)
                continue
            else:
                px = self._match(od, o, h, l)
            if px is None:
                keep.append(od)
                self.pending += 1
            elif capped:
                self._fill(od, px, ts, bar, self._room(od, bar))
                if od.left > QTY_EPS and not od.order.status.is_terminal:
                    keep.append(od)
                    self.pending += 1
            else:
                self._fill(od, px, ts, bar)

    def _match(self, od: SimOrder, o: float, h: float, l: float) -> float | None:
        kind = od.kind
        if kind == matching.MARKET:
            return self.slippage.apply(o, od.sign)
        r = od.req
        px, od.triggered = matching.match(kind, od.sign > 0, r.limit_price or 0.0, r.stop_price or 0.0,
                                          od.triggered, o, h, l)
        if px is not None and kind == matching.STOP:
            return self.slippage.apply(px, od.sign)
        return px
