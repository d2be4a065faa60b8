"""Pre-trade limits and the daily-loss kill switch: by hand, and in a live session on the emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from runtime_support import assert_consistent, scripted

from admf.risk.pretrade import NS_PER_MIN, PreTradeGuard, PreTradeLimits

T0 = 1_700_000_000 * 1_000_000_000


def test_order_notional_and_position_limits() -> None:
    g = PreTradeGuard(PreTradeLimits(max_order_notional=5_000, max_position=100))
    assert g.check(40, 100.0, 0, T0) is None  # 4,000 notional, position 40
    assert "max_order_notional" in g.check(60, 100.0, 0, T0)  # 6,000 > 5,000
    assert "max_position" in g.check(-101, 10.0, 0, T0)  # short 101 > 100
    assert g.check(-30, 10.0, 90, T0) is None  # reducing a position is always allowed
    assert "max_position" in g.check(20, 10.0, 90, T0)  # 110 > 100
    assert g.refused == 3


def test_orders_per_minute_is_a_rolling_window() -> None:
    g = PreTradeGuard(PreTradeLimits(max_orders_per_minute=2))
    assert g.check(1, 10.0, 0, T0) is None
    assert g.check(1, 10.0, 0, T0 + 10 * 10**9) is None
    assert "orders in a minute" in g.check(1, 10.0, 0, T0 + 30 * 10**9)
    # the first order leaves the window 60 s after it was sent
    assert g.check(1, 10.0, 0, T0 + NS_PER_MIN) is None


def test_kill_switch_trips_at_the_daily_loss_and_refuses_everything_after() -> None:
    g = PreTradeGuard(PreTradeLimits(daily_loss_limit=500))
    assert not g.mark(100_000.0, day=1)  # the day's start
    assert not g.mark(99_500.01, day=1)  # 499.99 down
    assert g.mark(99_500.0, day=1)  # 500 down: trips now
    assert not g.mark(99_000.0, day=1)  # already tripped
    assert "kill switch" in g.check(1, 1.0, 0, T0)
    # a new day does not reset a tripped switch
    g.mark(99_000.0, day=2)
    assert g.killed


def test_an_order_over_max_order_notional_never_reaches_the_broker(harness) -> None:
    h = harness(scripted("2=1"), max_order_notional=100.0)  # 10 shares of SPY are far more than $100
    session = h.start()
    h.play(3)
    assert h.posts == []  # nothing was sent
    assert len(session.broker.refused) == 1 and "max_order_notional" in session.broker.refused[0][1]
    assert not any(slot.working for slot in session.build.all_slots)
    assert h.emu.state()["orders"] == 0
    assert_consistent(h)


def test_daily_loss_kill_switch_cancels_flattens_and_stops_trading(harness) -> None:
    # long 10 at bar 2, then the strategy keeps asking to trade; a one-cent loss limit trips at once
    h = harness(scripted("2=1,6=-1,9=1,12=0"), daily_loss_limit=0.01, flatten_on_kill=True)
    session = h.start()
    bars = 0
    while not session.killed and bars < 40:
        h.play(1)
        bars += 1
    assert session.killed, "a long position should lose a cent within 40 minutes of sample bars"
    assert "daily loss" in session.guard.kill_reason
    posts_at_kill = len(h.posts)
    h.play(14)  # the plan's later signals are refused
    assert len(h.posts) == posts_at_kill
    assert session.positions() == {}  # flattened
    assert h.emu.state()["positions"] == {}
    assert_consistent(h)


def test_real_money_needs_the_explicit_confirmation(tmp_path: Path) -> None:
    cfg = Path(__file__).resolve().parents[2] / "config" / "bollinger" / "live.yaml"
    env = {"ALPACA_API_KEY": "PKNOTUSED", "ALPACA_API_SECRET": "SKNOTUSED", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "admf.cli.main", "live", str(cfg), "--live"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--i-understand-this-is-real" in proc.stderr and "Traceback" not in proc.stderr
    assert "SKNOTUSED" not in proc.stdout + proc.stderr
