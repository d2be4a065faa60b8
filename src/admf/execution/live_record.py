"""What the live core knows of one logical order (one client_order_id) across its broker orders.

A logical order keeps our client_order_id for its whole life. On the wire its first submission
uses it unchanged; each replacement (a new broker order at most brokers) is sent as
"<client_order_id>~<n>" (`wire_cid`). Every broker id it became, and every leg id (OCO /
bracket children), maps back to the record.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from admf.core.enums import OrderStatus
from admf.core.events import OrderRequest
from admf.execution.legs import Member

__all__ = ["EPS", "LiveOrder", "LiveTuning", "Tuning", "rank", "wire_cid"]

EPS = 1e-9
_RANK = {OrderStatus.ACCEPTED: 1, OrderStatus.PARTIALLY_FILLED: 2}


def rank(s: OrderStatus | None) -> int:
    """How far along a status is; an order's reported status never goes to a lower rank."""
    if s is None:
        return -1
    return 3 if s.is_terminal else _RANK.get(s, 0)


def wire_cid(cid: str, n: int, max_len: int) -> str:
    """The wire client id of the n-th replacement of `cid` (cut to the broker's length)."""
    suffix = f"~{n}"
    return cid[: max_len - len(suffix)] + suffix


class LiveTuning(Protocol):
    """The core's tunables (an adapter's settings object may serve them)."""

    @property
    def poll_interval(self) -> float: ...  # REST polling while the push stream is down

    @property
    def fill_grace(self) -> float: ...  # a terminal order waits this long for its executions

    @property
    def reconcile_slack(self) -> float: ...  # seconds subtracted from the last event time

    @property
    def resend_unsent_on_restart(self) -> bool: ...

    @property
    def order_silence_timeout(self) -> float | None: ...  # orders open, no push for this long

    @property
    def timeout(self) -> float: ...  # how long cancel_all waits for the outcomes


class Tuning:
    """Default LiveTuning (for adapters without settings of their own, and tests)."""

    def __init__(self, *, poll_interval: float = 5.0, fill_grace: float = 2.0, reconcile_slack: float = 5.0,
                 resend_unsent_on_restart: bool = False, order_silence_timeout: float | None = 60.0,
                 timeout: float = 10.0) -> None:
        self.poll_interval = poll_interval
        self.fill_grace = fill_grace
        self.reconcile_slack = reconcile_slack
        self.resend_unsent_on_restart = resend_unsent_on_restart
        self.order_silence_timeout = order_silence_timeout
        self.timeout = timeout


class LiveOrder:
    """One logical order: its request, broker ids, status as reported, and our fills."""

    __slots__ = (
        "req",
        "cid",
        "broker_id",
        "wire_cid",
        "status",
        "filled_qty",
        "notional",
        "emitted_filled",
        "created_ts",
        "ids",
        "prev_ids",
        "legs",
        "members",
        "inflight",
        "replacements",
        "broker_filled",
        "pending",
        "owed_since",
        "owed_checks",
        "replacing",
    )

    def __init__(self, req: OrderRequest) -> None:
        self.req = req
        self.cid = req.client_order_id
        self.broker_id: str | None = None
        self.wire_cid = req.client_order_id
        self.status: OrderStatus | None = None
        self.filled_qty = 0.0
        self.notional = 0.0
        self.emitted_filled = -1.0
        self.created_ts = 0
        self.ids: set[str] = set()
        self.prev_ids: list[str] = []
        # an order with legs (an OCO exit): leg broker id -> leg name (its fills' reason), and the
        # last report of every member, the order's own id included (execution.legs combines them)
        self.legs: dict[str, str] = {}
        self.members: dict[str, Member] = {}
        self.inflight: asyncio.Future[None] | None = None
        self.replacements = 0
        self.broker_filled: dict[str, float] = {}  # filled_qty the broker reports, per broker id
        self.pending: tuple[OrderStatus, int, float | None, str] | None = None  # terminal, held back
        self.owed_since = 0.0
        self.owed_checks = 0
        self.replacing = False  # our replace is in flight: its answer binds the new order

    def __repr__(self) -> str:
        s = self.status.value if self.status else "-"
        return f"LiveOrder({self.cid!r}, {s}, filled={self.filled_qty:g}, broker_id={self.broker_id!r})"

    @property
    def open(self) -> bool:
        """Still needs watching: not terminal yet, or terminal at the broker with fills not yet here."""
        return self.status is None or not self.status.is_terminal or self.pending is not None

    @property
    def owed(self) -> float:
        """Quantity the broker says is filled but whose executions have not reached us."""
        return sum(self.broker_filled.values()) - self.filled_qty

    @property
    def avg_price(self) -> float | None:
        return self.notional / self.filled_qty if self.filled_qty > 0 else None
