"""Typed wire messages of Alpaca's APIs (msgspec) and their mapping to admf events.

Decimals arrive as JSON strings ("10", "171.25"); the decoders run with strict=False so msgspec
turns numeric strings into floats (numbers are accepted too). Unknown keys are ignored and
status/event names stay strings, so a new server enum value never breaks decoding.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import msgspec

from admf.core.enums import OrderStatus, OrderType, Side
from admf.core.events import OCO, Bar, OrderRequest
from admf.core.timeframe import wire_timeframe
from admf.execution.legs import order_class_problem

__all__ = [
    "Account",
    "Clock",
    "FillActivity",
    "Order",
    "Position",
    "TradeUpdate",
    "order_body",
    "parse_ts_ns",
    "to_status",
]

MAX_CLIENT_ORDER_ID = 48


class Order(msgspec.Struct, kw_only=True):
    id: str
    client_order_id: str
    status: str
    symbol: str = ""
    side: str = ""
    type: str = ""
    time_in_force: str = ""
    qty: float | None = None
    notional: float | None = None
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    limit_price: float | None = None
    stop_price: float | None = None
    created_at: str | None = None
    updated_at: str | None = None
    submitted_at: str | None = None
    filled_at: str | None = None
    canceled_at: str | None = None
    replaced_at: str | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    extended_hours: bool = False
    order_class: str = ""
    legs: list[Order] | None = None

    def updated_ns(self) -> int:
        for s in (self.updated_at, self.filled_at, self.canceled_at, self.submitted_at, self.created_at):
            if s:
                return parse_ts_ns(s)
        return 0


class Position(msgspec.Struct, kw_only=True):
    symbol: str
    qty: float
    side: str = "long"
    avg_entry_price: float = 0.0
    market_value: float | None = None
    cost_basis: float | None = None
    unrealized_pl: float | None = None
    current_price: float | None = None
    asset_id: str = ""
    exchange: str = ""
    asset_class: str = ""


class Account(msgspec.Struct, kw_only=True):
    id: str
    account_number: str = ""
    status: str = ""
    currency: str = "USD"
    cash: float = 0.0
    equity: float = 0.0
    portfolio_value: float | None = None
    last_equity: float | None = None
    buying_power: float = 0.0
    long_market_value: float | None = None
    short_market_value: float | None = None
    multiplier: float | None = None
    pattern_day_trader: bool | None = None
    trading_blocked: bool = False
    account_blocked: bool = False
    shorting_enabled: bool | None = None


class Clock(msgspec.Struct, kw_only=True):
    timestamp: str
    is_open: bool
    next_open: str
    next_close: str


class FillActivity(msgspec.Struct, kw_only=True):
    id: str
    order_id: str
    symbol: str
    side: str
    qty: float
    price: float
    transaction_time: str
    activity_type: str = "FILL"
    type: str = "fill"
    leaves_qty: float | None = None
    cum_qty: float | None = None
    order_status: str = ""
    # Some servers name the execution; Alpaca's id is "<time>::<execution uuid>".
    execution_id: str | None = None

    def exec_id(self) -> str:
        if self.execution_id:
            return self.execution_id
        head, sep, tail = self.id.rpartition("::")
        return tail if sep else self.id


class TradeUpdate(msgspec.Struct, kw_only=True):
    """`data` of a trade_updates frame. `qty`/`price` are this execution's, not cumulative."""

    event: str
    order: Order
    timestamp: str | None = None
    execution_id: str | None = None
    qty: float | None = None
    price: float | None = None
    position_qty: float | None = None


class StreamFrame(msgspec.Struct):
    """Envelope of every trade-stream frame; `data` is decoded once `stream` is known."""

    stream: str
    data: msgspec.Raw = msgspec.Raw(b"null")


class Control(msgspec.Struct):
    status: str | None = None
    action: str | None = None
    streams: list[str] | None = None
    error: str | None = None


class WireBar(msgspec.Struct):
    t: str
    o: float
    h: float
    l: float
    c: float
    v: float
    n: float | None = None
    vw: float | None = None


class BarsPage(msgspec.Struct):
    bars: list[WireBar] | dict[str, list[WireBar]] | None = None
    next_page_token: str | None = None
    symbol: str | None = None


ORDER = msgspec.json.Decoder(Order, strict=False)
ORDERS = msgspec.json.Decoder(list[Order], strict=False)
POSITION = msgspec.json.Decoder(Position, strict=False)
POSITIONS = msgspec.json.Decoder(list[Position], strict=False)
ACCOUNT = msgspec.json.Decoder(Account, strict=False)
CLOCK = msgspec.json.Decoder(Clock, strict=False)
ACTIVITIES = msgspec.json.Decoder(list[FillActivity], strict=False)
FRAME = msgspec.json.Decoder(StreamFrame)
TRADE_UPDATE = msgspec.json.Decoder(TradeUpdate, strict=False)
CONTROL = msgspec.json.Decoder(Control, strict=False)
BARS_PAGE = msgspec.json.Decoder(BarsPage, strict=False)

