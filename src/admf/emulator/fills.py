"""Execution prices: against the last trade at submission, and against a new bar for resting orders.

Market, limit, stop and stop-limit orders are matched by the shared core (execution/matching.py),
the SimulatedBroker's rules: Decimals become floats at this edge and the core's result (always one
of its inputs) comes back as the shortest decimal that round-trips (wire.fdec), exactly that input.
A price at submission is a bar whose open, high and low are that price. Trailing stops (emulator
only) move their water mark here. Both functions may advance an order's state (trigger, water mark).
"""

from __future__ import annotations

from decimal import Decimal

from admf.emulator.orders import Order
from admf.emulator.wire import fdec
from admf.execution import matching

_KIND = {"market": matching.MARKET, "limit": matching.LIMIT, "stop": matching.STOP,
         "stop_limit": matching.STOP_LIMIT}


def _f(d: Decimal | None) -> float:
    return 0.0 if d is None else float(d)


def _core(o: Order, kind: int, op: float, hi: float, lo: float) -> Decimal | None:
    px, o.triggered = matching.match(kind, o.buy, _f(o.limit_price), _f(o.stop_price), bool(o.triggered),
                                     op, hi, lo)
    return None if px is None else fdec(px)


def price_now(o: Order, p: Decimal) -> Decimal | None:
    """The order meets the last trade price p: market always, limits if marketable, triggered stops."""
    kind = _KIND.get(o.type)
    if kind is not None:
        x = float(p)
        return _core(o, kind, x, x, x)
    # trailing stop: the first price seen starts the water mark
    if o.hwm is None:
        o.hwm = p
        return None
    stop = o.live_stop()
    assert stop is not None  # a trailing stop with a water mark has a stop
    return p if (p >= stop if o.buy else p <= stop) else None


def bar_price(o: Order, op: float, hi: float, lo: float) -> Decimal | None:
    """A resting order meets a new bar (open, high, low as floats from the bar file)."""
    kind = _KIND.get(o.type)
    if kind is not None:
        return _core(o, kind, op, hi, lo)
    # trailing stop: check the stop standing before this bar, then move the water mark
    dop = fdec(op)
    if o.hwm is None:
        o.hwm = dop
    stop = o.live_stop()
    assert stop is not None
    if o.buy and fdec(hi) >= stop:
        return max(dop, stop)
    if not o.buy and fdec(lo) <= stop:
        return min(dop, stop)
    o.hwm = min(o.hwm, fdec(lo)) if o.buy else max(o.hwm, fdec(hi))
    return None
