"""The strategy order API: orders a strategy places itself, and what it can read of its book.

A strategy that sets `uses_orders = True` trades through `self.orders` instead of returning a
direction (its `on_bar` return value is ignored):

    self.orders.buy(10)                                   # market
    self.orders.buy(10, limit=99.5)                       # limit
    self.orders.sell(10, stop=98.0)                       # stop
    self.orders.sell(10, stop=98.0, limit=97.8)           # stop-limit
    oid = self.orders.buy(10, limit=99.5, bracket=(98.0, 103.0))   # entry + stop-loss + take-profit
    self.orders.cancel(oid); self.orders.cancel_all()
    self.orders.target(-5)                                # market order to reach a position
    self.position, self.avg_price, self.open_orders, self.fills

A multi-symbol strategy names the symbol: `self.orders.buy(10, symbol="QQQ")`,
`self.orders.position("QQQ")`.

Every order goes through the strategy's slot (one per symbol) to the same broker a direction
strategy uses: the SimulatedBroker in a backtest, the live OrderManager live. The slot applies
the book's limits (max_position, max_notional) to the worst case, the position plus every open
order on the same side plus the new one: an order that could break a limit is refused (the
call returns None and the reason is kept in `self.orders.refused`). Brackets (two exit orders in
a backtest, one OCO order at the broker live): see the docstring of risk/slot.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from admf.core.enums import OrderType, Side, TimeInForce
from admf.core.errors import UserError
from admf.core.events import Fill, OrderRequest

__all__ = ["OrderDesk", "OrderView", "Orders"]


@dataclass(frozen=True, slots=True)
class OrderView:
    """An open order as the strategy sees it."""

    id: str
    symbol: str
    side: str  # buy or sell
    qty: float  # still to fill
    type: str  # market, limit, stop, stop_limit
    limit: float | None
    stop: float | None
    # "" (an order of its own), "entry", "stop_loss" or "take_profit" (a bracket's exits in a
    # backtest), "oco" (live: both exits as one order, `limit` the target and `stop` the stop-loss)
    leg: str


class OrderDesk(Protocol):
    """What the API needs of a slot (risk.slot.StrategySlot implements it)."""

    symbol: str
    refused: list[str]

    def place(self, side: Side, qty: float, kind: OrderType, limit: float | None, stop: float | None,
              bracket: tuple[float, float] | None, tif: TimeInForce) -> str | None: ...

    def cancel_order(self, order_id: str) -> bool: ...

    def cancel_orders(self) -> None: ...

    def position_qty(self) -> float: ...

    def average_price(self) -> float | None: ...

    def order_views(self) -> list[tuple[OrderRequest, float, str]]: ...

    def fill_list(self) -> list[Fill]: ...

    def working_qty(self) -> float: ...


def _kind(limit: float | None, stop: float | None) -> OrderType:
    if stop is not None:
        return OrderType.STOP_LIMIT if limit is not None else OrderType.STOP
    return OrderType.LIMIT if limit is not None else OrderType.MARKET


class Orders:
    """`strategy.orders`: one desk per symbol the strategy trades."""

    def __init__(self, desks: Sequence[OrderDesk]) -> None:
        self.desks = {d.symbol: d for d in desks}
        self.symbols = list(self.desks)

    def _desk(self, symbol: str | None) -> OrderDesk:
        if symbol is None:
            if len(self.desks) == 1:
                return next(iter(self.desks.values()))
            raise UserError("this strategy trades several symbols: name one (symbol=...)",
                            accepted=", ".join(self.symbols))
        d = self.desks.get(symbol)
        if d is None:
            raise UserError(f"symbol {symbol!r} is not one this strategy trades", accepted=", ".join(self.symbols))
        return d

    def order(self, side: Side, qty: float, *, limit: float | None = None, stop: float | None = None,
              bracket: tuple[float, float] | None = None, tif: str = "day",
              symbol: str | None = None) -> str | None:
        """Place an order; its id, or None when a limit refused it (the reason is in `refused`)."""
        if not qty > 0:
            raise UserError(f"order quantity must be > 0, not {qty!r}")
        for name, p in (("limit", limit), ("stop", stop)):
            if p is not None and not p > 0:
                raise UserError(f"{name} price must be > 0, not {p!r}")
        if bracket is not None:
            sl, tp = bracket
            if not (sl > 0 and tp > 0) or (tp <= sl if side is Side.BUY else tp >= sl):
                raise UserError(f"bracket (stop, target) {bracket!r}: the target must be beyond the stop on the "
                                f"profit side of a {side.value}")
        return self._desk(symbol).place(side, float(qty), _kind(limit, stop), limit, stop, bracket,
                                        TimeInForce(tif))

    def buy(self, qty: float, *, limit: float | None = None, stop: float | None = None,
            bracket: tuple[float, float] | None = None, tif: str = "day", symbol: str | None = None) -> str | None:
        return self.order(Side.BUY, qty, limit=limit, stop=stop, bracket=bracket, tif=tif, symbol=symbol)

    def sell(self, qty: float, *, limit: float | None = None, stop: float | None = None,
             bracket: tuple[float, float] | None = None, tif: str = "day", symbol: str | None = None) -> str | None:
        return self.order(Side.SELL, qty, limit=limit, stop=stop, bracket=bracket, tif=tif, symbol=symbol)

    def target(self, qty: float, symbol: str | None = None) -> str | None:
        """A market order for the difference between `qty` (signed) and the position plus what
        open orders may still add; None when nothing is to be done."""
        d = self._desk(symbol)
        delta = qty - d.position_qty() - d.working_qty()
        if abs(delta) <= 1e-9:
            return None
        return self.order(Side.BUY if delta > 0 else Side.SELL, abs(delta), symbol=symbol)

    def cancel(self, order_id: str, symbol: str | None = None) -> bool:
        """Ask to cancel one open order (with its bracket legs); False when it is not open."""
        if symbol is None:
            return any(d.cancel_order(order_id) for d in self.desks.values())
        return self._desk(symbol).cancel_order(order_id)

    def cancel_all(self, symbol: str | None = None) -> None:
        for d in self.desks.values() if symbol is None else [self._desk(symbol)]:
            d.cancel_orders()

    def position(self, symbol: str | None = None) -> float:
        return self._desk(symbol).position_qty()

    def avg_price(self, symbol: str | None = None) -> float | None:
        return self._desk(symbol).average_price()

    def open_orders(self, symbol: str | None = None) -> list[OrderView]:
        desks = list(self.desks.values()) if symbol is None and len(self.desks) > 1 else [self._desk(symbol)]
        return [OrderView(r.client_order_id, r.symbol, r.side.value, left, r.order_type.value, r.limit_price,
                          r.stop_loss if r.stop_price is None else r.stop_price, leg)
                for d in desks for r, left, leg in d.order_views()]

    def fills(self, symbol: str | None = None) -> list[Fill]:
        if symbol is None and len(self.desks) > 1:
            return sorted((f for d in self.desks.values() for f in d.fill_list()), key=lambda f: f.ts)
        return self._desk(symbol).fill_list()

    @property
    def refused(self) -> list[str]:
        return [r for d in self.desks.values() for r in d.refused]
