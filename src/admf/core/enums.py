"""Enumerations shared by every layer."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    OPG = "opg"
    CLS = "cls"


class OrderStatus(StrEnum):
    """The states of an order; the transitions between them are in admf.core.orders.

    pending_new: sent (or about to be), no answer yet; unknown: the submit's answer was lost
    (the broker may or may not hold the order); accepted: working at the broker;
    pending_cancel / pending_replace: our cancel / replace is on its way.
    """

    PENDING_NEW = "pending_new"
    UNKNOWN = "unknown"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @classmethod
    def parse(cls, text: str) -> OrderStatus:
        """A status as stored by any version (journals written before this state machine said
        "new" for a working order and "replaced" for an order whose replacement continues it)."""
        return _LEGACY.get(text) or cls(text)


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})
_LEGACY = {"new": OrderStatus.ACCEPTED, "replaced": OrderStatus.ACCEPTED}


class ExitReason(StrEnum):
    SIGNAL = "signal"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    TRAILING_STOP = "trailing_stop"
    MAX_HOLDING = "max_holding_bars"
    SESSION_CLOSE = "session_close"
    END_OF_DATA = "end_of_data"
    KILL_SWITCH = "kill_switch"
