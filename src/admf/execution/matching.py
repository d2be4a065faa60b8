"""The matching core: how a resting order meets one bar. Shared by the SimulatedBroker and the emulator.

Numeric convention: floats. The core never computes a price: it returns one of its inputs (the
bar's open, the order's limit or its stop), so a result is exactly a number the caller passed in.
The SimulatedBroker adds its slippage model afterwards (market and stop fills only). The emulator
converts its Decimals with float() at its edge and takes a result back with Decimal(repr(x)),
which is exact for those inputs (at most 15 significant digits); neither side rounds.

Rules, for a bar with open o, high h, low l (the path inside the bar is unknown):

- market: fills at the open.
- limit (buy; a sell mirrors): at the open when the open is at or below the limit (a gap through
  it), else at the limit when low <= limit, else no fill.
- stop (buy): triggers when high >= stop; fills at max(open, stop) (a gap fills at the open).
  Once triggered it is a market order: a remainder fills at the next bar's open.
- stop-limit (buy): triggers like a stop. When the open itself is at or beyond the stop (a gap),
  the rest of the bar follows the open, so it acts as a limit from the open: at the open when
  within the limit, else at the limit when the range reaches it. When the trigger happened
  inside the bar at a price beyond the limit, it gets no fill on that bar: the bar's range may
  have come back to the limit before the trigger, not after (a buy stop 101, limit 100.5 on a
  bar O100 H102 L99 does not fill; it rests as a limit from the next bar). A trigger inside the
  bar within the limit fills at the trigger (the stop).
- volume participation (optional): a bar fills at most cap * its volume (whole shares unless
  the order is fractional); the rest waits for later bars, where it matches again by the rules
  above (a triggered stop's rest is a market order).
"""

from __future__ import annotations

import math

from admf.core.units import QTY_EPS

MARKET, LIMIT, STOP, STOP_LIMIT = 0, 1, 2, 3


def limit_fill(buy: bool, limit: float, start: float, h: float, l: float) -> float | None:
    """Price of a limit order working from `start` through a bar with range [l, h]."""
    if buy:
        if start <= limit:
            return start
        return limit if l <= limit else None
    if start >= limit:
        return start
    return limit if h >= limit else None


def stop_trigger(buy: bool, stop: float, o: float, h: float, l: float) -> float | None:
    """The price at which a stop triggers in the bar (the open on a gap), or None."""
    if buy:
        return (o if o >= stop else stop) if h >= stop else None
    return (o if o <= stop else stop) if l <= stop else None


def match(kind: int, buy: bool, limit: float, stop: float, triggered: bool,
          o: float, h: float, l: float) -> tuple[float | None, bool]:
    """(fill price or None, triggered after this bar) of one resting order against one bar."""
    if kind == MARKET:
        return o, triggered
    if kind == LIMIT:
        return limit_fill(buy, limit, o, h, l), triggered
    if triggered:
        return (o if kind == STOP else limit_fill(buy, limit, o, h, l)), True
    trigger = stop_trigger(buy, stop, o, h, l)
    if trigger is None:
        return None, False
    if kind == STOP:
        return trigger, True
    if trigger != o and (trigger > limit if buy else trigger < limit):
        return None, True  # triggered inside the bar beyond its limit: the way back may have come first
    return limit_fill(buy, limit, trigger, h, l), True


def participation(remaining: float, volume: float, cap: float, fractional: bool = False) -> float:
    """How much of `remaining` one bar of `volume` can fill under a participation cap (0 < cap <= 1)."""
    room = cap * volume
    if not fractional:
        room = math.floor(room + QTY_EPS)
    return remaining if room >= remaining - QTY_EPS else max(room, 0.0)
