"""Token bucket arithmetic, header adaptation and the backoff schedule (hand-computed values)."""

from __future__ import annotations

import asyncio
import random

import pytest

from admf.adapters.alpaca.ratelimit import Backoff, RateLimiter, TokenBucket


def test_bucket_starts_full_then_refills_at_rate():
    b = TokenBucket(rate_per_min=60, capacity=3, now=0.0)  # 1 token per second
    assert [b.try_acquire(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.try_acquire(0.0) == pytest.approx(1.0)  # empty: next token in 1 s
    assert b.try_acquire(0.25) == pytest.approx(0.75)
    assert b.try_acquire(1.0) == 0.0
    # 10 s idle refills only up to capacity
    assert [b.try_acquire(11.0) for _ in range(4)][:3] == [0.0, 0.0, 0.0]
    assert b.tokens == pytest.approx(0.0)


def test_default_capacity_is_one_minute_of_calls():
    b = TokenBucket(200, now=0.0)
    assert sum(b.try_acquire(0.0) == 0.0 for _ in range(250)) == 200
    # 200/min = 3.333/s: the 201st call waits 0.3 s
    assert b.try_acquire(0.0) == pytest.approx(0.3)


def test_headers_lower_the_tokens_to_what_the_server_says_remain():
    b = TokenBucket(200, now=0.0)
    b.observe(remaining=5, reset_in=30.0, now=0.0)
    assert b.tokens == 5
    assert sum(b.try_acquire(0.0) == 0.0 for _ in range(10)) == 5
    b.observe(remaining=50, reset_in=30.0, now=0.0)  # never raises the local view
    assert b.tokens < 1


def test_zero_remaining_closes_the_bucket_until_reset():
    b = TokenBucket(200, now=0.0)
    b.observe(remaining=0, reset_in=12.0, now=100.0)
    assert b.try_acquire(100.0) == pytest.approx(12.0)
    assert b.try_acquire(111.0) == pytest.approx(1.0)
    # at the reset the bucket holds the 12 s of refill (40 tokens at 200/min)
    assert b.try_acquire(112.0) == 0.0
    assert b.tokens == pytest.approx(39.0)


def test_limiter_reads_alpaca_headers_with_epoch_reset():
    clock = [1000.0]
    wall = [1_700_000_000.0]
    lim = RateLimiter(200, clock=lambda: clock[0], wall=lambda: wall[0])
    lim.observe_headers(
        {"X-Ratelimit-Limit": "200", "X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": str(int(wall[0]) + 7)}
    )
    assert lim.bucket.try_acquire(clock[0]) == pytest.approx(7.0)
    lim.observe_headers({})  # no headers: nothing changes
    assert lim.bucket.closed_until == pytest.approx(1007.0)


async def test_limiter_queues_callers_in_order():
    lim = RateLimiter(600, capacity=1)  # 10/s, no burst
    order: list[int] = []

    async def call(i: int) -> None:
        await lim.acquire()
        order.append(i)

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.gather(*(call(i) for i in range(4)))
    elapsed = loop.time() - t0
    assert order == [0, 1, 2, 3]
    assert 0.25 <= elapsed < 1.0  # three waits of 0.1 s


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
