"""Stop and restart: a multi-symbol book restored before its first bar, a restart on a journal
full of unsent intents, a fatal error mid-session, and the audit trail of a run directory."""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from runtime_support import FAST, bars_file, live_config, live_config_dict, scripted

from admf.config.loader import config_from_dict
from admf.core.enums import Side
from admf.core.events import Bar, Fill, OrderRequest
from admf.emulator.testing import TEST_SECRET, start_emulator
from admf.execution.inbox import Inbox
from admf.execution.journal import Journal
from admf.runtime.factory import Endpoints, LiveRunner
from admf.runtime.live import LiveSession

pytestmark = pytest.mark.timeout(60)
NS = 1_000_000_000
T0 = 1_709_649_000 * NS  # 2024-03-05 14:30 UTC


class Engine:
    """A stand-in for the AsyncExecutionEngine (unit tests): records the commands."""

    running = True

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def submit(self, req: OrderRequest) -> None:
        self.sent.append(req)

    def cancel(self, client_order_id: str) -> None:
        self.sent.append(("cancel", client_order_id))

    def cancel_all(self) -> None:
        self.sent.append("cancel_all")


def test_a_restored_multi_symbol_book_trades_before_every_symbol_has_had_a_bar(tmp_path: Path) -> None:
    """The book holds QQQ from an earlier session; the first live bar is SPY's and sizing reads
    the book's equity over every symbol (percent_equity): it must not fail for QQQ's price."""
    raw = live_config_dict(tmp_path, {"scripted": {"plan": "1=1"},
                                      "sizing": {"type": "percent_equity", "percent": 0.1}})
    raw["data"] = ["SPY_1m", "QQQ_1m"]
    cfg = config_from_dict(raw, base_dir=str(tmp_path))
    engine = Engine()
    s = LiveSession(cfg, ["SPY", "QQQ"], "1m", engine=engine, inbox=Inbox(), capital=100_000.0, id_tag="t-")
    book = next(iter(s.books))
    s.restore([Fill("x1", "old-1", book, "QQQ", Side.BUY, 20, 400.0, T0 - 60 * NS)])
    s.on_bar(Bar("SPY", T0, 500.0, 501.0, 499.0, 500.0, 1000.0))
    orders = [r for r in engine.sent if isinstance(r, OrderRequest)]
    assert [(r.symbol, r.side) for r in orders] == [("SPY", Side.BUY)]
    # 10% of the equity (cash 92,000 + QQQ marked at its lot price 8,000 = 100,000) at 500
    assert orders[0].qty == pytest.approx(20.0)
    assert s.equity() == pytest.approx(100_000.0)


def test_a_restart_on_hundreds_of_unsent_intents_looks_them_up_in_a_few_requests(tmp_path: Path) -> None:
    path = bars_file(tmp_path)
    emu = start_emulator(data=str(path), symbols=["SPY"], rate_limit=0)
    cfg = live_config(tmp_path, scripted("2=1"))
    journal = tmp_path / "journal.sqlite"
    with Journal(journal) as j:  # an earlier session decided 300 orders and sent none of them
        for n in range(300):
            j.record_intent(OrderRequest(f"old-scripted-SPY-{n}", "scripted", "SPY", Side.BUY, 1.0, ts=T0))
    e = emu
    runner = LiveRunner(cfg, paper=True, endpoints=Endpoints(e.trading_url, e.data_url, e.stream_url,
                                                             e.data_stream_url("iex")),
                        journal_path=journal, settings=FAST, warmup=False)
    try:
        runner.start()
        calls = runner.broker.stats["rest_calls"]
        assert calls < 20, f"{calls} REST calls to start on 300 unsent intents"
        runner.session.run(duration=0.3)
        assert runner.session.broker.open_orders() == []  # all resolved: the broker never had them
        assert emu.state()["orders"] == 0  # nothing was resent
    finally:
        runner.stop()
        emu.stop()
    db = sqlite3.connect(journal)
    try:
        rows = db.execute("SELECT count(*) FROM intents WHERE status='rejected'").fetchone()
    finally:
        db.close()
    assert rows[0] == 300


def _cli_args(emu: Any) -> argparse.Namespace:
    return argparse.Namespace(base_url=emu.trading_url, data_url=emu.data_url, stream_url=emu.stream_url,
                              data_stream_url=emu.data_stream_url("iex"), journal=None, duration=10.0,
                              max_bars=None, live=False, confirm_live=False)


def test_a_fatal_error_mid_session_still_writes_the_run_directory(tmp_path: Path, monkeypatch) -> None:
    from rich.console import Console

    from admf.cli.live import EXIT_ERROR, run_live

    path = bars_file(tmp_path)
    emu = start_emulator(data=str(path), symbols=["SPY"], rate_limit=0, speed=600.0)
    cfg = live_config(tmp_path, scripted("2=1"))
    real = LiveSession.on_bar

    def on_bar(self: LiveSession, bar: Bar) -> None:
        real(self, bar)
        if self.stats.bars >= 3:
            raise RuntimeError("a strategy bug")

    monkeypatch.setattr(LiveSession, "on_bar", on_bar)
    out = Console(file=open(tmp_path / "console.txt", "w"), width=200)  # noqa: SIM115
    try:
        code = run_live(cfg, _cli_args(emu), out, settings=FAST)
    finally:
        emu.stop()
        out.file.close()
    assert code == EXIT_ERROR
    text = (tmp_path / "console.txt").read_text()
    assert "a strategy bug" in text
    run = next((tmp_path / "runs").glob("live-test-live-*"))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["exit_code"] == EXIT_ERROR and "a strategy bug" in summary["stopped_by"]
    assert summary["bars"] == 3 and summary["positions"] == {"SPY": 10.0}
    audit = (run / "audit.log").read_text().splitlines()
    assert [line.split()[1] for line in audit] == ["order", "fill"]
    assert "side=buy" in audit[0] and "qty=10" in audit[0]
    everything = text + "".join(p.read_text() for p in run.iterdir() if p.suffix != ".parquet")
    assert TEST_SECRET not in everything and cfg.live_trading.require("api_key") not in everything
    # the journal was closed: a new connection sees every write and no WAL left behind
    assert not Path(str(cfg.live_trading.journal) + "-wal").exists() or \
        Path(str(cfg.live_trading.journal) + "-wal").stat().st_size == 0


@pytest.mark.parametrize("market_open", [True, False])
def test_no_bars_while_the_market_is_open_ends_the_session_with_a_clear_message(tmp_path: Path,
                                                                                market_open: bool) -> None:
    cfg = live_config(tmp_path, scripted("2=1"), data_timeout=0.3)
    s = LiveSession(cfg, ["SPY"], "1m", engine=Engine(), inbox=Inbox(), capital=100_000.0)
    s.market_open = lambda: market_open
    got = s.run(duration=1.5, tick=0.05)
    if market_open:
        assert got == "no-data"
        assert "no market data for 0.3 s while the market is open" in s.stalled
    else:  # nights, weekends, holidays: silence is normal
        assert got == "duration" and not s.stalled
