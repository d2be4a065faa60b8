"""Client-side rate limiting that follows the server's window, and retry delays.

Alpaca counts the calls of a key in a fixed window (200 per minute) and says where it stands on
every answer: X-Ratelimit-Limit, X-Ratelimit-Remaining and X-Ratelimit-Reset (epoch seconds,
whole). WindowBudget is the arithmetic (clock passed in, testable without sleeping): it spends
only what the server says remains, minus the calls still in flight and a reserve, sends one
probe until the first answer tells the state of the window, and starts on a new window only
once the reset has surely passed (the header's rounding and the clock offset included).
RateLimiter serves async callers from it by priority (0 = cancels first) and fails a caller
whose deadline comes before a call can be had, so a stale request is never sent. The reserve is
kept from new orders and queries only: a cancel may spend it down to `keep`, and the last resort
(the stop's or kill switch's cancel-all) all of it, so a window spent on new orders never holds
a cancel until the reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import random
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

from admf.adapters.alpaca.errors import StaleRequest

__all__ = ["Backoff", "RateLimiter", "WindowBudget", "reset_delay"]


class WindowBudget:
    """What may still be sent in the server's current rate-limit window.

    `remaining` counts calls left in the window as this client sees it: the server's last
    Remaining minus the calls sent since and still unanswered. A call goes out only while
    `remaining` exceeds its floor (`reserve` unless the caller names a lower one); so each
    window receives at most `limit - floor` calls from this client, whatever order the answers
    arrive in.
    """

    __slots__ = ("limit", "reserve", "window", "known", "remaining", "window_id", "over", "reset_at", "inflight",
                 "closed_until", "sent")

    def __init__(self, limit: int, *, reserve: int = 4, window: float = 60.0, now: float = 0.0) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if reserve < 0:
            raise ValueError("reserve must be >= 0")
        self.limit = limit
        self.reserve = reserve
        self.window = window
        self.known = False  # an answer has come back: the probe phase is over
        self.remaining = 0
        self.window_id: float | None = None  # the server's reset stamp of the window we are in
        self.over: float | None = None  # windows stamped up to this are over (we moved on)
        self.reset_at = now  # monotonic time by which that window has surely ended
        self.inflight = 0
        self.closed_until = 0.0
        self.sent = 0

    def wait(self, now: float, floor: int | None = None) -> float | None:
        """0.0 if a call may go now, else the seconds until one may; None: wait for an answer.
        `floor`: the calls of the window this one leaves unused (default: the reserve)."""
        if now < self.closed_until:
            return self.closed_until - now
        if not self.known:
            # Before the first answer nothing is known of the window (another process may have
            # spent it): one call at a time.
            return 0.0 if self.inflight == 0 else None
        if now >= self.reset_at or self.remaining > (self.reserve if floor is None else floor):
            return 0.0
        return self.reset_at - now

    def take(self, now: float) -> None:
        """Count one call as sent (call only when wait(now) == 0.0)."""
        if self.known and now >= self.reset_at:
            # The old window is over. Assume a fresh one that started now: the latest start,
            # so the latest end; the first answer in it corrects both. Calls still in flight
            # may land in it.
            self.over = self.window_id
            self.remaining = self.limit - self.inflight
            self.reset_at = now + self.window
        self.remaining -= 1
        self.inflight += 1
        self.sent += 1

    def observe(
        self,
        now: float,
        remaining: int | None = None,
        reset: float | None = None,
        reset_in: float | None = None,
        limit: int | None = None,
    ) -> None:
        """An answer came back: one call less in flight; the server's counters if it sent them.

        `reset` is the server's stamp of its window (X-Ratelimit-Reset as sent), `reset_in` the
        seconds from `now` by which that window has surely ended.
        """
        self.inflight = max(0, self.inflight - 1)
        self.known = True
        if limit is not None and limit > 0:
            self.limit = limit
        if remaining is None:
            return
        # Calls still in flight may not be counted in `remaining` yet: count them as spent.
        est = remaining - self.inflight
        if reset is None or reset_in is None:
            self.remaining = min(self.remaining, est)
            return
        if self.over is not None and reset <= self.over:
            return  # an answer from a window that is over tells nothing about this one
        if self.window_id is None or reset > self.window_id:
            self.window_id = reset
            self.remaining = est
            self.reset_at = now + reset_in
        elif reset == self.window_id:
            self.remaining = min(self.remaining, est)
            self.reset_at = min(self.reset_at, now + reset_in)

    def release(self, now: float) -> None:
        """A call ended with no answer: no longer in flight, but it may have been counted."""
        self.inflight = max(0, self.inflight - 1)

    def close_for(self, seconds: float, now: float) -> None:
        """Send nothing for `seconds`, then one probe until an answer comes (after a 429 whose
        headers did not explain it: the server counts in a way we do not see)."""
        self.closed_until = max(self.closed_until, now + seconds)
        self.known = False


def reset_delay(
    reset: float, server_date: float | None, wall_now: float, *, slack: float = 1.0, cap: float = 65.0
) -> float:
    """Seconds from now by which a window stamped `reset` (epoch seconds) has surely ended.

    The stamp and the HTTP Date header are whole seconds, rounded down: the true reset lies
    below reset + 1, the server's now at or above its Date. With a Date the client's own clock
    does not matter; without one, `slack` covers the offset between the two clocks.
    """
    base = server_date if server_date is not None else wall_now
    delay = reset + 1.0 - base + slack
    return min(cap, max(0.0, delay))


class _Waiter:
    __slots__ = ("priority", "seq", "not_after", "fut", "tag")

    def __init__(self, priority: int, seq: int, not_after: float | None, fut: asyncio.Future[None],
                 tag: str = "") -> None:
        self.priority = priority
        self.seq = seq
        self.not_after = not_after
        self.fut = fut
        self.tag = tag

    def __lt__(self, other: _Waiter) -> bool:
        return (self.priority, self.seq) < (other.priority, other.seq)


class RateLimiter:
    """Async front of a WindowBudget. Waiters are served by priority, then arrival. Priority
    `urgent` (cancels) may spend the reserve down to `keep`, a lower one (the last resort: a
    cancel-all) all of it. A waiter with a deadline (`not_after`, on the `clock`) gets
    StaleRequest once no call can be had before it.
    Every acquire() must be followed by observe_headers() or release()."""

    def __init__(
        self,
        limit: int = 200,
        *,
        reserve: int = 4,
        keep: int = 2,
        urgent: int = 0,
        window: float = 60.0,
        reset_slack: float = 1.0,
        max_reset_wait: float = 65.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall = wall
        self.reset_slack = reset_slack
        self.max_reset_wait = max_reset_wait
        self.budget = WindowBudget(limit, reserve=reserve, window=window, now=clock())
        self.urgent = urgent
        self.keep = min(max(keep, 0), reserve)
        self._heap: list[_Waiter] = []
        self._seq = 0
        self._wake: asyncio.Event | None = None
        self._server: asyncio.Task[None] | None = None
        self._dates: tuple[str, float] = ("", 0.0)
        self.waited = 0.0  # total seconds callers spent queued, for diagnostics
        self.stale = 0  # callers failed because their deadline came first

    @property
    def queued(self) -> int:
        return sum(1 for w in self._heap if not w.fut.done())

    async def acquire(self, priority: int = 1, not_after: float | None = None, tag: str = "") -> None:
        """Wait for a call. `tag` names the kind of call, for withdraw()."""
        now = self._clock()
        if not_after is not None and now > not_after:
            self.stale += 1
            raise StaleRequest("not sent: its deadline passed before the call")
        if not self._heap and self.budget.wait(now, self._floor(priority)) == 0.0:
            self.budget.take(now)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._heap, _Waiter(priority, self._seq, not_after, fut, tag))
        self._kick()
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.budget.release(self._clock())  # granted, then cancelled before sending
            raise
        finally:
            self.waited += self._clock() - now

    def observe_headers(self, headers: Mapping[str, str] | None) -> None:
        """An answer arrived: read X-Ratelimit-Limit/Remaining/Reset (and Date) from it."""
        now = self._clock()
        if not headers:
            self.budget.observe(now)
        else:
            get = headers.get
            reset = _float(get("X-Ratelimit-Reset"))
            reset_in = None
            if reset is not None:
                reset_in = reset_delay(reset, self._date(get("Date")), self._wall(), slack=self.reset_slack,
                                       cap=self.max_reset_wait)
            self.budget.observe(now, _int(get("X-Ratelimit-Remaining")), reset, reset_in,
                                _int(get("X-Ratelimit-Limit")))
        self._poke()

    def release(self) -> None:
        """The call got no answer (timeout, connection error, cancelled)."""
        self.budget.release(self._clock())
        self._poke()

    def block_for(self, seconds: float) -> None:
        self.budget.close_for(seconds, self._clock())

    def withdraw(self, tag: str, reason: str) -> int:
        """Fail the queued callers of calls tagged `tag` with StaleRequest(reason): not sent.
        Returns how many."""
        n = 0
        for w in self._heap:
            if w.tag == tag and not w.fut.done():
                w.fut.set_exception(StaleRequest(reason))
                n += 1
        self._poke()
        return n

    def close(self) -> None:
        """Fail every queued caller with StaleRequest (nothing of theirs was sent) and stop serving."""
        for w in self._heap:
            if not w.fut.done():
                w.fut.set_exception(StaleRequest("not sent: the client was closed"))
        self._heap.clear()
        if self._server is not None and not self._server.done():
            self._server.cancel()
        self._server = None

    def free(self) -> bool:
        """Whether a call could go right now (nobody queued, budget open)."""
        return not self._heap and self.budget.wait(self._clock()) == 0.0

    def _date(self, text: str | None) -> float | None:
        if not text:
            return None
        last, value = self._dates
        if text == last:
            return value
        try:
            value = parsedate_to_datetime(text).timestamp()
        except (TypeError, ValueError, IndexError):
            return None
        self._dates = (text, value)
        return value

    def _floor(self, priority: int) -> int | None:
        """The calls of a window a caller of this priority leaves unused (None: the reserve)."""
        if priority > self.urgent:
            return None
        return self.keep if priority == self.urgent else 0

    def _poke(self) -> None:
        if self._heap and self._wake is not None:
            self._wake.set()

    def _kick(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._server is None or self._server.done():
            self._server = asyncio.get_running_loop().create_task(self._serve(), name="admf-ratelimit")

    def _fail(self, w: _Waiter) -> None:
        self.stale += 1
        w.fut.set_exception(StaleRequest("not sent: no call within the rate limit before its deadline"))

    async def _serve(self) -> None:
        heap = self._heap
        wake = self._wake
        assert wake is not None
        budget = self.budget
        while heap:
            now = self._clock()
            while heap and heap[0].fut.done():
                heapq.heappop(heap)
            if not heap:
                break
            wait = budget.wait(now, self._floor(heap[0].priority))
            if wait == 0.0:
                w = heapq.heappop(heap)
                if w.not_after is not None and now > w.not_after:
                    self._fail(w)
                    continue
                budget.take(now)
                w.fut.set_result(None)
                continue
            # No call before now + wait: whoever's deadline comes sooner cannot be served.
            horizon = now + (wait or 0.0)
            kept = []
            for w in heap:
                if w.fut.done():
                    continue
                if w.not_after is not None and w.not_after < horizon:
                    self._fail(w)
                else:
                    kept.append(w)
            heap[:] = kept
            heapq.heapify(heap)
            if not heap:
                break
            timeout: float | None = wait
            if wait is None:
                deadlines = [w.not_after for w in heap if w.not_after is not None]
                if deadlines:
                    timeout = max(0.0, min(deadlines) - now) + 1e-3
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)


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
    f = _float(v)
    return None if f is None else int(f)


def _float(v: object) -> float | None:
    if v is None:
        return None
    try:
        f = float(str(v))
    except ValueError:
        return None
    return f if math.isfinite(f) else None
