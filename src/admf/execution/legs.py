"""One logical order that is several orders at the broker: the status of an OCO exit from its members.

An OCO exit (`OrderRequest.order_class == "oco"`) is one order of the session and two at the
broker: the order itself (the take-profit limit) and its leg (the stop-loss), each with its
own id, status and fills. The first fill of either cancels the other, so the broker reports one
member filled and the other canceled; that cancel is not a cancel of the logical order.

`combined_status` is a pure function of the members' last reports, for any adapter or
reconciler that binds the legs' ids to the logical order:

- filled once the members' fills add up to its quantity, or once any member is filled (a member's
  quantity shrinks by its sibling's partial fills, so "filled" means the exit is complete);
- canceled, expired or rejected only when every member has ended unfilled in full: canceled if any
  was canceled, else expired if any expired, else rejected;
- while a member is still working: partially filled when something has filled, accepted when the
  broker has acknowledged a member, else None (nothing known yet).

A member whose state admf's state machine does not model (a broker's `held`, `pending_cancel`,
`new` before any report) is passed with status None: still working.

The live core (execution.live_orders) keeps each member's last report with `note` and asks
`order_status` once a report of any member arrived; the adapters only translate their wire.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from admf.core.enums import OrderStatus, OrderType, Side
from admf.core.events import OCO, OrderRequest
from admf.core.units import QTY_EPS

__all__ = ["UNNAMED_LEG", "Member", "combined_status", "note", "order_class_problem", "order_status"]

UNNAMED_LEG = "leg"  # the name of a leg whose adapter did not say which it is (an OCO's is "stop_loss")


class Member(NamedTuple):
    """The last report of one member: its status (None: working in a step admf does not model)
    and the broker's cumulative filled quantity of that member."""

    status: OrderStatus | None
    filled_qty: float = 0.0


def combined_status(qty: float, parent: Member, legs: Sequence[Member]) -> OrderStatus | None:
    """The logical order's status (quantity `qty`) from its parent's and its legs' reports."""
    members = (parent, *legs)
    filled = sum(m.filled_qty for m in members)
    if filled >= qty - QTY_EPS or any(m.status is OrderStatus.FILLED for m in members):
        return OrderStatus.FILLED
    if all(m.status is not None and m.status.is_terminal for m in members):
        ends = {m.status for m in members}
        for end in (OrderStatus.CANCELED, OrderStatus.EXPIRED):
            if end in ends:
                return end
        return OrderStatus.REJECTED
    if filled > QTY_EPS:
        return OrderStatus.PARTIALLY_FILLED
    if any(m.status is not None for m in members):
        return OrderStatus.ACCEPTED
    return None


def note(prev: Member | None, status: OrderStatus | None, filled_qty: float, replaced: bool = False) -> Member:
    """A member after a report of it: `replaced` (it no longer works under its id) counts as
    canceled; a report never takes it back from an end, nor from acknowledged to no news, and
    its filled quantity never shrinks (reports may come late or twice)."""
    if replaced:
        status = OrderStatus.CANCELED
    if prev is None:
        return Member(status, filled_qty)
    if status is None or (prev.status is not None and prev.status.is_terminal):
        status = prev.status
    return Member(status, max(filled_qty, prev.filled_qty))


def order_status(qty: float, parent: str | None, legs: Sequence[str],
                 members: Mapping[str, Member]) -> OrderStatus | None:
    """combined_status of the members as last noted (by broker id; one not heard of yet is working)."""
    working = Member(None)
    return combined_status(qty, members.get(parent, working) if parent is not None else working,
                           [members.get(i, working) for i in legs])


def order_class_problem(req: OrderRequest) -> str | None:
    """Why a request's order class can never be worked (every adapter checks it), or None."""
    if req.order_class == OCO:
        tp, sl = req.limit_price, req.stop_loss
        if req.order_type is not OrderType.LIMIT or not _positive(tp) or not _positive(sl):
            return "an oco order is a limit order (the take-profit) with a positive stop_loss"
        assert tp is not None and sl is not None
        if (tp <= sl) if req.side is Side.SELL else (tp >= sl):
            return (f"an oco {req.side.value}'s take-profit {tp:g} must be beyond its stop-loss "
                    f"{sl:g} on the profit side")
    elif req.order_class:
        return f"order_class must be '' or {OCO!r}, not {req.order_class!r}"
    return None


def _positive(x: float | None) -> bool:
    return x is not None and x > 0 and math.isfinite(x)
