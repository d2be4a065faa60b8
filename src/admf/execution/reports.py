"""What a broker adapter reports to the live execution core, and the typed outcomes it raises.

An adapter (an `ExecutionClient`, see execution.live_orders) only translates: our commands to
its wire, and its wire to these records. The core owns everything else about an order.

- OrderReport: one broker order as the broker sees it now (a snapshot). `status` is None for a
  broker state the state machine has no name for (e.g. held); `replaced` marks an order that a
  replacement continues (`replaced_by` names it when known). `filled_qty` is the broker's
  cumulative count, `legs` the reports of its child orders (an OCO's stop-loss leg) that belong
  to the same logical order, as the broker embeds them; a child's `leg` names it (stop_loss,
  take_profit; "" when the adapter cannot tell). The core binds them and combines the
  members' states (execution.legs).
- FillReport: one execution, its own quantity (never cumulative). `side` only when it differs
  from the order's (a bracket's exit leg).
- StreamEvent: what the broker's push channel delivered: an order report, and a fill when the
  event is an execution; `kind` is one of KINDS.

Outcomes an adapter raises for a command (subclass them next to the adapter's own errors):
- Refused: the broker answered no (rejected order, cancel of a filled order, unknown order);
- NotSent: nothing was sent (e.g. the rate limit could not be had before the deadline);
- NoAnswer: no verdict (network down, timeout after sending, 5xx): the broker may hold it.
"""

from __future__ import annotations

from typing import Final

import msgspec

from admf.core.enums import OrderStatus, Side
from admf.core.errors import BrokerError

__all__ = [
    "FILL",
    "KINDS",
    "PARTIAL_FILL",
    "UPDATE",
    "CANCEL_REJECTED",
    "REPLACE_REJECTED",
    "DuplicateOrder",
    "FillReport",
    "NoAnswer",
    "NotSent",
    "OrderReport",
    "Refused",
    "StreamEvent",
    "UnknownOrder",
]

FILL: Final = "fill"
PARTIAL_FILL: Final = "partial_fill"
CANCEL_REJECTED: Final = "cancel_rejected"
REPLACE_REJECTED: Final = "replace_rejected"
UPDATE: Final = "update"  # any other change of the order (new, canceled, replaced, ...)
KINDS = frozenset({FILL, PARTIAL_FILL, CANCEL_REJECTED, REPLACE_REJECTED, UPDATE})


class OrderReport(msgspec.Struct, frozen=True, gc=False):
    broker_id: str
    wire_client_id: str
    status: OrderStatus | None
    filled_qty: float = 0.0
    avg_price: float | None = None
    created_ns: int = 0
    updated_ns: int = 0
    replaced: bool = False
    replaced_by: str | None = None
    legs: tuple[OrderReport, ...] = ()
    leg: str = ""


class FillReport(msgspec.Struct, frozen=True, gc=False):
    exec_id: str
    broker_id: str
    qty: float
    price: float
    ts: int
    side: Side | None = None
    commission: float = 0.0


class StreamEvent(msgspec.Struct, frozen=True, gc=False):
    kind: str
    order: OrderReport
    ts: int
    fill: FillReport | None = None


class Refused(BrokerError):
    """The broker answered the command with a no; nothing of it was carried out."""

    @property
    def reason(self) -> str:
        """The refusal in the broker's words (an order's rejection reason)."""
        return str(self)


class UnknownOrder(Refused):
    """The broker (or the core) does not know the order the command names."""


class DuplicateOrder(Refused):
    """The client_order_id was used before (this journal already holds it)."""


class NotSent(BrokerError):
    """The command never left the process (e.g. no rate-limit slot before its deadline)."""


class NoAnswer(BrokerError):
    """No verdict came back (network, timeout, 5xx after every retry): it may have been done."""
