"""The notebook API: admf.demo() / admf.live() handles on a thread of their own, against the emulator."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from runtime_support import broker_record, live_config

import admf
from admf.core.errors import UserError
from admf.emulator.testing import start_emulator
from admf.runtime.handle import LiveHandle


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t is not threading.main_thread()}


def test_live_handle_runs_bars_books_match_broker_and_stop_leaves_no_thread(tmp_path: Path) -> None:
    before = _threads()
    emu = start_emulator(symbols=["SPY"], speed=2400, rate_limit=0)  # a synthetic walk, replayed fast
    try:
        cfg = live_config(tmp_path, {"sma_crossover": {"fast": 2, "slow": 4}})
        h = admf.live(cfg, base_url=emu.trading_url, data_url=emu.data_url, stream_url=emu.stream_url,
                      data_stream_url=emu.data_stream_url("iex"))
        assert isinstance(h, LiveHandle) and h.running  # live() returned while the session trades
        assert h.wait(bars=30, timeout=60)
        st = h.status
        assert {"equity", "cash", "positions", "orders", "fills", "connections", "bars"} <= set(st)
        out = h.stop()
        assert not h.running and h.stopped_by == "stop"
        s = h.session
        assert s is not None and s.stats.bars >= 30 and s.stats.fills > 0
        rec = broker_record(emu)
        assert s.positions() == pytest.approx(rec.positions)
        assert s.cash() == pytest.approx(rec.cash, abs=0.005)
        # the books' fills, summed here, are the broker's positions
        total: dict[str, float] = {}
        for b in h.books.values():
            for f in b.fills:
                total[f.symbol] = total.get(f.symbol, 0.0) + f.signed_qty
        assert {k: v for k, v in total.items() if abs(v) > 1e-9} == pytest.approx(rec.positions)
        assert out is not None and (out / "summary.json").is_file() and (out / "metrics.json").is_file()
        summary = json.loads((out / "summary.json").read_text())
        assert summary["stopped_by"] == "stop" and summary["bars"] == s.stats.bars
        assert h.stop() == out  # a second stop is the same run directory
    finally:
        emu.stop()
    assert _threads() <= before, f"threads left behind: {_threads() - before}"


def test_handle_never_touches_the_callers_event_loop(tmp_path: Path) -> None:
    async def cell() -> tuple[LiveHandle, bool]:
        # a running loop on this thread, as in a notebook: start and stop return at once
        with admf.demo(speed=2400, out=tmp_path / "runs") as h:
            got = h.wait(bars=3, timeout=60)
        return h, got

    h, got = asyncio.run(cell())
    assert got and not h.running and h.run_dir is not None


def test_demo_handle_removes_its_temp_folder_and_stops_the_emulator(tmp_path: Path) -> None:
    h = admf.demo(speed=2400, out=tmp_path / "runs", start=False)
    assert not h.running and h.status == {}
    journal = Path(h.cfg.live_trading.journal or "")
    h.start()
    try:
        assert h.wait(bars=5, timeout=60)
        assert journal.is_file()
    finally:
        h.stop()
    assert not journal.parent.exists() and h.emulator._thread is None  # stopped
    assert json.loads((h.run_dir / "summary.json").read_text())["positions"] == pytest.approx(h.session.positions())


def test_live_with_an_unknown_override_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no config section 'nonsense'"):
        admf.live({"name": "x", "data": "SPY_1m", "strategy": [{"sma_crossover": {"fast": 2, "slow": 5}}]},
                  nonsense={"a": 1})


def test_live_on_the_simulated_broker_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="admf.live needs a live broker"):
        admf.live({"name": "x", "data": "SPY_1m", "strategy": [{"sma_crossover": {"fast": 2, "slow": 5}}]})
