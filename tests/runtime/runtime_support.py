"""A live session against the emulator, stepped bar by bar, for end-to-end, parity and fault tests.

A module of its own (not conftest) so test files can import it by a name no other folder uses.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from admf.adapters.alpaca.settings import AlpacaSettings
from admf.config.loader import config_from_dict
from admf.data.loaders import save_bars
from admf.data.sample import generate_sample
from admf.emulator.testing import TEST_KEY, TEST_SECRET
from admf.execution.inbox import CommandFailed, ConnectionState, DataGap
from admf.runtime.factory import Endpoints, LiveRunner

FAST = AlpacaSettings(timeout=2.0, max_retries=3, backoff_base=0.02, backoff_cap=0.2, ws_backoff_base=0.02,
                      ws_backoff_cap=0.2, ws_conflict_delay=0.2, heartbeat=0.5, silence_timeout=1.0,
                      poll_interval=0.2, reconcile_slack=1.0, rate_limit_patience=10.0)
# Fault tests: every watchdog and wait of the adapter scaled down so a fault heals within about a second.
HEALING = msgspec.structs.replace(FAST, max_reset_wait=0.3, fill_grace=0.3, order_silence_timeout=1.0,
                                  handshake_timeout=2.0)
STRATEGY_FILE = Path(__file__).resolve().with_name("scripted_strategy.py")


def bars_file(tmp: Path, days: int = 1, seed: int = 11) -> Path:
    frame = generate_sample("SPY", "1m", start="2024-03-05", days=days, seed=seed)
    return save_bars(frame, tmp / "SPY_1m.csv")


def scripted(plan: str, shares: int = 10) -> dict[str, Any]:
    """The strategy entry of tests/runtime/scripted_strategy.py with a plan like "2=1,4=0"."""
    return {"scripted": {"plan": plan}, "sizing": {"type": "fixed_shares", "shares": shares}}


def live_config_dict(tmp: Path, strategy: dict[str, Any] | None = None, **live: Any) -> dict[str, Any]:
    entry = strategy or {"sma_crossover": {"fast": 3, "slow": 8}}
    raw: dict[str, Any] = {
        "name": "live-test", "data": "SPY_1m", "data_dir": str(tmp),
        "strategy": [{"sizing": {"type": "fixed_shares", "shares": 10}, **entry}],
        "execution": {"broker": "alpaca", "execution_mode": "async"},
        "live_trading": {"api_key": TEST_KEY, "secret_key": TEST_SECRET, "warmup_bars": 0,
                         "journal": str(tmp / "journal.sqlite"), **live},
        "output": {"dir": str(tmp / "runs")},
    }
    if "scripted" in entry:
        raw["strategy_files"] = [str(STRATEGY_FILE)]
    return raw


def live_config(tmp: Path, strategy: dict[str, Any] | None = None, **live: Any) -> Any:
    return config_from_dict(live_config_dict(tmp, strategy, **live), base_dir=str(tmp))


class Harness:
    """One emulator and one live runner; `play(n)` steps the emulator and waits for the session.

    `events` keeps the connection states, data gaps and failed commands the session handled;
    `posts` the client_order_id of every POST /v2/orders that reached the emulator's broker.
    """

    def __init__(self, emu: Any, cfg: Any, settings: AlpacaSettings = FAST, posts: list[str] | None = None) -> None:
        self.emu = emu
        self.cfg = cfg
        self.settings = settings
        self.runner: LiveRunner | None = None
        self.events: list[Any] = []
        self.posts: list[str] = posts if posts is not None else []

    def endpoints(self) -> Endpoints:
        e = self.emu
        return Endpoints(e.trading_url, e.data_url, e.stream_url, e.data_stream_url("iex"))

    @property
    def journal_path(self) -> Path:
        return Path(self.cfg.live_trading.journal)

    def start(self) -> Any:
        self.runner = LiveRunner(self.cfg, paper=True, endpoints=self.endpoints(), journal_path=self.journal_path,
                                 settings=self.settings, warmup=False)
        session = self.runner.start()
        handle = session.handle

        def spy(ev: Any) -> None:
            if type(ev) in (ConnectionState, DataGap, CommandFailed):
                self.events.append(ev)
            handle(ev)

        session.handle = spy  # the real handler still applies every event
        return session

    @property
    def session(self) -> Any:
        assert self.runner is not None and self.runner.session is not None
        return self.runner.session

    @property
    def broker(self) -> Any:
        """The AlpacaBroker adapter of the running session (its counters)."""
        assert self.runner is not None
        return self.runner.broker

    def settle(self, timeout: float = 5.0) -> None:
        """Apply events until no order of ours is open at the broker and the inbox is quiet."""
        s = self.session
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s.run(duration=0.05)
            if not any(slot.working for slot in s.build.all_slots) and not self.emu.state()["open_orders"]:
                s.run(duration=0.05)
                return
        raise AssertionError(f"session did not settle: {s.status_line()}")

    def play(self, n: int, timeout: float = 5.0) -> None:
        for _ in range(n):
            want = self.session.stats.bars + 1
            self.emu.step(1)
            self.session.run(until=lambda w=want: self.session.stats.bars >= w, duration=timeout)
            assert self.session.stats.bars >= want, "bar did not reach the session"
            self.settle(timeout)

    def run_until(self, pred: Any, timeout: float = 5.0, what: str = "condition") -> None:
        """Apply events until `pred()` is true; fail after `timeout` seconds."""
        self.session.run(until=pred, duration=timeout)
        assert pred(), f"{what} not reached within {timeout:g}s: {self.session.status_line()}"

    def connected(self) -> bool:
        """Both streams authenticated and listening / subscribed, one socket each at the emulator."""
        assert self.runner is not None
        conns = self.emu.state()["connections"]
        return (conns == {"trade": 1, "data": 1} and self.runner.broker.stream.connected
                and self.runner.market_data.stream.connected)

    def states(self, component: str = "trade_stream") -> list[str]:
        return [e.state for e in self.events if type(e) is ConnectionState and e.component == component]

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None


# -- what the broker holds, and the invariants every fault test ends with -------------------------

@dataclass
class BrokerRecord:
    orders: list[dict[str, Any]]  # id, client_order_id, status, side, qty, filled_qty (emulator order list)
    fills: list[dict[str, Any]]  # exec_id, order_id, side, qty, price (FILL activities)
    positions: dict[str, float]
    cash: float


def broker_record(emu: Any) -> BrokerRecord:
    def grab(srv: Any) -> BrokerRecord:
        b = srv.broker
        orders = [{"id": o.id, "client_order_id": o.client_order_id, "status": o.status, "side": o.side,
                   "qty": float(o.qty), "filled_qty": float(o.filled_qty)} for o in b.order_list]
        fills = [{"exec_id": a["id"].rpartition("::")[2], "order_id": a["order_id"], "side": a["side"],
                  "qty": float(a["qty"]), "price": float(a["price"])}
                 for a in b.activities if a.get("activity_type") == "FILL"]
        positions = {s: float(p.qty) for s, p in b.positions.items() if p.qty}
        return BrokerRecord(orders, fills, positions, float(b.cash))

    return emu.call(grab)


def journal_rows(path: Path) -> tuple[dict[str, tuple[str | None, str | None]], list[str]]:
    """({client_order_id: (broker_order_id, status)}, [fill exec ids]) read straight from the SQLite file."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        intents = {r[0]: (r[1], r[2]) for r in
                   db.execute("SELECT client_order_id, broker_order_id, status FROM intents")}
        fills = [r[0] for r in db.execute("SELECT exec_id FROM fills")]
    finally:
        db.close()
    return intents, fills


