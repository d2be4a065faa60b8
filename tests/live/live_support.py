"""Helpers shared by the live-boundary tests (settings for fast healing, an inbox reader)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from admf.adapters.alpaca.settings import AlpacaSettings

# Short timeouts and backoffs so every fault heals within a second or two.
FAST = AlpacaSettings(
    timeout=1.0,
    max_retries=3,
    backoff_base=0.02,
    backoff_cap=0.1,
    rate_limit_patience=10.0,
    max_reset_wait=0.3,
    ws_backoff_base=0.05,
    ws_backoff_cap=0.2,
    ws_conflict_delay=0.2,
    heartbeat=0.5,
    silence_timeout=2.0,
    handshake_timeout=2.0,
    poll_interval=0.1,
    fill_grace=0.3,
    order_silence_timeout=1.0,
)


class Collector:
    """Reads an inbox from the test thread (the main thread of a live session)."""

    def __init__(self, inbox: Any) -> None:
        self.inbox = inbox
        self.events: list[Any] = []

    def until(self, pred: Callable[[list[Any]], bool], timeout: float = 5.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            if pred(self.events):
                return self.events
            left = deadline - time.monotonic()
            if left <= 0:
                kinds = [type(e).__name__ for e in self.events]
                raise AssertionError(f"timed out; events so far: {kinds}")
            ev = self.inbox.get(min(left, 0.05))
            if ev is not None:
                self.events.append(ev)

    def settle(self, seconds: float = 0.3) -> list[Any]:
        """Collect whatever arrives in the next `seconds` (to prove nothing more comes)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ev = self.inbox.get(0.02)
            if ev is not None:
                self.events.append(ev)
        return self.events

    def of(self, cls: type, **match: Any) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls) and all(getattr(e, k) == v for k, v in match.items())]
