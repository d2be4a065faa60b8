"""The simulated broker of a backtest: fills orders against bars, synchronously.

Fill rules: `next_open` fills a market order at the open of the symbol's next bar; `close`
fills it at the close of the bar that produced it. Limit, stop and stop-limit orders are
checked against each later bar of their symbol:

- buy limit: fills when low <= limit, at min(open, limit); sell limit: high >= limit, at max(open, limit).
- buy stop: triggers when high >= stop, fills at max(open, stop) plus slippage (a gap fills at the open).
- stop-limit: triggers like a stop; then fills at the trigger price if that is within the
  limit, else rests as a limit order: from the same bar when the open gapped through the stop
  (the rest of the bar follows the open), from the next bar when it triggered inside the bar
  (the bar's range may have come back before the trigger).
- DAY orders expire at the end of the session day they were placed in (America/New_York).
"""

from __future__ import annotations

from collections.abc import Callable

from admf.core.enums import OrderStatus, OrderType, Side, TimeInForce
from admf.core.events import Fill, OrderRequest, OrderUpdate
from admf.core.orders import Order
from admf.execution.costs import Commission, Slippage


class SimOrder:
    __slots__ = ("req", "sym", "day", "sign", "triggered", "order")

    def __init__(self, req: OrderRequest, sym: int, day: int) -> None:
        self.req = req
        self.sym = sym
        self.day = day
        self.sign = 1 if req.side is Side.BUY else -1
        self.triggered = req.order_type is not OrderType.STOP_LIMIT
        # the state machine's order; strict: an impossible transition is a bug and raises
        self.order = Order(req, strict=True)

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
    ) -> None:
        if fill_rule not in ("next_open", "close"):
            raise ValueError(f"fill_rule must be next_open or close, not {fill_rule!r}")
        self.fill_rule = fill_rule
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
            self._fill(o, self.slippage.apply(close, o.sign), req.ts, bar)
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
        self.working[o.sym].remove(o)
        self.pending -= 1
        self._update(o, OrderStatus.CANCELED, ts)
        return True

    def open_orders(self, sym: int | None = None) -> list[OrderRequest]:
        groups = self.working.values() if sym is None else [self.working.get(sym, [])]
        return [o.req for g in groups for o in g]

    def _fill(self, o: SimOrder, price: float, ts: int, bar: int) -> None:
        r = o.req
        fee = self.commission.cost(r.qty, price)
        fill = Fill(r.client_order_id + "-1", r.client_order_id, r.strategy_id, r.symbol, r.side, r.qty, price, ts,
                    fee, r.reason)
        o.order.apply(fill)
        self._update(o, OrderStatus.FILLED, ts, r.qty, price)
        self.on_fill(fill, bar)

    def on_bar(self, sym: int, bar: int, ts: int, o: float, h: float, l: float, c: float, day: int = 0) -> None:
        """Work the symbol's orders against a new bar (called before strategies see it)."""
        orders = self.working.get(sym)
        if not orders:
            return
        keep: list[SimOrder] = []
        for od in orders:
            if od.req.tif is TimeInForce.DAY and day != od.day and od.req.order_type is not OrderType.MARKET:
                self._update(od, OrderStatus.EXPIRED, ts)
                continue
            px = self._match(od, o, h, l)
            if px is None:
                keep.append(od)
            else:
                self._fill(od, px, ts, bar)
        self.pending -= len(orders) - len(keep)
        self.working[sym] = keep

    def _match(self, od: SimOrder, o: float, h: float, l: float) -> float | None:
        r = od.req
        t = r.order_type
        buy = od.sign > 0
        if t is OrderType.MARKET:
            return self.slippage.apply(o, od.sign)
        if t is OrderType.LIMIT:
            return _limit_price(buy, r.limit_price, o, h, l)
        stop = r.stop_price
        if t is OrderType.STOP:
            if buy and h >= stop:
                return self.slippage.apply(max(o, stop), 1)
            if not buy and l <= stop:
                return self.slippage.apply(min(o, stop), -1)
            return None
        # stop-limit: trigger, then act as a limit from the trigger price on
        if not od.triggered:
            if buy and h >= stop:
                trigger = max(o, stop)
            elif not buy and l <= stop:
                trigger = min(o, stop)
            else:
                return None
            od.triggered = True
            if trigger != o and (trigger > r.limit_price if buy else trigger < r.limit_price):
                return None  # triggered inside the bar beyond its limit: the way back may have come first
            return _limit_price(buy, r.limit_price, trigger, h, l)
        return _limit_price(buy, r.limit_price, o, h, l)


def _limit_price(buy: bool, limit: float, start: float, h: float, l: float) -> float | None:
    """Price of a limit order working from `start` through a bar with range [l, h]."""
    if buy:
        if start <= limit:
            return start
        return limit if l <= limit else None
    if start >= limit:
        return start
    return limit if h >= limit else None
