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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from admf.core.enums import OrderStatus
from admf.core.units import QTY_EPS

__all__ = ["Member", "combined_status"]


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