def assert_books_match_broker(positions: dict[str, float], cash: float, fills: list[Any], posts: list[str],
                              rec: BrokerRecord, journal: Path | None = None) -> None:
    """The three promises of a live session after any fault.

    (1) local positions and cash equal the broker's (cash to the cent);
    (2) no client_order_id reached the broker twice: one POST and one order per id, and the
        journal's acknowledged intents are exactly the broker's orders;
    (3) every fill applied exactly once: unique exec ids, the same set as the broker's FILL
        activities of our orders, same quantities and prices, summing to the positions.
    `fills` are (exec_id, client_order_id, symbol, signed_qty, price) tuples.
    """
    assert positions == pytest.approx(rec.positions), "positions differ from the broker's"
    assert cash == pytest.approx(rec.cash, abs=0.005), "cash differs from the broker's"

    cids = [o["client_order_id"] for o in rec.orders]
    assert len(cids) == len(set(cids)), f"the broker holds two orders with one client_order_id: {cids}"
    twice = {c: n for c, n in Counter(posts).items() if n > 1}
    assert not twice, f"client_order_id POSTed more than once: {twice}"
    assert sorted(posts) == sorted(cids), "every order POST made exactly one broker order"
    if journal is not None:
        intents, journal_fills = journal_rows(journal)
        sent = {cid: bid for cid, (bid, _) in intents.items() if bid is not None}
        assert sent == {o["client_order_id"]: o["id"] for o in rec.orders}, "journal intents vs broker orders"
        for o in rec.orders:
            if o["status"] in ("filled", "canceled", "expired", "rejected"):
                assert intents[o["client_order_id"]][1] == o["status"], f"journal status of {o['client_order_id']}"
        assert sorted(journal_fills) == sorted(f[0] for f in fills), "journal fills vs applied fills"

    ids = [f[0] for f in fills]
    assert len(ids) == len(set(ids)), "a fill was applied twice"
    by_id = {o["id"]: o for o in rec.orders}
    broker_fills = {f["exec_id"]: f for f in rec.fills if f["order_id"] in by_id}
    assert set(ids) == set(broker_fills), "applied fills vs the broker's FILL activities"
    total: dict[str, float] = {}
    for exec_id, cid, symbol, signed, price in fills:
        bf = broker_fills[exec_id]
        assert by_id[bf["order_id"]]["client_order_id"] == cid
        assert signed == pytest.approx(bf["qty"] if bf["side"] == "buy" else -bf["qty"])
        assert price == pytest.approx(bf["price"])
        total[symbol] = total.get(symbol, 0.0) + signed
    assert {s: q for s, q in total.items() if abs(q) > 1e-9} == pytest.approx(rec.positions)


def assert_consistent(h: Harness) -> BrokerRecord:
    """assert_books_match_broker for a running harness session; returns the broker's record."""
    s = h.session
    rec = broker_record(h.emu)
    fills = [(f.exec_id, f.client_order_id, f.symbol, f.signed_qty, f.price) for b in s.books.values()
             for f in b.fills]
    assert_books_match_broker(s.positions(), s.cash(), fills, h.posts, rec, h.journal_path)
    assert s.stats.fills == len(fills)
    return rec
