"""The broker contract, run against every adapter (alpaca on the emulator; paper on the emulator's
market data): submit, fill once, cancel, replace, duplicated reports, restart on the journal.
And the paper broker's own promise: the backtest's fills on live bars.

Both adapters are the one live core (execution.live_orders) on their own ExecutionClient, so the
faults of the push channel are made the same way for both: a StreamTap between the adapter and
the core holds, drops, duplicates or replays what the adapter reports."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runtime_support import FAST, bars_file, journal_rows, live_config_dict, scripted

from admf.config.loader import config_from_dict
from admf.core.enums import OrderStatus, OrderType, Side
from admf.core.events import OCO, Fill, OrderRequest
from admf.emulator.testing import start_emulator
from admf.execution.journal import Journal
from admf.execution.reports import UPDATE, StreamEvent
from admf.runtime.backtest import load_timeline, run_variant
from admf.runtime.factory import Endpoints, LiveRunner

pytestmark = pytest.mark.timeout(60)
ADAPTERS = ["alpaca", "paper"]


def _cfg(tmp: Path, broker: str, plan: str = "") -> Any:
    raw = live_config_dict(tmp, scripted(plan) if plan else scripted("1000=1"))
    raw["execution"]["broker"] = broker
    if broker == "paper":
        raw["broker"] = {"data": "alpaca"}
    return config_from_dict(raw, base_dir=str(tmp))


class Venue:
    def __init__(self, tmp: Path, broker: str, plan: str = "") -> None:
        self.emu = start_emulator(data=str(bars_file(tmp)), symbols=["SPY"], rate_limit=0)
        self.cfg = _cfg(tmp, broker, plan)
        self.tmp = tmp
        self.runner: LiveRunner | None = None

    def start(self, tap: StreamTap | None = None) -> Any:
        e = self.emu
        self.runner = LiveRunner(self.cfg, paper=True, endpoints=Endpoints(e.trading_url, e.data_url, e.stream_url,
                                                                            e.data_stream_url("iex")),
                                 journal_path=Path(self.cfg.live_trading.journal), settings=FAST, warmup=False)
        if tap is not None:
            tap.install(self.runner.broker)
        s = self.runner.start()
        s.run(duration=0.3)  # connections
        return s

    @property
    def s(self) -> Any:
        assert self.runner is not None and self.runner.session is not None
        return self.runner.session

    def bar(self, n: int = 1) -> None:
        for _ in range(n):
            want = self.s.stats.bars + 1
            self.emu.step(1)
            self.s.run(until=lambda w=want: self.s.stats.bars >= w, duration=5.0)
            assert self.s.stats.bars >= want

    def until(self, pred: Any, what: str) -> None:
        self.s.run(until=pred, duration=5.0)
        assert pred(), what

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None


class StreamTap:
    """Between an adapter's push channel and the core (on the loop thread): `hold` keeps every
    event that carries a fill and passes on only its order snapshot (the broker's "filled"
    before its execution); `drop` loses everything (a stream that is down)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.held: list[StreamEvent] = []
        self.seen: list[StreamEvent] = []
        self.core: Any = None
        self.held_back: list[tuple[str, bool, float]] = []  # (cid, terminal held back, filled) on delivery

    def install(self, core: Any) -> None:
        self.core = core
        deliver = core.on_event

        def tap(ev: StreamEvent) -> None:
            self.seen.append(ev)
            if self.mode == "drop":
                return
            if self.mode == "hold" and ev.fill is not None:
                self.held.append(ev)
                deliver(StreamEvent(UPDATE, ev.order, ev.ts))
                st = core.lookup(ev.order)
                if st is not None:
                    self.held_back.append((st.cid, st.pending is not None, st.filled_qty))
                return
            deliver(ev)

        core.on_event = tap

    async def release(self, times: int = 2) -> None:
        """Deliver what was held, `times` times (the late execution, then its duplicate)."""
        held, self.held = self.held, []
        for _ in range(times):
            for ev in held:
                type(self.core).on_event(self.core, ev)


