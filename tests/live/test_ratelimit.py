"""The rate-limit window arithmetic (hand-computed values and a fake clock), the server-window
property over simulated servers (hypothesis), priorities and deadlines of the async limiter,
and the backoff schedule."""

from __future__ import annotations

import asyncio
import heapq
import math
import random
from collections import Counter
from email.utils import formatdate

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admf.adapters.alpaca.errors import StaleRequest
from admf.adapters.alpaca.ratelimit import Backoff, RateLimiter, WindowBudget, reset_delay

WALL0 = 1_800_000_000.0  # wall clock = monotonic clock + WALL0 in the fake-clock tests


def _spend(b: WindowBudget, now: float, n: int = 10_000) -> int:
    sent = 0
    while sent < n and b.wait(now) == 0.0:
        b.take(now)
        sent += 1
    return sent


def test_one_probe_until_the_first_answer_then_the_server_remaining_minus_reserve():
    b = WindowBudget(200, reserve=4, now=0.0)
    assert b.wait(0.0) == 0.0
    b.take(0.0)
    assert b.wait(0.0) is None  # nothing known yet: the probe goes alone
    # the server says 150 left (another process spent 49); the window ends in 30 s
    b.observe(0.1, remaining=150, reset=1000.0, reset_in=30.0)
    assert _spend(b, 0.1) == 146  # 150 - reserve 4
    assert b.wait(0.1) == pytest.approx(30.0)


def test_calls_in_flight_count_as_spent_and_late_answers_never_raise_the_count():
    b = WindowBudget(100, reserve=0, now=0.0)
    b.take(0.0)
    b.observe(0.0, remaining=99, reset=60.0, reset_in=60.0)
    assert _spend(b, 1.0, 10) == 10  # 89 left, 10 in flight
    # an answer counted after 3 of ours: the server says 96; 9 are still in flight
    b.observe(1.1, remaining=96, reset=60.0, reset_in=58.9)
    assert b.remaining == 87  # min(89, 96 - 9)
    # an older answer (sent earlier, answered late) with a higher count changes nothing
    b.observe(1.2, remaining=98, reset=60.0, reset_in=58.8)
    assert b.remaining == 87 and b.inflight == 8


def test_a_new_window_starts_only_after_the_reset_and_counts_calls_in_flight():
    b = WindowBudget(50, reserve=2, window=60.0, now=0.0)
    b.take(0.0)
    b.observe(0.0, remaining=10, reset=100.0, reset_in=20.0)
    assert _spend(b, 0.0) == 8  # 10 - 2
    assert b.wait(19.9) == pytest.approx(0.1)
    # at the reset (slack included) a fresh window is assumed; the 8 unanswered calls may land in it
    assert b.wait(20.0) == 0.0
    assert _spend(b, 20.0) == 50 - 8 - 2
    # a late answer from the old window tells nothing about the new one
    b.observe(20.1, remaining=0, reset=100.0, reset_in=0.0)
    assert b.remaining == 2 and b.wait(20.1) == pytest.approx(59.9)
    # the first answer of the new window (stamp 160) sets its end and count
    b.observe(20.2, remaining=20, reset=160.0, reset_in=45.0)
    assert b.remaining == 20 - b.inflight
    assert b.reset_at == pytest.approx(65.2)


def test_an_answer_from_the_next_window_reopens_before_the_slack_runs_out():
    b = WindowBudget(20, reserve=1, now=0.0)
    b.take(0.0)
    b.observe(0.0, remaining=1, reset=60.0, reset_in=62.0)
    assert b.wait(1.0) == pytest.approx(61.0)
    b.take(60.5)  # (only to have a call in flight whose answer reports the new window)
    b.observe(61.0, remaining=19, reset=120.0, reset_in=61.0)
    assert b.wait(61.0) == 0.0 and b.remaining == 19


def test_reset_delay_rounds_up_and_prefers_the_server_date():
    # stamp 1000 means the window ends before 1001; the server's now is at or after its Date
    assert reset_delay(1000.0, 990.0, 0.0, slack=0.5) == pytest.approx(11.5)
    # no Date: the local wall clock, plus the slack for the offset between the clocks
    assert reset_delay(1000.0, None, 995.25, slack=1.0) == pytest.approx(6.75)
    assert reset_delay(1000.0, None, 2000.0) == 0.0
    assert reset_delay(1e12, None, 0.0, cap=65.0) == 65.0