# Alpaca status -> admf status. Statuses that are not a step of admf's state machine
# (pending_cancel, pending_replace, held, done_for_day, stopped, ...) map to None: recorded, not emitted.
_STATUS = {
    "new": OrderStatus.ACCEPTED,
    "accepted": OrderStatus.ACCEPTED,
    "pending_new": OrderStatus.ACCEPTED,
    "accepted_for_bidding": OrderStatus.ACCEPTED,
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
# an order whose replacement continues it (a step of the adapter's id chain, not of the state machine)
REPLACED = "replaced"

OPEN_STATUSES = frozenset(
    {
        "new",
        "accepted",
        "pending_new",
        "accepted_for_bidding",
        "partially_filled",
        "pending_cancel",
        "pending_replace",
        "held",
        "done_for_day",
        "stopped",
        "calculated",
        "suspended",
        "pending_review",
    }
)


def to_status(alpaca_status: str) -> OrderStatus | None:
    return _STATUS.get(alpaca_status)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_ts_ns(s: str) -> int:
    """RFC 3339 (Z or +hh:mm offset, 0-9 fractional digits) -> int ns since the epoch, UTC."""
    t = s.find("T")
    dot = s.find(".", t if t >= 0 else 0)
    frac_ns = 0
    if dot >= 0:
        j = dot + 1
        n = len(s)
        while j < n and s[j].isdigit():
            j += 1
        digits = s[dot + 1 : j]
        frac_ns = int((digits + "000000000")[:9]) if digits else 0
        s = s[:dot] + s[j:]
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    d = dt - _EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000_000 + frac_ns


def datetime_ns(dt: datetime) -> int:
    """datetime (naive = UTC) -> int ns since the epoch."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    d = dt - _EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000_000 + d.microseconds * 1000


def format_ts(ns: int) -> str:
    """int ns -> RFC 3339 UTC with nanoseconds, as Alpaca accepts in query strings."""
    sec, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(sec, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z" if frac else base + "Z"


def format_qty(x: float) -> str:
    return f"{x:.9f}".rstrip("0").rstrip(".")


def format_price(x: float) -> str:
    """Rounded to Alpaca's tick: 2 decimals at or above $1, 4 below (sub-penny rule)."""
    dp = 2 if x >= 1.0 else 4
    return f"{round(x, dp):.{dp}f}"


def check_request(req: OrderRequest) -> str | None:
    """Why this request can never be accepted, or None."""
    if not req.client_order_id or len(req.client_order_id) > MAX_CLIENT_ORDER_ID:
        return f"client_order_id must be 1-{MAX_CLIENT_ORDER_ID} characters"
    if not (req.qty > 0 and math.isfinite(req.qty)):
        return f"qty must be a positive number, got {req.qty!r}"
    if not req.symbol:
        return "symbol is required"
    needs_limit = req.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = req.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    if needs_limit and not _positive(req.limit_price):
        return f"{req.order_type.value} order needs a positive limit_price"
    if needs_stop and not _positive(req.stop_price):
        return f"{req.order_type.value} order needs a positive stop_price"
    return order_class_problem(req)


def _positive(x: float | None) -> bool:
    return x is not None and x > 0 and math.isfinite(x)


def order_body(req: OrderRequest, client_order_id: str | None = None) -> dict[str, object]:
    """POST /v2/orders body for an admf OrderRequest (decimals as strings)."""
    body: dict[str, object] = {
        "symbol": req.symbol,
        "qty": format_qty(req.qty),
        "side": req.side.value,
        "type": req.order_type.value,
        "time_in_force": req.tif.value,
        "client_order_id": client_order_id or req.client_order_id,
    }
    if req.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and req.limit_price is not None:
        body["limit_price"] = format_price(req.limit_price)
    if req.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and req.stop_price is not None:
        body["stop_price"] = format_price(req.stop_price)
    if req.order_class == OCO and req.limit_price is not None and req.stop_loss is not None:
        # Alpaca's OCO: the order itself is the take-profit limit, its leg the stop-loss stop
        body["order_class"] = OCO
        body["take_profit"] = {"limit_price": format_price(req.limit_price)}
        body["stop_loss"] = {"stop_price": format_price(req.stop_loss)}
    return body


def replace_body(
    qty: float | None, limit_price: float | None, stop_price: float | None, client_order_id: str | None
) -> dict[str, object]:
    body: dict[str, object] = {}
    if qty is not None:
        body["qty"] = format_qty(qty)
    if limit_price is not None:
        body["limit_price"] = format_price(limit_price)
    if stop_price is not None:
        body["stop_price"] = format_price(stop_price)
    if client_order_id:
        body["client_order_id"] = client_order_id
    return body


def to_side(s: str) -> Side:
    return Side.SELL if s.startswith("sell") else Side.BUY


def wire_bar(symbol: str, b: WireBar) -> Bar:
    return Bar(symbol, parse_ts_ns(b.t), b.o, b.h, b.l, b.c, b.v)


parse_timeframe = wire_timeframe  # "5m" / "5Min" -> ("5Min", 300): the one grammar, in core
