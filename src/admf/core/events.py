"""Event records passed between layers.

Representation (chosen once, used everywhere):
- timestamps are int nanoseconds since the Unix epoch, UTC;
- prices, cash and quantities are Python floats (IEEE-754 double). Money is rounded to
  the cent only where it leaves the system (reports, broker wire, where Decimal strings are
  used); sums are compared to the cent (abs difference < 0.005).
- quantities are signed by `side`, never by sign of `qty`: `qty` is always > 0.
"""

from __future__ import annotations

import msgspec

from admf.core.enums import OrderStatus, OrderType, Side, TimeInForce


class Bar(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class Signal(msgspec.Struct, frozen=True, gc=False):
    """A change of a strategy's desired direction: 1 long, -1 short, 0 flat."""

    strategy_id: str
    symbol: str
    ts: int
    value: int
    price: float


# `OrderRequest.order_class` of an OCO exit: one broker order of two members, the take-profit
# (this request: a limit at `limit_price`) and a stop-loss leg (a stop at `stop_loss`); the first
# fill of either cancels the other, so its worst case is its quantity once
OCO = "oco"


class OrderRequest(msgspec.Struct, frozen=True, gc=False):
    client_order_id: str
    strategy_id: str
    symbol: str
    side: Side
    qty: float
    order_type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    tif: TimeInForce = TimeInForce.DAY
    ts: int = 0
    reason: str = "signal"
    order_class: str = ""  # "" (a simple order) or OCO
    stop_loss: float | None = None  # an OCO's stop-loss leg: its stop price
    decided_ns: int = 0  # wall time of the live decision: its staleness counts from here, queues included
    # an entry's bracket (stop, target): not sent with it; the slot sends the exits once it filled,
    # and the journal keeps it so that a restart with the entry resting still sends them
    bracket: tuple[float, float] | None = None


class OrderUpdate(msgspec.Struct, frozen=True, gc=False):
    """A state transition of an order reported by a broker (simulated or real)."""

    client_order_id: str
    status: OrderStatus
    ts: int
    broker_order_id: str = ""
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    reason: str = ""


class Fill(msgspec.Struct, frozen=True, gc=False):
    """One execution. `qty` is this execution's quantity, never cumulative."""

    exec_id: str
    client_order_id: str
    strategy_id: str
    symbol: str
    side: Side
    qty: float
    price: float
    ts: int
    commission: float = 0.0
    reason: str = "signal"

    @property
    def signed_qty(self) -> float:
        return self.qty if self.side is Side.BUY else -self.qty