def test_limiter_reads_alpaca_headers_and_the_date_header():
    clock = [1000.0]
    lim = RateLimiter(200, reserve=4, reset_slack=0.5, clock=lambda: clock[0], wall=lambda: clock[0] + 7.0)
    lim.budget.take(clock[0])
    # the server's clock is 30 s ahead of ours: the Date header, not our wall clock, times the reset
    server_now = 1_900_000_000
    lim.observe_headers({"X-Ratelimit-Limit": "180", "X-Ratelimit-Remaining": "0",
                         "X-Ratelimit-Reset": str(server_now + 7), "Date": formatdate(server_now, usegmt=True)})
    assert lim.budget.limit == 180
    assert lim.budget.wait(clock[0]) == pytest.approx(8.5)  # 7 + 1 (rounding) + 0.5
    lim.budget.take(clock[0] + 9)
    lim.observe_headers({})  # no headers: one call less in flight, nothing else
    assert lim.budget.inflight == 0


def test_close_for_blocks_even_with_calls_left():
    b = WindowBudget(200, now=0.0)
    b.take(0.0)
    b.observe(0.0, remaining=100, reset=60.0, reset_in=60.0)
    b.close_for(2.0, 0.0)
    assert b.wait(1.0) == pytest.approx(1.0)
    assert b.wait(2.0) == 0.0  # then one probe at a time until an answer
    b.take(2.0)
    assert b.wait(2.0) is None
    b.observe(2.1)
    assert b.wait(2.1) == 0.0 and b.remaining == 99


# -- the property: simulated fixed-window servers, random latencies, offsets, other users ----------


class _Server:
    """A fixed window per key, either aligned to the minute or started by the first call after
    the last one ended (as the emulator does); stamps and Date rounded down to whole seconds."""

    def __init__(self, limit: int, aligned: bool, offset: float, pre: int, pre_age: float, start: float) -> None:
        self.limit = limit
        self.aligned = aligned
        self.offset = offset
        self.window: float | None = None
        self.count = 0
        self.ours: Counter[float] = Counter()
        self.first: float | None = None
        server_start = start + offset
        if pre:
            self.window = math.floor(server_start / 60) * 60 if aligned else server_start - pre_age
            self.count = pre
            self.first = self.window

    def hit(self, wall: float) -> tuple[bool, dict[str, str]]:
        t = wall + self.offset
        if self.aligned:
            w = math.floor(t / 60) * 60
            if w != self.window:
                self.window, self.count = w, 0
        elif self.window is None or t - self.window >= 60:
            self.window, self.count = t, 0
        self.count += 1
        self.ours[self.window] += 1
        headers = {"X-Ratelimit-Limit": str(self.limit), "X-Ratelimit-Remaining": str(max(self.limit - self.count, 0)),
                   "X-Ratelimit-Reset": str(int(self.window + 60)), "Date": formatdate(int(t), usegmt=True)}
        return self.count <= self.limit, headers


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limit=st.integers(8, 250),
    reserve=st.integers(0, 5),
    aligned=st.booleans(),
    with_date=st.booleans(),
    offset=st.floats(-30.0, 30.0),
    pre_frac=st.floats(0.0, 1.0),
    pre_age=st.floats(0.0, 59.9),
    n=st.integers(1, 500),
    spread=st.floats(0.0, 150.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_server_never_counts_more_than_limit_minus_reserve_in_a_window(
    limit, reserve, aligned, with_date, offset, pre_frac, pre_age, n, spread, seed
):
    rng = random.Random(seed)
    slack = 1.0
    if not with_date:
        offset = max(-slack, min(slack, offset))  # without a Date header the slack covers the offset
    pre = int(pre_frac * (limit - reserve - 1))  # other users' calls already in the first window
    start = 1000.0
    server = _Server(limit, aligned, offset, pre, pre_age, start + WALL0)
    now = [start]
    lim = RateLimiter(limit, reserve=reserve, reset_slack=slack, clock=lambda: now[0], wall=lambda: now[0] + WALL0)
    budget = lim.budget
    events: list[tuple[float, int, str, object]] = []
    seq = 0

    def push(t: float, kind: str, data: object = None) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, data))

    for _ in range(n):
        push(start + rng.uniform(0.0, spread), "want")
    pending = 0
    answered = refused = 0
    tick_at = math.inf

    def send() -> None:
        nonlocal pending, tick_at
        t = now[0]
        while pending and budget.wait(t) == 0.0:
            budget.take(t)
            pending -= 1
            push(t + rng.uniform(0.0005, 1.5), "arrive")
        w = budget.wait(t)
        if pending and w is not None and w > 0 and t + w < tick_at:
            tick_at = t + w
            push(tick_at, "tick")

    steps = 0
    while events:
        steps += 1
        assert steps < 50 * n + 10_000, "no progress"
        t, _, kind, data = heapq.heappop(events)
        now[0] = t
        if kind == "want":
            pending += 1
        elif kind == "tick":
            if t >= tick_at:
                tick_at = math.inf
        elif kind == "arrive":
            ok, headers = server.hit(t + WALL0)
            if not with_date:
                del headers["Date"]
            refused += not ok
            push(t + rng.uniform(0.0005, 1.5), "answer", headers)
            continue
        elif kind == "answer":
            assert isinstance(data, dict)
            lim.observe_headers(data)
            answered += 1
        send()
    assert answered == n and pending == 0
    assert refused == 0
    for w, ours in server.ours.items():
        others = pre if w == server.first else 0
        assert ours + others <= limit - reserve, (w, ours, others)
    # and it keeps up: about one window per (limit - reserve) calls, plus the spread and latencies
    windows = (n + pre) / (limit - reserve) + 2
    assert now[0] - start <= spread + windows * (60 + 2 + 2 * slack + 3.0) + 5