@contextlib.contextmanager
def _bought(tmp: Path, broker: str, mode: str, cid: str) -> Iterator[tuple[Venue, StreamTap]]:
    """A session with a StreamTap of `mode` that bought 5 SPY (order `cid`) on its second bar."""
    v = Venue(tmp, broker)
    tap = StreamTap(mode)
    try:
        v.start(tap)
        v.bar(1)
        v.s.broker.submit(_req(cid), 0, 0, 500.0)
        v.bar(1)
        yield v, tap
    finally:
        v.stop()
        v.emu.stop()


@pytest.fixture(params=ADAPTERS)
def venue(request: Any, tmp_path: Path) -> Iterator[Venue]:
    v = Venue(tmp_path, request.param)
    yield v
    v.stop()
    v.emu.stop()


def _req(cid: str, side: Side = Side.BUY, qty: float = 5.0, **kw: Any) -> OrderRequest:
    return OrderRequest(cid, "scripted", "SPY", side, qty, **kw)


def _order(v: Venue, cid: str) -> Any:
    return v.s.broker.orders[cid]


def test_contract_submit_fills_once_and_journals_before_and_after(venue: Venue) -> None:
    s = venue.start()
    venue.bar(1)
    s.broker.submit(_req("c-buy"), 0, 0, 500.0)
    venue.bar(1)  # the paper broker fills at this bar's open; the emulator at once
    venue.until(lambda: _order(venue, "c-buy").settled, "the order settled")
    book = s.books["scripted"]
    assert book.position("SPY") == 5.0 and len(book.fills) == 1
    fill = book.fills[0]
    s.handle(fill)  # the same execution reported again (a late duplicate)
    assert book.position("SPY") == 5.0 and s.stats.duplicate_fills == 1
    path = Path(venue.cfg.live_trading.journal)
    venue.until(lambda: journal_rows(path)[0]["c-buy"][1] == "filled", "the journal's status")
    intents, fills = journal_rows(path)
    assert intents["c-buy"][0] is not None
    assert fills == [fill.exec_id]
    assert [r["event"] for r in s.audit.records] == ["order", "fill"]


def test_contract_cancel_and_replace_of_a_resting_limit_order(venue: Venue) -> None:
    s = venue.start()
    venue.bar(1)
    s.broker.submit(_req("c-lim", order_type=OrderType.LIMIT, limit_price=1.0), 0, 0, 500.0)
    venue.until(lambda: _order(venue, "c-lim").status.value == "accepted", "accepted")
    venue.runner.engine.replace("c-lim", limit_price=2.0)
    venue.s.run(duration=0.5)
    assert _order(venue, "c-lim").is_open
    assert s.broker.cancel("c-lim") is True
    venue.until(lambda: _order(venue, "c-lim").settled, "cancelled")
    assert _order(venue, "c-lim").status.value == "canceled"
    assert s.books["scripted"].position("SPY") == 0.0
    assert s.broker.cancel("c-lim") is False  # nothing left to cancel


def test_contract_restart_never_sends_an_earlier_sessions_unsent_intent(tmp_path: Path) -> None:
    for broker in ADAPTERS:
        work = tmp_path / broker
        work.mkdir()
        v = Venue(work, broker)
        try:
            with Journal(v.cfg.live_trading.journal) as j:
                for i in range(1, 31):
                    j.record_intent(_req(f"old-scripted-SPY-{i}", ts=i))
            s = v.start()
            v.s.run(duration=0.5)
            assert s.broker.open_orders() == []
            assert v.emu.state()["orders"] == 0, broker
            intents, _ = journal_rows(Path(v.cfg.live_trading.journal))
            assert {intents[f"old-scripted-SPY-{i}"][1] for i in range(1, 31)} == {"rejected"}, broker
            if broker == "alpaca":  # one listing, not a lookup per intent
                assert v.runner.broker.stats["rest_calls"] < 10
        finally:
            v.stop()
            v.emu.stop()


