"""The order state machine: one transition table, one place that applies a report to an order.

Every order of admf, simulated or live, is an `Order` and changes state only through
`Order.apply(report)`, where a report is an OrderUpdate (a status, with the broker's cumulative
filled quantity) or a Fill (one execution, its own quantity).

How a report is classified (`Applied`):
- APPLIED: a step of the table (or a fill that adds quantity);
- DUPLICATE: the order is already in that state (a repeated update);
- STALE: an earlier state of a live order arriving late (e.g. "accepted" after a partial fill);
  ignored, the order keeps its state;
- INVALID: a step the table forbids (e.g. filled -> canceled, a fill beyond the quantity).
  A strict order (backtest) raises InvalidTransition; a live order records it (`anomalies`)
  and the owner reconciles it with the broker.

Fills decide the filled states: a fill moves an open order to partially_filled or filled by
its quantity; a status report of filled / partially_filled only records the broker's count
(`reported_filled`), so an order is `settled` only once every execution the broker counted
has been applied.
"""

from __future__ import annotations

from enum import Enum

from admf.core.enums import OrderStatus as S
from admf.core.errors import AdmfError
from admf.core.events import Fill, OrderRequest, OrderUpdate

__all__ = ["Applied", "InvalidTransition", "Order", "TRANSITIONS", "can_transition"]

EPS = 1e-9
_ALL_TERMINAL = frozenset({S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED})

# state -> states it may move to. Terminal states move nowhere.
TRANSITIONS: dict[S, frozenset[S]] = {
    S.PENDING_NEW: frozenset({S.UNKNOWN, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE})
    | _ALL_TERMINAL,
    # the answer was lost: whatever the broker says next is the truth
    S.UNKNOWN: frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE}) | _ALL_TERMINAL,
    S.ACCEPTED: frozenset({S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE}) | _ALL_TERMINAL,
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE, S.FILLED, S.CANCELED,
                                   S.EXPIRED}),
    # a cancel refused (or a replace answered) goes back to working; fills may land meanwhile;
    # a cancel asked before the broker's answer to the submit may meet its rejection
    S.PENDING_CANCEL: frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_REPLACE}) | _ALL_TERMINAL,
    S.PENDING_REPLACE: frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}

# how far along an order is; a live report of a lower rank than the order's is late, not wrong
_RANK = {S.PENDING_NEW: 0, S.UNKNOWN: 0, S.ACCEPTED: 1, S.PENDING_CANCEL: 1, S.PENDING_REPLACE: 1,
         S.PARTIALLY_FILLED: 2}


def can_transition(old: S, new: S) -> bool:
    return new in TRANSITIONS[old]


class InvalidTransition(AdmfError):
    """A report the state machine forbids (raised for strict, i.e. backtest, orders)."""


class Applied(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    INVALID = "invalid"


class Order:
    """One order (one client_order_id) and what is known of it."""

    __slots__ = ("request", "status", "filled_qty", "notional", "reported_filled", "broker_order_id", "reason",
                 "strict", "anomalies", "cancel_requested", "ts")

    def __init__(self, request: OrderRequest, status: S = S.PENDING_NEW, *, strict: bool = False) -> None:
        self.request = request
        self.status = status
        self.filled_qty = 0.0  # sum of the executions applied
        self.notional = 0.0
        self.reported_filled = 0.0  # the broker's cumulative count, from status reports
        self.broker_order_id = ""
        self.reason = ""
        self.strict = strict
        self.anomalies: list[str] = []
        self.cancel_requested = False
        self.ts = request.ts

    def __repr__(self) -> str:
        return f"Order({self.client_order_id!r}, {self.status.value}, filled={self.filled_qty:g}/{self.qty:g})"

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    @property
    def qty(self) -> float:
        return self.request.qty

    @property
    def leaves(self) -> float:
        """Quantity that may still fill (the worst case this order adds to the position)."""
        return 0.0 if self.status.is_terminal else max(0.0, self.qty - self.filled_qty)

    @property
    def avg_price(self) -> float | None:
        return self.notional / self.filled_qty if self.filled_qty > EPS else None

    @property
    def is_open(self) -> bool:
        return not self.status.is_terminal

    @property
    def settled(self) -> bool:
        """Terminal, with every execution the broker counted applied: nothing more can change it."""
        return self.status.is_terminal and self.filled_qty >= self.reported_filled - EPS

    # -- the one entry point --------------------------------------------------------------------

    def apply(self, report: OrderUpdate | Fill) -> Applied:
        if type(report) is Fill:
            return self._fill(report)
        assert isinstance(report, OrderUpdate)
        if report.filled_qty > self.reported_filled:
            self.reported_filled = report.filled_qty
        if report.broker_order_id:
            self.broker_order_id = report.broker_order_id
        new = report.status
        if new is S.FILLED or new is S.PARTIALLY_FILLED:
            # executions decide the filled states; a status report only tells how many there are
            if self.filled_qty >= self.qty - EPS or new is S.PARTIALLY_FILLED:
                return Applied.DUPLICATE if self.status is new or self.status.is_terminal else Applied.STALE
            if self.status.is_terminal:
                return self._invalid(new, report.reason)
            return Applied.STALE  # its fills are on their way
        return self._move(new, report.ts, report.reason)

    def _move(self, new: S, ts: int, reason: str) -> Applied:
        old = self.status
        if new is old:
            return Applied.DUPLICATE
        if new in TRANSITIONS[old]:
            self.status = new
            self.ts = ts
            if reason:
                self.reason = reason
            return Applied.APPLIED
        if not old.is_terminal and _RANK.get(new, 3) <= _RANK.get(old, 3):
            return Applied.STALE
        return self._invalid(new, reason)

    def _fill(self, f: Fill) -> Applied:
        filled = self.filled_qty + f.qty
        if filled > self.qty + EPS:
            return self._invalid(S.FILLED, f"fill {f.exec_id} of {f.qty:g} beyond the order's {self.qty:g}")
        self.filled_qty = filled
        self.notional += f.qty * f.price
        if self.status.is_terminal:
            # executions that happened before the terminal state was reported (a late fill):
            # quantities count, the state stays; impossible only for a strict order
            if self.strict:
                return self._invalid(S.FILLED, f"fill {f.exec_id} after {self.status.value}")
            self.anomalies.append(f"fill {f.exec_id} after {self.status.value}")
            return Applied.APPLIED
        self._move(S.FILLED if filled >= self.qty - EPS else S.PARTIALLY_FILLED, f.ts, "")
        return Applied.APPLIED

    def _invalid(self, new: S, reason: str) -> Applied:
        what = f"order {self.client_order_id}: {self.status.value} -> {new.value}" + (f" ({reason})" if reason else "")
        if self.strict:
            raise InvalidTransition(what)
        self.anomalies.append(what)
        return Applied.INVALID
