"""The live process killed with SIGKILL while an order is in flight, then started again on the
same journal: the second process must end with the broker's positions and cash, no order sent
twice across the two processes, and every fill applied once.

The emulator runs in the test process (manual stepping); the live sessions run in child
processes (tests/runtime/live_child.py), each building a LiveRunner as `admf live` does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd
import pytest
import yaml
from runtime_support import HEALING, assert_books_match_broker, bars_file, broker_record, journal_rows, live_config_dict

from admf.emulator.testing import start_emulator

pytestmark = [pytest.mark.timeout(90), pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")]

CHILD = Path(__file__).resolve().with_name("live_child.py")
# Bar start times in UTC (the emulator has played 14:30): long at 14:32, flat at 14:35 (the order
# in flight at the kill), short at 14:37, flat at 14:40. Times, not counts, so the plan means the
# same thing to both processes.
PLAN = "14:32=1,14:35=0,14:37=-1,14:40=0"


def _wait(pred: Callable[[], Any], timeout: float, what: str, child: Child | None = None) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        if child is not None and child.proc.poll() is not None:
            raise AssertionError(f"child exited with {child.proc.returncode} waiting for {what}:\n{child.log()}")
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}" + (f":\n{child.log()}" if child else ""))


class Child:
    """One live process."""

    def __init__(self, spec: Path, work: Path, n: int) -> None:
        self.work = work
        self.log_path = work / f"child-{n}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, str(CHILD), str(spec)], stdout=log,
                                         stderr=subprocess.STDOUT, cwd=work)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def progress(self) -> dict[str, int] | None:
        p = self.work / f"progress-{self.proc.pid}.json"
        return json.loads(p.read_text()) if p.exists() else None

    def bars(self) -> int:
        p = self.progress()
        return -1 if p is None else p["bars"]

    def output(self) -> dict[str, Any]:
        return json.loads((self.work / f"out-{self.proc.pid}.json").read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def _step(emu: Any, child: Child) -> None:
    """Play one bar and wait until the child has applied it."""
    want = child.bars() + 1
    emu.step(1)
    _wait(lambda: child.bars() >= want, 8.0, f"the child's bar {want}", child)


def _ready(emu: Any, child: Child) -> None:
    """The child has started and both its streams are listening / subscribed."""

    def up() -> bool:
        p = child.progress()
        c = {} if p is None else p["connections"]
        return (c.get("trade_stream") == "connected" and c.get("market_data") == "connected"
                and emu.state()["connections"] == {"trade": 1, "data": 1})

    _wait(up, 20.0, "the child's two streams", child)


def test_sigkill_with_an_order_in_flight_then_restart_on_the_same_journal(tmp_path: Path, post_log: list[str]) -> None:
    emu = start_emulator(data=str(bars_file(tmp_path)), symbols=["SPY"], rate_limit=0)
    journal = tmp_path / "journal.sqlite"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({
        "config": live_config_dict(tmp_path, {"scripted": {"plan": PLAN}}), "base_dir": str(tmp_path),
        "urls": emu.urls(), "journal": str(journal), "settings": msgspec.structs.asdict(HEALING),
        "work": str(tmp_path), "limit": 60.0,
    }))
    children: list[Child] = []
    try:
        first = Child(spec, tmp_path, 1)
        children.append(first)
        _ready(emu, first)
        for _ in range(2):  # 14:31, 14:32: bought, and the fill journaled
            _step(emu, first)
        _wait(lambda: len(journal_rows(journal)[1]) == 1, 5.0, "the buy's fill in the journal", first)
        _step(emu, first)
        _step(emu, first)
        # 14:35 sells: the broker carries the order out, its reply never comes, no update is sent
        emu.set_fault("order_errors", mode="timeout", timeout=4.0, count=1, actions=["submit"])
        emu.set_fault("drop_updates")
        emu.step(1)
        _wait(lambda: len(post_log) == 2 and emu.state()["positions"] == {}, 8.0, "the sell at the broker", first)
        first.kill()
        assert first.proc.returncode == -signal.SIGKILL
        intents, fills = journal_rows(journal)
        assert len(intents) == 2 and len(fills) == 1
        assert sorted(bid is None for bid, _ in intents.values()) == [False, True]  # the sell: no broker id yet
        emu.clear_faults()

        second = Child(spec, tmp_path, 2)
        children.append(second)
        _ready(emu, second)
        for _ in range(6):  # 14:36 .. 14:41: short at 14:37, flat at 14:40
            _step(emu, second)
        (tmp_path / "stop").touch()
        second.proc.wait(20)
        assert second.proc.returncode == 0, second.log()
        out = second.output()
    finally:
        for c in children:
            c.kill()
        rec = broker_record(emu)
        emu.stop()

    assert len(rec.orders) == 4 and all(o["status"] == "filled" for o in rec.orders)
    tags = {o["client_order_id"].split("-", 1)[0] for o in rec.orders}
    assert len(tags) == 2  # each process names its orders with its own tag
    fills = [(f["exec_id"], f["client_order_id"], f["symbol"], f["signed_qty"], f["price"]) for f in out["fills"]]
    assert_books_match_broker(out["positions"], out["cash"], fills, post_log, rec, journal)
    assert out["positions"] == {} and len(fills) == 4
    assert out["broker"]["recovered_fills"] == 1  # the sell's fill, found over REST after the restart


def _admf_live(work: Path, config: Path, emu: Any, journal: Path, max_bars: int, n: int) -> subprocess.Popen:
    u = emu.urls()
    log = open(work / f"admf-live-{n}.log", "wb")  # noqa: SIM115 (kept open by the child)
    return subprocess.Popen(
        [sys.executable, "-m", "admf.cli.main", "live", str(config), "--base-url", u["trading_url"],
         "--data-url", u["data_url"], "--stream-url", u["stream_url"], "--data-stream-url", u["data_stream_url"],
         "--journal", str(journal), "--max-bars", str(max_bars)],
        stdout=log, stderr=subprocess.STDOUT, cwd=work)


def test_admf_live_killed_after_a_fill_and_started_again_ends_with_the_broker_account(
        tmp_path: Path, post_log: list[str]) -> None:
    """The real command line (default adapter settings): SIGKILL once the first fill is journaled,
    then `admf live` again on the same journal; its run directory must match the broker."""
    emu = start_emulator(data=str(bars_file(tmp_path)), symbols=["SPY"], rate_limit=0)
    journal = tmp_path / "journal.sqlite"
    config = tmp_path / "live.yaml"
    config.write_text(yaml.safe_dump(live_config_dict(tmp_path, {"scripted": {"plan": PLAN}})))
    procs: list[subprocess.Popen] = []

    def log(n: int) -> str:
        return (tmp_path / f"admf-live-{n}.log").read_text(errors="replace")[-4000:]

    def streams_up() -> bool:
        return emu.state()["connections"] == {"trade": 1, "data": 1}

    try:
        first = _admf_live(tmp_path, config, emu, journal, 100, 1)
        procs.append(first)
        _wait(streams_up, 20.0, "the first process's streams")
        time.sleep(0.3)  # subscribed (a bar lost before that is backfilled with the next one anyway)
        filled = lambda: journal.exists() and len(journal_rows(journal)[1]) == 1  # noqa: E731
        for _ in range(6):  # 14:31, 14:32 (buy) ...
            emu.step(1)
            try:
                _wait(filled, 0.5, "the buy's fill in the journal")
                break
            except AssertionError:
                continue
        assert filled(), log(1)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        _wait(lambda: emu.state()["connections"] == {"trade": 0, "data": 0}, 5.0, "the dead process's sockets")
        played = emu.state()["bars_played"]

        second = _admf_live(tmp_path, config, emu, journal, 9, 2)
        procs.append(second)
        _wait(streams_up, 20.0, "the second process's streams")
        time.sleep(0.3)
        for _ in range(20):  # until it has seen 9 bars (14:35 flat, 14:37 short, 14:40 flat among them)
            if second.poll() is not None:
                break
            emu.step(1)
            time.sleep(0.2)
        second.wait(20)
        assert second.returncode == 0, log(2)
        assert emu.state()["bars_played"] - played >= 9
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        rec = broker_record(emu)
        emu.stop()

    (run,) = [d for d in (tmp_path / "runs").iterdir() if re.match(r"live-test-live-", d.name)]
    summary = json.loads((run / "summary.json").read_text())
    frame = pd.read_csv(run / "fills.csv")
    fills = [(r.exec_id, r.client_order_id, r.symbol, r.qty if r.side == "buy" else -r.qty, r.price)
             for r in frame.itertuples()]
    assert len(rec.orders) == 4 and all(o["status"] == "filled" for o in rec.orders)
    assert_books_match_broker(summary["positions"], summary["cash"], fills, post_log, rec, journal)
    assert summary["positions"] == {} and len(fills) == 4
