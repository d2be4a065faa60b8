"""The emulator's log of trading REST requests: what a test asserts from the server's side.

One entry per trading API request (not market data, not /admin): the wall time it arrived,
method, path, the status answered and, for an order POST, its client_order_id. Bounded, so
an emulator left running for days does not grow without end; the status counts are exact.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import NamedTuple


class Request(NamedTuple):
    ns: int  # wall time (time.time_ns) the request reached the emulator
    method: str
    path: str
    status: int
    client_order_id: str  # of an order POST, else ""


class RequestLog:
    def __init__(self, maxlen: int = 200_000) -> None:
        self.entries: deque[Request] = deque(maxlen=maxlen)
        self.statuses: Counter[int] = Counter()

    def add(self, ns: int, method: str, path: str, status: int, client_order_id: str = "") -> None:
        self.entries.append(Request(ns, method, path, status, client_order_id))
        self.statuses[status] += 1

    def summary(self) -> dict[str, int]:
        """Requests answered, by status code (as strings, for JSON)."""
        return {str(k): v for k, v in sorted(self.statuses.items())}
