"""Order classes with legs: bracket, OCO and OTO (Alpaca's `order_class` with `take_profit` / `stop_loss`).

Documented choices (Alpaca's engine is private; alpaca-protocol.md section 1.8 lists what is known):

* bracket: an entry (market, limit, stop or stop-limit; day or gtc, no extended hours) with a
  take-profit limit leg and a stop-loss stop (or stop-limit, with `stop_loss.limit_price`) leg,
  both on the other side and for the entry's quantity. The legs are `held` (not routed, not
  matched, listed as open) until the entry is completely filled; then the take-profit turns `new`
  (a `new` event) and the stop-loss stays `held` while it is watched, as Alpaca shows it. Legs start
  working on the bar after the entry's fill (the rest of the fill's bar is not replayed for them).
* OTO: the same with one leg. OCO: an exit-only limit order (the take-profit) plus a stop-loss
  leg, both working at once.
* One cancels the other: a fill of one leg shrinks the other by the same quantity and cancels it
  when it is done (a `canceled` event); cancelling or expiring any member cancels the open rest;
  an entry that ends unfilled cancels its held legs, one that ends partly filled activates them
  for the filled quantity.
* A bar that reaches both legs fills the stop-loss first (the conservative rule of the backtest's
  exits: the path inside a bar is unknown, so the loss is assumed to come first).
* Replacing a member keeps its place in the group (the new order takes the old one's links).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from admf.emulator.orders import Order, sub_penny
from admf.emulator.wire import dec, unprocessable

if TYPE_CHECKING:
    from admf.emulator.broker import Broker

CLASSES = ("simple", "bracket", "oco", "oto")
TAKE_PROFIT, STOP_LOSS = "take_profit", "stop_loss"


def _price(leg: Any, key: str, what: str) -> Decimal | None:
    if not isinstance(leg, dict) or leg.get(key) is None:
        return None
    p = dec(leg[key], f"{what}.{key}")
    if p <= 0:
        raise unprocessable(f"{what}.{key} must be > 0")
    sub_penny(p, f"{what}.{key}")
    return p


def parse_legs(body: dict[str, Any], o: Order) -> list[tuple[str, str, Decimal | None, Decimal | None]]:
    """Check the order class of a POST /v2/orders body; the legs to make as (leg, type, limit, stop)."""
    cls = body.get("order_class") or "simple"
    if cls not in CLASSES:
        raise unprocessable(f"invalid order_class: {cls}")
    o.order_class = "" if cls == "simple" else cls
    if cls == "simple":
        return []
    tp_limit = _price(body.get("take_profit"), "limit_price", TAKE_PROFIT)
    sl_stop = _price(body.get("stop_loss"), "stop_price", STOP_LOSS)
    sl_limit = _price(body.get("stop_loss"), "limit_price", STOP_LOSS)
    if body.get("stop_loss") is not None and sl_stop is None:
        raise unprocessable("stop_loss.stop_price is required")
    if body.get("take_profit") is not None and tp_limit is None:
        raise unprocessable("take_profit.limit_price is required")
    if o.type == "trailing_stop" or o.notional is not None:
        raise unprocessable(f"{cls} orders cannot be trailing-stop or notional orders")
    if o.qty is None or o.qty != o.qty.to_integral_value():
        raise unprocessable(f"{cls} orders must be for a whole number of shares")
    if o.extended_hours:
        raise unprocessable(f"{cls} orders cannot be extended-hours orders")
    if cls == "oto":
        if (tp_limit is None) == (sl_stop is None):
            raise unprocessable("oto orders need exactly one of take_profit or stop_loss")
    else:
        if tp_limit is None or sl_stop is None:
            raise unprocessable(f"{cls} orders need both take_profit and stop_loss")
        if o.tif not in ("day", "gtc"):
            raise unprocessable(f"{cls} orders must be day or gtc")
    if cls == "oco":
        if o.type != "limit":
            raise unprocessable("oco orders must be limit orders")
        if o.limit_price != tp_limit:
            raise unprocessable("take_profit.limit_price must equal the order's limit_price")
    # the exit side: a buy entry exits by selling, so its take-profit is above its stop-loss
    exit_buy = (not o.buy) if cls != "oco" else o.buy
    if tp_limit is not None and sl_stop is not None and (tp_limit <= sl_stop if not exit_buy else tp_limit >= sl_stop):
        raise unprocessable("take_profit.limit_price must be beyond stop_loss.stop_price on the profit side")
    legs: list[tuple[str, str, Decimal | None, Decimal | None]] = []
    if tp_limit is not None and cls != "oco":
        legs.append((TAKE_PROFIT, "limit", tp_limit, None))
    if sl_stop is not None:
        legs.append((STOP_LOSS, "stop" if sl_limit is None else "stop_limit", sl_limit, sl_stop))
    return legs


def make_legs(b: Broker, parent: Order, specs: list[tuple[str, str, Decimal | None, Decimal | None]],
              now: int) -> list[Order]:
    """The leg orders of `parent`, registered with the broker but not routed (held)."""
    out = []
    for leg, typ, limit, stop in specs:
        o = b._new_order(now)
        o.client_order_id = o.id
        o.symbol, o.asset_id = parent.symbol, parent.asset_id
        o.side = parent.side if parent.order_class == "oco" else ("sell" if parent.buy else "buy")
        o.type, o.tif, o.qty = typ, parent.tif, parent.qty
        o.limit_price, o.stop_price = limit, stop
        o.order_class, o.parent_id, o.leg = parent.order_class, parent.id, leg
        o.status = "held"
        o.intent = ("sell_to_close" if parent.buy else "buy_to_close") if parent.order_class != "oco" else parent.intent
        b.orders[o.id] = o
        b.by_cid[o.client_order_id] = o
        b.order_list.append(o)
        b.dirty_orders.add(o.id)
        out.append(o)
    parent.legs = [o.id for o in out]
    return out


def legs_of(b: Broker, o: Order) -> list[Order]:
    return [b.orders[i] for i in (o.legs or ()) if i in b.orders]


def activate(b: Broker, parent: Order, qty: Decimal | None = None) -> None:
    """The entry is done: its held legs start working (for `qty` shares when it was only partly filled)."""
    for leg in legs_of(b, parent):
        if leg.status != "held" or leg in b.open_by_symbol.get(leg.symbol, ()):
            continue
        if qty is not None:
            leg.qty = qty
        b.open_by_symbol.setdefault(leg.symbol, []).append(leg)
        b._set_expiry(leg, b.clock.now())
        b.dirty_orders.add(leg.id)
        if leg.leg == TAKE_PROFIT:
            leg.status = "new"
            leg.updated_at = b.clock.stamp()
            b.emit("new", leg, None)


def peers(b: Broker, o: Order) -> list[Order]:
    """The open orders that `o` cancels when it fills (one-cancels-other)."""
    if o.order_class == "oco":
        head = b.orders.get(o.parent_id) if o.parent_id else o
        group = [head] + legs_of(b, head) if head is not None else []
    elif o.parent_id:
        parent = b.orders.get(o.parent_id)
        group = legs_of(b, parent) if parent is not None else []
    else:
        return []
    return [p for p in group if p is not o and p.is_open]


def on_fill(b: Broker, o: Order, q: Decimal) -> None:
    """After a fill of q shares of a group member."""
    if o.legs and o.order_class in ("bracket", "oto") and not o.is_open:
        activate(b, o)
        return
    for p in peers(b, o):
        assert p.qty is not None  # group members have a share quantity
        p.qty -= q
        b.dirty_orders.add(p.id)
        if (p.qty <= p.filled_qty or not o.is_open) and p.is_open:
            p.qty = max(p.qty, p.filled_qty)
            b._cancel(p, b.clock.stamp())


def on_end(b: Broker, o: Order) -> None:
    """A member was canceled, expired or rejected: the rest of its group goes too (or the legs start)."""
    if o.legs and o.order_class in ("bracket", "oto") and not o.parent_id:
        held = [leg for leg in legs_of(b, o) if leg.status == "held" and leg not in b.open_by_symbol.get(o.symbol, ())]
        if o.filled_qty > 0 and held:
            activate(b, o, o.filled_qty)
            return
        for leg in held:
            if leg.is_open:  # a leg's cancel may have taken its sibling already
                b._cancel(leg, b.clock.stamp())
        if held:
            return
    for p in peers(b, o):
        if p.is_open:
            b._cancel(p, b.clock.stamp())
    parent = b.orders.get(o.parent_id) if o.parent_id else None
    if parent is not None and parent.is_open:  # a leg cancelled before its entry filled: the group goes
        b._cancel(parent, b.clock.stamp())


def transfer(b: Broker, old: Order, new: Order) -> None:
    """A replace: `new` takes `old`'s place in its group."""
    new.order_class, new.parent_id, new.leg, new.legs = old.order_class, old.parent_id, old.leg, old.legs
    for leg in legs_of(b, old):
        leg.parent_id = new.id
        b.dirty_orders.add(leg.id)
    if old.parent_id and old.parent_id in b.orders:
        parent = b.orders[old.parent_id]
        parent.legs = [new.id if i == old.id else i for i in (parent.legs or ())]
        b.dirty_orders.add(parent.id)
    old.legs = None


def stop_first(orders: list[Order]) -> list[Order]:
    """Bar order for matching: stop-loss legs before everything else (stable otherwise)."""
    if not any(o.leg == STOP_LOSS for o in orders):
        return list(orders)
    return sorted(orders, key=lambda o: 0 if o.leg == STOP_LOSS else 1)
