"""Order and position records, and the validation helpers that produce Alpaca's error bodies."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import Any

from admf.emulator.wire import ONE, ZERO, WireError, dec, dstr, iso_us, parse_bool, q9, unprocessable

TERMINAL = frozenset({"filled", "canceled", "expired", "replaced", "rejected"})
TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIFS = ("day", "gtc", "opg", "cls", "ioc", "fok")
_EXCHANGES = {"SPY": "ARCA", "IWM": "ARCA", "DIA": "ARCA", "GLD": "ARCA", "QQQ": "NASDAQ"}
_NAMESPACE = uuid.UUID("7f0b1c5e-3c47-4b4e-9a37-2d1c6a0e5f11")
HUNDRED = Decimal(100)
CENT = Decimal("0.01")



def asset_uuid(symbol: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "asset:" + symbol))


def not_found(message: str) -> WireError:
    return WireError(404, 40410000, message)


def forbidden(message: str, **extra: object) -> WireError:
    return WireError(403, 40310000, message, **extra)


def sub_penny(price: Decimal, field: str) -> None:
    exp = price.normalize().as_tuple().exponent
    places = -exp if isinstance(exp, int) and exp < 0 else 0
    if places > (2 if abs(price) >= ONE else 4):
        raise unprocessable(
            f"invalid {field} {dstr(price)}. sub-penny increment does not fulfill minimum pricing criteria",
            code=42210000,
        )


class Order:
    __slots__ = (
        "id", "client_order_id", "symbol", "asset_id", "side", "type", "tif", "qty", "notional",
        "limit_price", "stop_price", "trail_price", "trail_percent", "hwm", "extended_hours",
        "status", "filled_qty", "filled_value", "created_at", "updated_at", "submitted_at",
        "filled_at", "expired_at", "canceled_at", "failed_at", "replaced_at", "replaced_by",
        "replaces", "expire_ns", "target_open", "triggered", "opening", "intent", "seq",
        "order_class", "parent_id", "leg", "legs",
    )  # fmt: skip
    # the slots' types (set to None by __init__, filled by parse_order and the broker)
    id: str
    client_order_id: str
    symbol: str
    asset_id: str
    side: str
    type: str
    tif: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    trail_percent: Decimal | None
    hwm: Decimal | None
    extended_hours: bool
    status: str
    filled_qty: Decimal
    filled_value: Decimal
    created_at: int
    updated_at: int
    submitted_at: int
    filled_at: int | None
    expired_at: int | None
    canceled_at: int | None
    failed_at: int | None
    replaced_at: int | None
    replaced_by: str | None
    replaces: str | None
    expire_ns: int | None
    target_open: int | None
    triggered: bool
    opening: bool
    intent: str | None
    seq: int
    order_class: str | None  # "" / None simple, else bracket, oco, oto
    parent_id: str | None  # a leg's entry (for OCO: the limit order it pairs with)
    leg: str | None  # take_profit / stop_loss for a leg
    legs: list[str] | None  # an entry's leg ids

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, None)
        self.filled_qty = ZERO
        self.filled_value = ZERO
        self.extended_hours = False
        self.triggered = False
        self.opening = False

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    @property
    def buy(self) -> bool:
        return self.side == "buy"

    def remaining(self) -> Decimal | None:
        return None if self.qty is None else self.qty - self.filled_qty

    def live_stop(self) -> Decimal | None:
        if self.type != "trailing_stop" or self.hwm is None:
            return self.stop_price
        if self.trail_price is not None:
            return self.hwm - self.trail_price if not self.buy else self.hwm + self.trail_price
        pct = (self.trail_percent or ZERO) / HUNDRED
        raw = self.hwm * (ONE - pct) if not self.buy else self.hwm * (ONE + pct)
        return raw.quantize(CENT) if raw >= ONE else raw.quantize(Decimal("0.0001"))

    def wire(self, legs: list[Order] | None = None) -> dict[str, Any]:
        avg = None
        if self.filled_qty:
            with localcontext() as ctx:
                ctx.prec = 40
                avg = q9(self.filled_value / self.filled_qty)
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": iso_us(self.created_at),
            "updated_at": iso_us(self.updated_at),
            "submitted_at": iso_us(self.submitted_at),
            "filled_at": iso_us(self.filled_at) if self.filled_at else None,
            "expired_at": iso_us(self.expired_at) if self.expired_at else None,
            "canceled_at": iso_us(self.canceled_at) if self.canceled_at else None,
            "failed_at": iso_us(self.failed_at) if self.failed_at else None,
            "replaced_at": iso_us(self.replaced_at) if self.replaced_at else None,
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": self.asset_id,
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": dstr(self.notional),
            "qty": dstr(self.qty),
            "filled_qty": dstr(self.filled_qty),
            "filled_avg_price": dstr(avg),
            "order_class": self.order_class or "",
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": self.intent,
            "time_in_force": self.tif,
            "limit_price": dstr(self.limit_price),
            "stop_price": dstr(self.live_stop()),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": [leg.wire() for leg in legs] if legs else None,
            "trail_percent": dstr(self.trail_percent),
            "trail_price": dstr(self.trail_price),
            "hwm": dstr(self.hwm),
            "subtag": None,
            "source": None,
            "expires_at": iso_us(self.expire_ns) if self.expire_ns else None,
        }

    def to_state(self) -> dict[str, Any]:
        out = {}
        for name in self.__slots__:
            v = getattr(self, name)
            out[name] = str(v) if isinstance(v, Decimal) else v
        return out

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Order:
        o = cls()
        dec_fields = {"qty", "notional", "limit_price", "stop_price", "trail_price", "trail_percent",
                      "hwm", "filled_qty", "filled_value"}
        for name in cls.__slots__:
            v = d.get(name)
            setattr(o, name, Decimal(v) if name in dec_fields and v is not None else v)
        if o.filled_qty is None:
            o.filled_qty = ZERO
        if o.filled_value is None:
            o.filled_value = ZERO
        return o


class Position:
    __slots__ = ("symbol", "qty", "cost", "opened_day")

    def __init__(self, symbol: str, qty: Decimal = ZERO, cost: Decimal = ZERO, opened_day: str = "") -> None:
        self.symbol = symbol
        self.qty = qty  # signed: negative is short
        self.cost = cost  # signed cost basis (qty * avg entry)
        self.opened_day = opened_day

    def avg(self) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = 40
            return q9(self.cost / self.qty) if self.qty else ZERO


def parse_order(body: dict[str, Any], o: Order) -> None:
    """Check and copy the order fields of a POST /v2/orders body onto o (422 on the first bad field).

    Symbol lookup, duplicate client_order_id and time-of-day rules are the broker's.
    """
    sym_key = body.get("symbol")
    if not sym_key or not isinstance(sym_key, str):
        raise unprocessable("symbol is required")
    side = body.get("side")
    if side not in ("buy", "sell"):
        raise unprocessable("side is required" if side is None else f"invalid side: {side}")
    typ = body.get("type", body.get("order_type"))
    if typ not in TYPES:
        raise unprocessable("type is required" if typ is None else f"invalid order type: {typ}")
    tif = body.get("time_in_force")
    if tif not in TIFS:
        raise unprocessable("time_in_force is required" if tif is None else f"invalid time_in_force: {tif}")
    o.side, o.type, o.tif = side, typ, tif
    qty_raw, notional_raw = body.get("qty"), body.get("notional")
    if qty_raw is None and notional_raw is None:
        raise unprocessable("qty or notional is required")
    if qty_raw is not None and notional_raw is not None:
        raise unprocessable("only one of qty or notional is accepted")
    if qty_raw is not None:
        q = dec(qty_raw, "qty")
        if q <= 0:
            raise unprocessable("qty must be > 0")
        if q != q9(q):
            raise unprocessable("qty must have at most 9 decimal places")
        if q != q.to_integral_value() and not (typ == "market" and tif == "day"):
            raise unprocessable("fractional orders must be market orders with time_in_force day")
        o.qty = q
    else:
        n = dec(notional_raw, "notional")
        if n <= 0:
            raise unprocessable("notional must be > 0")
        if typ != "market" or tif != "day":
            raise unprocessable("notional orders must be market orders with time_in_force day")
        sub_penny(n, "notional")
        o.notional = n
    lp, sp = body.get("limit_price"), body.get("stop_price")
    if typ in ("limit", "stop_limit"):
        if lp is None:
            raise unprocessable("limit_price is required")
        o.limit_price = dec(lp, "limit_price")
        if o.limit_price <= 0:
            raise unprocessable("limit_price must be > 0")
        sub_penny(o.limit_price, "limit_price")
    elif lp is not None:
        raise unprocessable(f"limit_price must not be set for {typ} orders")
    if typ in ("stop", "stop_limit"):
        if sp is None:
            raise unprocessable("stop_price is required")
        o.stop_price = dec(sp, "stop_price")
        if o.stop_price <= 0:
            raise unprocessable("stop_price must be > 0")
        sub_penny(o.stop_price, "stop_price")
    elif sp is not None and typ != "trailing_stop":
        raise unprocessable(f"stop_price must not be set for {typ} orders")
    if typ == "trailing_stop":
        tp, tpc = body.get("trail_price"), body.get("trail_percent")
        if (tp is None) == (tpc is None):
            raise unprocessable("exactly one of trail_price or trail_percent is required")
        if tif not in ("day", "gtc"):
            raise unprocessable("trailing stop orders must be day or gtc")
        if tp is not None:
            o.trail_price = dec(tp, "trail_price")
            if o.trail_price <= 0:
                raise unprocessable("trail_price must be > 0")
        else:
            o.trail_percent = dec(tpc, "trail_percent")
            if not ZERO < o.trail_percent < HUNDRED:
                raise unprocessable("trail_percent must be between 0 and 100")
    ext = body.get("extended_hours", False)
    if isinstance(ext, str):
        ext = parse_bool(ext)
    o.extended_hours = bool(ext)
    if o.extended_hours and (typ != "limit" or tif != "day"):
        raise unprocessable("extended hours order must be DAY limit orders")
    cid = body.get("client_order_id")
    if cid is not None:
        if not isinstance(cid, str) or not cid:
            raise unprocessable("invalid client_order_id")
        if len(cid) > 48:
            raise unprocessable("client_order_id must be no more than 48 characters")


Emit = Callable[[str, Order, dict | None], None]
