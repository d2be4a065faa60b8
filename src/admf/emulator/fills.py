"""Execution prices: against the last trade at submission, and against a new bar for resting orders.

Both functions may advance an order's state (stop-limit trigger, trailing-stop water mark) and return
the price of an execution, or None when the order does not trade.
"""

from __future__ import annotations

from decimal import Decimal

from admf.emulator.orders import Order


def price_now(o: Order, p: Decimal) -> Decimal | None:
    """The order meets the last trade price p: market always, limits if marketable, triggered stops."""
    t = o.type
    if t == "market":
        return p
    if t == "limit":
        return p if (p <= o.limit_price if o.buy else p >= o.limit_price) else None
    if t == "stop":
        return p if (p >= o.stop_price if o.buy else p <= o.stop_price) else None
    if t == "stop_limit":
        if not o.triggered and (p >= o.stop_price if o.buy else p <= o.stop_price):
            o.triggered = True
        if o.triggered and (p <= o.limit_price if o.buy else p >= o.limit_price):
            return p
        return None
    # trailing stop: the first price seen starts the water mark
    if o.hwm is None:
        o.hwm = p
        return None
    stop = o.live_stop()
    return p if (p >= stop if o.buy else p <= stop) else None


def bar_price(o: Order, op: Decimal, hi: Decimal, lo: Decimal) -> Decimal | None:
    """A resting order meets a new bar (open, high, low): gaps fill at the open, touches at the limit/stop."""
    t = o.type
    if t == "market":
        return op
    if t == "limit":
        lim = o.limit_price
        if o.buy:
            return op if op <= lim else (lim if lo <= lim else None)
        return op if op >= lim else (lim if hi >= lim else None)
    if t == "stop":
        sp = o.stop_price
        if o.buy:
            return max(op, sp) if hi >= sp else None
        return min(op, sp) if lo <= sp else None
    if t == "stop_limit":
        sp, lim = o.stop_price, o.limit_price
        if o.triggered:
            start = op
        elif hi >= sp if o.buy else lo <= sp:
            o.triggered = True
            start = max(op, sp) if o.buy else min(op, sp)
        else:
            return None
        if o.buy:
            return start if start <= lim else (lim if lo <= lim else None)
        return start if start >= lim else (lim if hi >= lim else None)
    # trailing stop: check the stop standing before this bar, then move the water mark
    if o.hwm is None:
        o.hwm = op
    stop = o.live_stop()
    if o.buy and hi >= stop:
        return max(op, stop)
    if not o.buy and lo <= stop:
        return min(op, stop)
    o.hwm = min(o.hwm, lo) if o.buy else max(o.hwm, hi)
    return None