# -- the async limiter: priorities and deadlines ------------------------------------------------


def _limiter_with(remaining: int, reset_in: float, reserve: int = 0) -> RateLimiter:
    loop = asyncio.get_running_loop()
    lim = RateLimiter(200, reserve=reserve, clock=loop.time)
    lim.budget.take(loop.time())
    lim.budget.observe(loop.time(), remaining=remaining, reset=1.0, reset_in=reset_in)
    return lim


async def test_cancels_overtake_queued_new_orders():
    lim = _limiter_with(remaining=0, reset_in=0.15)
    served: list[str] = []

    async def call(name: str, priority: int) -> None:
        await lim.acquire(priority)
        served.append(name)

    tasks = [asyncio.create_task(call(f"new{i}", 1)) for i in range(3)]
    await asyncio.sleep(0.02)
    tasks.append(asyncio.create_task(call("cancel", 0)))  # queued last, served first
    await asyncio.gather(*tasks)
    assert served == ["cancel", "new0", "new1", "new2"]


async def test_a_deadline_before_the_next_call_fails_at_once_without_waiting_for_the_reset():
    loop = asyncio.get_running_loop()
    lim = _limiter_with(remaining=0, reset_in=5.0)
    t0 = loop.time()
    with pytest.raises(StaleRequest):
        await lim.acquire(1, not_after=t0 + 1.0)
    assert loop.time() - t0 < 1.0  # known stale before its deadline: no call before the reset
    assert lim.stale == 1 and lim.budget.sent == 1
    with pytest.raises(StaleRequest):
        await lim.acquire(1, not_after=t0 - 1.0)  # already past


async def test_a_deadline_after_the_reset_is_served():
    loop = asyncio.get_running_loop()
    lim = _limiter_with(remaining=0, reset_in=0.1)
    await lim.acquire(1, not_after=loop.time() + 2.0)
    assert lim.budget.sent == 2 and lim.stale == 0


async def test_a_cancelled_waiter_gives_its_place_back():
    lim = _limiter_with(remaining=0, reset_in=0.1)
    t = asyncio.create_task(lim.acquire(1))
    await asyncio.sleep(0.01)
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    await lim.acquire(1)
    assert lim.budget.sent == 2  # the probe and this one; the cancelled waiter took nothing


async def test_close_fails_queued_callers_as_not_sent():
    lim = _limiter_with(remaining=0, reset_in=30.0)
    waiting = [asyncio.create_task(lim.acquire(p)) for p in (0, 1)]
    await asyncio.sleep(0.01)
    lim.close()
    for t in waiting:
        with pytest.raises(StaleRequest, match="closed"):
            await t
    assert lim.budget.sent == 1


async def test_the_reserve_is_kept_from_new_orders_for_cancels_and_its_last_calls_for_a_cancel_all():
    loop = asyncio.get_running_loop()
    lim = _limiter_with(remaining=4, reset_in=30.0, reserve=4)  # the window spent down to the reserve
    assert lim.keep == 2

    async def fails(priority: int) -> None:
        with pytest.raises(StaleRequest):
            await lim.acquire(priority, not_after=loop.time() + 1.0)

    await fails(1)  # a new order (or query) waits for the reset: the reserve is not for it
    await lim.acquire(0)
    await lim.acquire(0)  # two cancels: down to `keep`
    await fails(0)
    await lim.acquire(-1)
    await lim.acquire(-1)  # the last resort (a cancel-all) may spend the rest
    await fails(-1)
    assert lim.budget.remaining == 0 and lim.budget.sent == 5 and lim.stale == 3


def test_backoff_equal_jitter_bounds_and_cap():
    bo = Backoff(base=0.5, cap=8.0, rng=random.Random(7))
    assert [bo.ceiling(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    for n in range(8):
        for _ in range(200):
            d = bo.delay(n)
            c = bo.ceiling(n)
            assert c / 2 <= d <= c
    ds = [bo.delay(3) for _ in range(500)]
    assert max(ds) - min(ds) > 1.5  # jitter actually spreads the retries (range [2, 4])
    assert bo.ceiling(10_000) == 8.0
    with pytest.raises(ValueError):
        Backoff(base=2.0, cap=1.0)
