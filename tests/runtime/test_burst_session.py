"""24 symbols x 4 strategies on 1-minute bars through a whole live session, at the emulator's
default rate limit (200 calls a minute, X-Ratelimit-* headers), with bars played so fast that
the strategies ask for many times what the limit allows, for longer than a rate window.

Bars -> 96 strategy slots -> the order manager -> the rate limiter -> the emulator, then a stop
with cancel_on_stop under the backlog. Everything asserted is counted at the emulator (its
request log), read from the journal and the run directory, or replayed from the broker's own
fills; no wall-clock time is asserted except the session's own stale_after bound on each POST.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from runtime_support import assert_books_match_broker, broker_record

from admf.adapters.alpaca.settings import AlpacaSettings
from admf.config.loader import config_from_dict
from admf.core.events import Bar
from admf.emulator.testing import TEST_KEY, TEST_SECRET, start_emulator
from admf.runtime.factory import Endpoints, LiveRunner
from admf.runtime.live_run import EXIT_OK, EquityHistory, StopRequested, drive

SYMBOLS = ["SPY", "QQQ", "IWM", "DIA", "AAPL", "MSFT", "NVDA", "AMZN", "META", "GOOG", "TSLA", "AMD",
           "NFLX", "INTC", "CSCO", "ORCL", "PEP", "KO", "XOM", "CVX", "JPM", "BAC", "WMT", "HD"]
# (book, switch every n bars, phase, shares): two books turn on every bar, in opposite senses,
# one every other bar, and one holds each decision for 20 bars, so its orders (a flip's close,
# then its open) wait behind the limiter with no newer decision to replace them; the sizes
# differ so a doubled order shows as a position beyond the size
BOOKS = [("a", 1, 0, 5), ("b", 1, 1, 7), ("c", 2, 0, 10), ("d", 20, 7, 13)]
SIZE = {name: float(shares) for name, _, _, shares in BOOKS}
SPEED = 60.0  # one 1-minute bar a second: up to ~100 orders a second asked, 200 a minute allowed
# the stop comes in the second rate window, at a tick that finds calls queued behind the rate
# limit and orders resting at the broker; the replay paused, they are open until the stop's
# cancel-all. DURATION only bounds the wait for such a tick.
STOP_AFTER = 61.0
DURATION = 85.0
STALE_AFTER = 15.0  # the session's bound on decision -> POST
# a market order is split this often; the rest fills on later bars at most FILL_CAP of each bar's
# volume (a share or so): orders rest, are cancelled by the next decision (a cancel may lose the
# race with a fill), and are open when the session stops
PARTIAL = 0.3
FILL_CAP = 2e-5
STRATEGY_FILE = Path(__file__).resolve().with_name("flip_strategy.py")

pytestmark = pytest.mark.timeout(150)


def _config(tmp: Path) -> Any:
    raw: dict[str, Any] = {
        "name": "burst", "data": [f"{s}_1m" for s in SYMBOLS], "data_dir": str(tmp),
        "strategy_files": [str(STRATEGY_FILE)],
        "strategy": [{"name": name, "flip": {"every": every, "phase": phase},
                      "sizing": {"type": "fixed_shares", "shares": shares}} for name, every, phase, shares in BOOKS],
        "portfolio": {"initial_capital": 1_000_000},
        "execution": {"broker": "alpaca", "execution_mode": "async"},
        "broker": {"stale_after": STALE_AFTER},
        "live_trading": {"api_key": TEST_KEY, "secret_key": TEST_SECRET, "warmup_bars": 0, "cancel_on_stop": True,
                         "journal": str(tmp / "journal.sqlite")},
        "output": {"dir": str(tmp / "runs")},
    }
    return config_from_dict(raw, base_dir=str(tmp))


def _intents(path: Path) -> dict[str, dict[str, Any]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT client_order_id, strategy_id, symbol, req_ts, broker_order_id, status FROM intents")
        return {r[0]: {"book": r[1], "symbol": r[2], "req_ts": r[3], "broker_id": r[4], "status": r[5]} for r in rows}
    finally:
        db.close()


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else 0.0


def test_a_24x4_burst_through_a_whole_session_gets_no_429_and_never_sends_late(tmp_path: Path) -> None:
    emu = start_emulator(symbols=SYMBOLS, synthetic_days=2, initial_cash="1000000", speed=SPEED,
                         partial_fill_prob=PARTIAL, fill_volume_cap=FILL_CAP)
    assert emu.config.rate_limit == 200  # the emulator's default, as Alpaca's
    cfg = _config(tmp_path)
    e = emu
    runner = LiveRunner(cfg, paper=True, endpoints=Endpoints(e.trading_url, e.data_url, e.stream_url,
                                                             e.data_stream_url("iex")),
                        journal_path=tmp_path / "journal.sqlite", settings=AlpacaSettings(), warmup=False)
    decided: dict[tuple[str, int], int] = {}  # (symbol, bar ts) -> wall time the session handled the bar
    try:
        wall0 = time.monotonic()
        session = runner.start()
        handle = session.handle

        def spy(ev: Any) -> None:
            if type(ev) is Bar:
                decided.setdefault((ev.symbol, ev.ts), time.time_ns())
            handle(ev)

        session.handle = spy
        started = time.monotonic() - wall0
        real_stop = runner.stop
        stop_took: list[float] = []
        stop_at: list[int] = []
        open_at_stop: list[int] = []

        def timed_stop() -> None:
            # the replay pauses: what rests at the broker now stays open unless the stop cancels it
            emu.set_speed(0)
            open_at_stop.append(emu.state()["open_orders"])
            stop_at.append(time.time_ns())
            t = time.monotonic()
            real_stop()
            stop_took.append(time.monotonic() - t)

        runner.stop = timed_stop  # type: ignore[method-assign]
        def on_tick() -> None:
            if time.monotonic() - wall0 < STOP_AFTER:
                return
            backlog = runner.broker.rest.limiter.queued > 0  # calls wait for the rate limit
            if backlog and emu.call(lambda srv: any(o.is_open for o in srv.broker.order_list)):
                emu.set_speed(0)
                raise StopRequested

        code, stopped_by, run_dir = drive(session, runner, cfg, time.time(), history=EquityHistory(),
                                          on_tick=on_tick, duration=DURATION)
        wall = time.monotonic() - wall0
        rec = broker_record(emu)
        log = emu.call(lambda srv: list(srv.requests.entries))
        state = emu.state()
        statuses = state["requests"]
    finally:
        runner.stop()
        emu.stop()

    # a clean stop: exit 0, run directory written, journal closed
    assert code == EXIT_OK and stopped_by == "stop", stopped_by
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["exit_code"] == 0
    assert runner.journal.closed
    assert runner.engine.leaked_tasks == []  # the stop ended every task itself, none was left running
    # cancel_on_stop under the backlog: the cancel-all went although the window was spent on orders
    cancel_all = [r for r in log if r.method == "DELETE" and r.path == "/v2/orders" and r.ns >= stop_at[0]]
    assert [r.status for r in cancel_all] == [207]
    assert open_at_stop[0] > 0 and state["open_orders"] == 0
    intents = _intents(tmp_path / "journal.sqlite")

    # the demand was several times the limit, and ran past one whole rate window
    bars = session.stats.bars // len(SYMBOLS)
    decisions = sum(len(slot.signals) for slot in session.build.all_slots)
    assert decisions / (wall / 60.0) > 3 * 200, f"demand too low: {decisions} decisions in {bars} bars"
    span = (log[-1].ns - log[0].ns) / 1e9
    assert span > 60.0

    # zero 429 at the emulator
    assert statuses.get("429", 0) == 0, statuses
    posts = [r for r in log if r.method == "POST" and r.path == "/v2/orders"]
    twice = {c: n for c, n in Counter(r.client_order_id for r in posts).items() if n > 1}
    assert not twice, f"client_order_id POSTed more than once: {twice}"

    # no POST later than stale_after after its decision (the bar the decision was made on)
    delays = []
    for r in posts:
        it = intents[r.client_order_id]
        t0 = decided[(it["symbol"], it["req_ts"])]
        delays.append((r.ns - t0) / 1e9)
    late = [d for d in delays if d > STALE_AFTER + 2.0]  # 2 s: a granted call on its way on a busy machine
    # an intent never sent was dropped (stale, or the stop), never left pending
    unsent = [c for c, it in intents.items() if it["broker_id"] is None]
    assert {intents[c]["status"] for c in unsent} <= {"rejected", "canceled"}

    # books equal the broker to the cent, every fill applied once, no order sent twice
    fills = [(f.exec_id, f.client_order_id, f.symbol, f.signed_qty, f.price) for b in session.books.values()
             for f in b.fills]
    assert_books_match_broker(session.positions(), session.cash(), fills, [r.client_order_id for r in posts], rec,
                              tmp_path / "journal.sqlite")

    # the exposure invariant, from the broker's fills in the order they happened
    book_of = {o["id"]: intents[o["client_order_id"]]["book"] for o in rec.orders}
    sym_of = {o["id"]: intents[o["client_order_id"]]["symbol"] for o in rec.orders}
    pos: dict[tuple[str, str], float] = defaultdict(float)
    peak: dict[str, float] = defaultdict(float)
    for f in rec.fills:
        key = (book_of[f["order_id"]], sym_of[f["order_id"]])
        pos[key] += f["qty"] if f["side"] == "buy" else -f["qty"]
        peak[key[0]] = max(peak[key[0]], abs(pos[key]) / SIZE[key[0]])
    # and each book holds what the broker filled for it
    for (book, symbol), qty in pos.items():
        assert session.books[book].position(symbol) == pytest.approx(qty), (book, symbol)

    report = (f"burst: wall {wall:.1f}s (start {started:.1f}s, stop {stop_took[0]:.1f}s with {open_at_stop[0]} "
              f"orders open), {bars} bars x {len(SYMBOLS)} symbols, {decisions} decisions, {len(intents)} intents, "
              f"{len(posts)} POSTs, {len(unsent)} intents never sent, requests {statuses}, "
              f"send delay p50 {_pct(delays, 0.5):.2f}s p99 {_pct(delays, 0.99):.2f}s max {max(delays):.2f}s, "
              f"max |position|/size {dict(peak)}")
    print(report)
    assert not late, f"{len(late)} POSTs later than stale_after ({STALE_AFTER:g}s) after the decision: {report}"
    assert max(peak.values()) <= 1.0 + 1e-9, f"a book went beyond its size: {report}"
    assert len(posts) > 150  # the session traded through the window, not just its first seconds
