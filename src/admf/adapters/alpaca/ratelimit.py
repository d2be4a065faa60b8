"""Client-side rate limiting and retry delays.

TokenBucket is the pure arithmetic (clock passed in, so it is testable without sleeping);
RateLimiter wraps it for asyncio and makes callers queue in arrival order instead of failing.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

__all__ = ["Backoff", "RateLimiter", "TokenBucket"]


class TokenBucket:
    """`rate_per_min` tokens per minute, at most `capacity` saved up.

    The server's X-Ratelimit-* headers override the local view: the bucket never holds more
    tokens than the server says remain, and when none remain it is closed until the reset time.
    """

    __slots__ = ("capacity", "rate", "tokens", "stamp", "closed_until")

    def __init__(self, rate_per_min: float, capacity: float | None = None, now: float = 0.0) -> None:
        if rate_per_min <= 0:
            raise ValueError("rate_per_min must be positive")
        self.rate = rate_per_min / 60.0
        self.capacity = float(capacity if capacity is not None else rate_per_min)
        if self.capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.tokens = self.capacity
        self.stamp = now
        self.closed_until = 0.0

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def try_acquire(self, now: float) -> float:
        """Take one token and return 0.0, or return the seconds to wait before trying again."""
        if now < self.closed_until:
            return self.closed_until - now
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def observe(self, remaining: int | None, reset_in: float | None, now: float) -> None:
        """Adapt to the server: `remaining` calls left, window resets `reset_in` seconds from now."""
        if remaining is None:
            return
        self._refill(now)
        if remaining < self.tokens:
            self.tokens = float(max(remaining, 0))
        if remaining <= 0 and reset_in is not None and reset_in > 0:
            self.closed_until = max(self.closed_until, now + reset_in)

    def close_for(self, seconds: float, now: float) -> None:
        """Stop handing out tokens for `seconds` (after a 429 without a usable reset header)."""
        self.tokens = min(self.tokens, 0.0)
        self.closed_until = max(self.closed_until, now + seconds)


class RateLimiter:
    """Async front of a TokenBucket; waiters are served first come, first served."""

    def __init__(
        self,
        rate_per_min: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        max_reset_wait: float = 60.0,
    ) -> None:
        self._clock = clock
        self.max_reset_wait = max_reset_wait
        self._wall = wall
        self.bucket = TokenBucket(rate_per_min, capacity, now=clock())
        self._lock = asyncio.Lock()
        self.waited = 0.0  # total seconds callers spent queued, for diagnostics

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                wait = self.bucket.try_acquire(self._clock())
                if wait <= 0.0:
                    return
                self.waited += wait
                await asyncio.sleep(wait)

    def observe_headers(self, headers: object) -> None:
        """Read X-Ratelimit-Remaining / X-Ratelimit-Reset (epoch seconds) from a response."""
        get = getattr(headers, "get", None)
        if get is None:
            return
        remaining = _int(get("X-Ratelimit-Remaining"))
        reset = _float(get("X-Ratelimit-Reset"))
        # Capped: a skewed clock or a bogus header must not park every call for long.
        reset_in = None if reset is None else min(self.max_reset_wait, max(0.0, reset - self._wall()))
        self.bucket.observe(remaining, reset_in, self._clock())

    def block_for(self, seconds: float) -> None:
        self.bucket.close_for(seconds, self._clock())


class Backoff:
    """Exponential backoff with equal jitter: attempt n waits in [d/2, d], d = min(cap, base * 2**n)."""

    __slots__ = ("base", "cap", "_rng")

    def __init__(self, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> None:
        if base <= 0 or cap < base:
            raise ValueError("need 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()

    def ceiling(self, attempt: int) -> float:
        return min(self.cap, self.base * (2.0 ** min(attempt, 62)))

    def delay(self, attempt: int) -> float:
        d = self.ceiling(attempt)
        return d / 2.0 + self._rng.uniform(0.0, d / 2.0)


def _int(v: object) -> int | None:
    if v is None:
        return None
    try:
        return int(float(str(v)))
    except ValueError:
        return None


def _float(v: object) -> float | None:
    if v is None:
        return None
    try:
        return float(str(v))
    except ValueError:
        return None