def test_paper_trades_live_bars_with_the_backtests_fills(tmp_path: Path) -> None:
    # bar start times (UTC), so both engines decide on the same bars; no direct flip (a live
    # flip's open leg waits for the close's fill, a backtest sends both at once)
    plan = "14:32=1,14:34=0,14:36=-1,14:38=0"
    v = Venue(tmp_path, "paper", plan)
    try:
        s = v.start()
        v.bar(10)
        time.sleep(0.1)
        s.run(duration=0.2)
        live = [(f.side.value, f.qty, f.price, f.ts) for f in s.books["scripted"].fills]
        assert v.emu.state()["orders"] == 0  # nothing reached the emulator's broker
    finally:
        v.stop()
        v.emu.stop()
    cfg = v.cfg.model_copy(update={"execution": v.cfg.execution.model_copy(update={"broker": "simulated",
                                                                                   "execution_mode": "sync"})})
    bt = run_variant(cfg, load_timeline(cfg, bars=12))
    ref = [(r.side, float(r.qty), float(r.price), int(r.time.value)) for r in bt.fills.itertuples()]
    assert len(ref) == 4
    assert live == ref


def test_a_fill_reported_twice_by_any_path_is_applied_once(venue: Venue) -> None:
    s = venue.start()
    f = Fill("x-1", "nobody-1", "scripted", "SPY", Side.BUY, 1.0, 100.0, 1)
    s.handle(f)
    s.handle(f)
    assert s.books["scripted"].position("SPY") == 1.0 and s.stats.fills == 1 and s.stats.duplicate_fills == 1


@pytest.mark.parametrize("broker", ADAPTERS)
def test_contract_a_terminal_status_before_its_fill_is_held_back_then_released(tmp_path: Path, broker: str) -> None:
    with _bought(tmp_path, broker, "hold", "c-held") as (v, tap):
        s = v.s
        v.until(lambda: bool(tap.held_back) or _order(v, "c-held").settled, "the broker's filled status arrived")
        if tap.held:  # (the adapter's own reconciliation may have found the execution first)
            assert tap.held_back[0] == ("c-held", True, 0.0)  # held back: no execution here yet
            s.run(duration=0.1)
            assert not _order(v, "c-held").settled and s.books["scripted"].position("SPY") == 0.0
            v.runner.engine.run(tap.release())  # the execution, late and twice
        v.until(lambda: _order(v, "c-held").settled, "released with its fill")
        book = s.books["scripted"]
        assert book.position("SPY") == 5.0 and len(book.fills) == 1
        assert _order(v, "c-held").status is OrderStatus.FILLED and _order(v, "c-held").anomalies == []
        assert [r["event"] for r in s.audit.records] == ["order", "fill"]
        _, fills = journal_rows(Path(v.cfg.live_trading.journal))
        assert fills == [book.fills[0].exec_id]


@pytest.mark.parametrize("broker", ADAPTERS)
def test_contract_late_and_duplicated_reports_change_nothing(tmp_path: Path, broker: str) -> None:
    with _bought(tmp_path, broker, "pass", "c-late") as (v, tap):
        s = v.s
        v.until(lambda: _order(v, "c-late").settled, "filled")
        reported = [ev for ev in tap.seen if ev.order.wire_client_id == "c-late"]
        assert any(ev.fill is not None for ev in reported)
        core = v.runner.broker
        dups = core.duplicate_fills

        async def replay() -> None:  # every report again, newest first: late "accepted" after "filled"
            for ev in reversed(reported):
                core.on_event(ev)

        v.runner.engine.run(replay())
        s.run(duration=0.3)
        assert core.duplicate_fills > dups
        assert _order(v, "c-late").status is OrderStatus.FILLED
        assert s.books["scripted"].position("SPY") == 5.0 and len(s.books["scripted"].fills) == 1
        assert s.stats.duplicate_fills == 0  # the core never put them on the inbox


