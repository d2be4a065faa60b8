"""A 24-symbol x 4-strategy burst of order submissions and cancels through AlpacaRest against the
emulator at its default 200 calls per minute: no 429 at all, cancels go out before the new
orders queued ahead of them, and submissions whose deadline passes in the queue never reach
the emulator."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from admf.adapters.alpaca.errors import StaleRequest
from admf.adapters.alpaca.rest import AlpacaRest
from admf.adapters.alpaca.settings import AlpacaSettings
from admf.emulator.testing import TEST_KEY, TEST_SECRET
from admf.emulator.testing import emulator_factory as emulator_factory  # noqa: F401 (a fixture)

SYMBOLS = ["SPY", "QQQ", "IWM", "DIA", "AAPL", "MSFT", "NVDA", "AMZN", "META", "GOOG", "TSLA", "AMD",
           "NFLX", "INTC", "CSCO", "ORCL", "PEP", "KO", "XOM", "CVX", "JPM", "BAC", "WMT", "HD"]
STRATEGIES = 4
PRESPENT = 100  # calls another client already made in the emulator's current window
WINDOW_AGE = 57.0  # seconds since that window began: it ends about 3 s into the test


def _body(cid: str, symbol: str) -> dict[str, Any]:
    # a buy limit far below the market: the order rests, so it can be cancelled
    return {"symbol": symbol, "qty": "1", "side": "buy", "type": "limit", "limit_price": "1.00",
            "time_in_force": "day", "client_order_id": cid}


def _tracer(sent: list[tuple[str, str]]) -> aiohttp.TraceConfig:
    """Records every request in the order it goes on the wire (method, path)."""
    tc = aiohttp.TraceConfig()

    async def on_start(session: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        sent.append((params.method, params.url.path))

    tc.on_request_start.append(on_start)
    return tc


def _age_window(srv: Any) -> None:
    lim = srv.trade_limiter
    lim.window = time.time() - WINDOW_AGE
    lim.count = PRESPENT


@pytest.mark.timeout(60)
async def test_burst_at_the_default_limit_gets_no_429_cancels_first_stale_dropped(emulator_factory):
    emu = emulator_factory(symbols=SYMBOLS, synthetic_days=2)
    assert emu.config.rate_limit == 200  # the emulator's default, as Alpaca's
    emu.call(_age_window)
    sent: list[tuple[str, str]] = []
    settings = AlpacaSettings(timeout=5.0)  # rate-limit settings as shipped
    async with AlpacaRest(TEST_KEY, TEST_SECRET, trading_url=emu.trading_url, settings=settings,
                          trace_configs=[_tracer(sent)]) as rest:
        await rest.get_account()  # the probe: the answer tells what is left of the window
        left = rest.limiter.budget.remaining
        assert left == 200 - PRESPENT - 1

        cids = [f"burst-{sym}-{k}" for k in range(STRATEGIES) for sym in SYMBOLS]
        subs = {cid: asyncio.create_task(rest.submit_order(_body(cid, cid.split("-")[1]))) for cid in cids}
        # the window runs dry: the rest of the submissions queue behind the limiter
        while rest.limiter.queued == 0:
            await asyncio.sleep(0.005)
        # the answers of what was sent come back (the window resets only seconds later)
        while sum(t.done() for t in subs.values()) < sum(m == "POST" for m, _ in sent):
            await asyncio.sleep(0.005)
        accepted = {cid: t.result() for cid, t in subs.items() if t.done()}
        queued = [cid for cid, t in subs.items() if not t.done()]
        assert len(accepted) == left - settings.rate_reserve  # the reserve stays unused
        assert queued

        # decisions that must not be sent late: the window resets in about 3 s, they may wait 0.5 s
        stale_ids = [f"stale-{i}" for i in range(6)]
        stale = [asyncio.create_task(rest.submit_order(_body(cid, "SPY"), not_after=time.monotonic() + 0.5))
                 for cid in stale_ids]
        # cancels asked after the queued submissions
        mark = len(sent)
        cancels = [asyncio.create_task(rest.cancel_order(o.id)) for o in accepted.values()]
        for t in stale:
            with pytest.raises(StaleRequest):
                await t
        await asyncio.gather(*cancels)
        rest_orders = await asyncio.gather(*(subs[c] for c in queued))
        await asyncio.gather(*(rest.cancel_order(o.id) for o in rest_orders))

        assert rest.rate_limited == 0  # not one 429
        assert rest.limiter.stale == len(stale_ids)
        # on the wire: every cancel asked while submissions were queued went before all of those
        after = sent[mark:]
        deletes = [i for i, (m, _) in enumerate(after) if m == "DELETE"]
        posts = [i for i, (m, _) in enumerate(after) if m == "POST"]
        assert len(posts) == len(queued)
        assert max(deletes[: len(accepted)]) < min(posts)
    # at the emulator: every burst order arrived once and is cancelled; no stale one ever arrived
    seen = emu.call(lambda srv: {cid: o.status for cid, o in srv.broker.by_cid.items()})
    assert sorted(seen) == sorted(cids)
    assert set(seen.values()) == {"canceled"}
    assert not set(stale_ids) & set(seen)
