"""The one thread-safe inbox joining the async thread (producers) and the main thread (consumer).

Besides the core events (Bar, OrderUpdate, Fill) the live boundary puts a few records of its
own on the inbox; they are defined here so the main thread can dispatch on them without
importing an adapter:

- ConnectionState: a stream or client changed state (connected, disconnected, ...).
- CommandFailed: a command (submit, cancel, replace, cancel_all) could not be carried out.
- DataGap: minutes missing in a symbol's live bars (after any backfill).
- TradeTick / QuoteTick: optional live trades and quotes.
"""

from __future__ import annotations

import queue
from typing import Any

import msgspec

__all__ = ["CommandFailed", "ConnectionState", "DataGap", "Inbox", "QuoteTick", "TradeTick"]


class ConnectionState(msgspec.Struct, frozen=True, gc=False):
    """`component` is e.g. "trade_stream", "market_data", "broker"; `state` is one of
    "connecting", "connected", "disconnected", "reconnecting", "failed", "stopped"."""

    component: str
    state: str
    ts: int
    detail: str = ""
    attempt: int = 0


class CommandFailed(msgspec.Struct, frozen=True, gc=False):
    """A command from the main thread failed; `error` is the exception class name (for people:
    code decides on `outcome_unknown`, which the adapter sets when the broker may have carried
    the command out, e.g. no answer to a submit)."""

    command: str
    client_order_id: str
    error: str
    message: str
    ts: int
    outcome_unknown: bool = False


class DataGap(msgspec.Struct, frozen=True, gc=False):
    """Minutes missing between two live 1-minute bars of `symbol`: [start_ts, end_ts) in ns.
    `missing` minutes were absent on the stream, `backfilled` of them were recovered over REST."""

    symbol: str
    start_ts: int
    end_ts: int
    missing: int
    backfilled: int
    ts: int


class TradeTick(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    ts: int
    price: float
    size: float


class QuoteTick(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    ts: int
    bid: float
    bid_size: float
    ask: float
    ask_size: float


class Inbox:
    """Multi-producer, single-consumer queue. put() never blocks; get() returns None on timeout."""

    __slots__ = ("_q", "put")

    def __init__(self) -> None:
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Bound method cached on the instance: put is the hot path of every producer.
        self.put = self._q.put

    def get(self, timeout: float | None = None) -> Any | None:
        """Next event; blocks up to `timeout` seconds (forever if None); None when nothing came."""
        try:
            return self._q.get(True, timeout)
        except queue.Empty:
            return None

    def get_nowait(self) -> Any | None:
        try:
            return self._q.get_nowait()
        except queue.Empty:
            return None

    def drain(self) -> list[Any]:
        """Every event queued right now, oldest first, without blocking."""
        out: list[Any] = []
        get = self._q.get_nowait
        try:
            while True:
                out.append(get())
        except queue.Empty:
            return out

    def __len__(self) -> int:
        return self._q.qsize()

    def __repr__(self) -> str:
        return f"Inbox(pending={self._q.qsize()})"