@pytest.mark.parametrize("broker", ADAPTERS)
def test_contract_reports_lost_while_disconnected_are_reconciled_on_reconnect(tmp_path: Path, broker: str) -> None:
    with _bought(tmp_path, broker, "drop", "c-lost") as (v, tap):
        s = v.s
        v.until(lambda: any(ev.fill is not None for ev in tap.seen), "the broker filled it (unheard)")
        s.run(duration=0.1)
        core = v.runner.broker
        recovered = core.recovered_fills
        tap.mode = "pass"
        v.runner.engine.run(core.reconcile())  # what every (re)connect of the stream does
        v.until(lambda: _order(v, "c-lost").settled, "reconciled")
        assert core.recovered_fills == recovered + (1 if recovered == 0 else 0)
        assert s.books["scripted"].position("SPY") == 5.0 and len(s.books["scripted"].fills) == 1
        v.runner.engine.run(core.reconcile())  # idempotent
        s.run(duration=0.2)
        assert len(s.books["scripted"].fills) == 1


@pytest.mark.parametrize("broker", ADAPTERS)
def test_contract_an_oco_exit_is_one_order_and_its_siblings_cancel_is_not_its_own(tmp_path: Path,
                                                                                  broker: str) -> None:
    with _bought(tmp_path, broker, "pass", "c-entry") as (v, tap):
        s, core = v.s, v.runner.broker
        v.until(lambda: _order(v, "c-entry").settled, "the entry filled")
        p = s.prices["SPY"]

        def oco(cid: str, target: float, stop: float) -> OrderRequest:
            return _req(cid, Side.SELL, order_type=OrderType.LIMIT, limit_price=round(target, 2), order_class=OCO,
                        stop_loss=round(stop, 2), reason="take_profit")

        orders_before = v.emu.state()["orders"]
        s.broker.submit(oco("c-bad", p * 0.9, p * 1.1), 0, 0, 500.0)  # a sell's target below its stop
        v.until(lambda: _order(v, "c-bad").settled, "refused")
        (bad,) = [r for r in s.audit.records if r.get("id") == "c-bad" and r["event"] == "reject"]
        assert "take-profit" in bad["reason"] and v.emu.state()["orders"] == orders_before  # nothing sent
        s.broker.submit(oco("c-rest", p * 1.5, p * 0.5), 0, 0, 500.0)  # resting: both far from the market
        v.until(lambda: _order(v, "c-rest").status is OrderStatus.ACCEPTED, "accepted")
        assert [name for _, name in core.journal.leg_ids("c-rest")] == ["stop_loss"]
        assert s.broker.cancel("c-rest") is True
        v.until(lambda: _order(v, "c-rest").settled, "cancelled")
        assert _order(v, "c-rest").status is OrderStatus.CANCELED
        (leg,) = core.orders["c-rest"].legs
        assert core.orders["c-rest"].members[leg].status is OrderStatus.CANCELED  # both members ended
        # the stop-loss above the market: it fills (at once, or at the next bar's open), and the
        # broker's cancel of the take-profit that follows is not a cancel of the order
        s.broker.submit(oco("c-exit", p * 1.5, p * 1.1), 0, 0, 500.0)
        if broker == "paper":
            v.bar(1)
        v.until(lambda: _order(v, "c-exit").settled, "the exit filled")
        s.run(duration=0.3)
        assert _order(v, "c-exit").status is OrderStatus.FILLED
        book = s.books["scripted"]
        assert [(f.client_order_id, f.side, f.qty, f.reason) for f in book.fills[1:]] == [
            ("c-exit", Side.SELL, 5.0, "stop_loss")]
        assert book.position("SPY") == 0.0
        events = {cid: [r["event"] for r in s.audit.records if r.get("id") == cid] for cid in ("c-rest", "c-exit")}
        assert events == {"c-rest": ["order", "cancel"], "c-exit": ["order", "fill"]}
        intents, _ = journal_rows(Path(v.cfg.live_trading.journal))
        assert intents["c-exit"][1] == "filled" and intents["c-rest"][1] == "canceled"
