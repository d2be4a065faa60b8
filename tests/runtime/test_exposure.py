"""The exposure invariant on the whole live path (emulator over real sockets).

Each test makes a decision while an earlier order's outcome is not known yet (its fill late, its
cancel refused because it filled, bars replayed after a gap, requests queued behind 429s) and
then checks, from the broker's own FILL activities in time order, that the account never held
more than the strategy's size; plus the usual books == broker checks. On the code before the
order manager each of these reached twice the size.
"""

from __future__ import annotations

from typing import Any

import pytest
from runtime_support import HEALING, BrokerRecord, Harness, assert_consistent, broker_record, scripted

from admf.execution.inbox import CommandFailed, DataGap

pytestmark = pytest.mark.timeout(60)

# long at 2, flat at 3, long again at 4: three decisions in a row, each before the last one's
# outcome is known when updates are late
PLAN = "2=1,3=0,4=1"
SIZE = 10.0


def peak_position(rec: BrokerRecord) -> float:
    """The largest absolute position the account reached, replaying the broker's fills in order."""
    pos = peak = 0.0
    for f in rec.fills:
        pos += f["qty"] if f["side"] == "buy" else -f["qty"]
        peak = max(peak, abs(pos))
    return peak


def _step_quickly(h: Harness, n: int) -> None:
    """n bars, each handled by the session, without waiting for the orders they cause."""
    for _ in range(n):
        want = h.session.stats.bars + 1
        h.emu.step(1)
        h.run_until(lambda w=want: h.session.stats.bars >= w, what=f"bar {want}")


def _end(h: Harness, bars: int = 6) -> BrokerRecord:
    h.settle(10.0)
    h.play(bars - h.session.stats.bars)
    rec = assert_consistent(h)
    assert peak_position(rec) <= SIZE, f"the account reached {peak_position(rec):g} on a {SIZE:g}-share book"
    assert h.session.positions() == {"SPY": SIZE}  # the last decision (long) holds
    return rec


def test_late_fill_and_a_cancel_refused_because_it_filled_never_double_the_position(harness) -> None:
    h = harness(scripted(PLAN), settings=HEALING)
    h.start()
    h.play(1)
    h.emu.set_fault("delay_updates", seconds=0.6)  # under order_silence_timeout: late, not lost
    _step_quickly(h, 3)  # bars 2, 3, 4 while bar 2's fill is on its way
    h.session.run(duration=1.0)
    h.emu.clear_faults()
    failed = [e for e in h.events if type(e) is CommandFailed and e.command == "cancel"]
    assert failed, "the cancel of the filled order was expected to be refused"
    _end(h)


def test_bars_replayed_after_a_gap_decide_once_on_known_state(harness) -> None:
    h = harness(scripted(PLAN), settings=HEALING)
    h.start()
    h.play(1)
    h.emu.set_fault("drop_sockets", target="all")
    h.emu.set_fault("refuse_reconnects", seconds=0.6, target="all", drop=False)
    h.emu.step(3)  # bars 2, 3, 4 reach nobody; they come back at once over REST after the gap
    h.run_until(h.connected, timeout=8.0, what="both streams back")
    h.play(1)
    assert [e for e in h.events if type(e) is DataGap and e.backfilled >= 3]
    _end(h)


def test_a_rate_limit_backlog_never_doubles_the_position(harness) -> None:
    h = harness(scripted(PLAN), settings=HEALING)
    h.start()
    h.play(1)
    h.emu.set_fault("rate_limit_burst", seconds=1.2)  # every order request is refused with 429 for a while
    _step_quickly(h, 3)
    h.session.run(duration=1.5)
    assert h.broker.stats["rate_limited"] >= 1
    _end(h)


def test_a_fill_during_the_final_drain_does_not_crash_the_stop(harness) -> None:
    """A flip's close fills while the session stops: its open leg is not sent (the engine is
    stopping), the stop ends cleanly, the journal is closed and the books match the broker."""
    h = harness(scripted("2=1,4=-1"), settings=HEALING)
    h.start()
    h.play(3)
    h.emu.set_fault("delay_updates", seconds=0.5)
    h.emu.step(1)  # bar 4: sell 10 to close, the open leg waits for its fill
    h.run_until(lambda: len(h.posts) == 2, what="the close of the flip sent")
    runner = h.runner
    assert runner is not None
    session = h.session
    runner.stop()  # cancel_on_stop: cancel-all, reconcile (the fill comes now), drain
    h.runner = None
    assert runner.journal.closed
    rec = broker_record(h.emu)
    fills = [(f.exec_id, f.client_order_id, f.symbol, f.signed_qty, f.price) for b in session.books.values()
             for f in b.fills]
    assert len(fills) == 2 and session.positions() == {} == rec.positions
    assert any("session stopping" in why for _, why in session.broker.refused)  # the open leg, not sent
    assert len(h.posts) == 2


def _two_books(tmp: Any) -> dict[str, Any]:
    from runtime_support import live_config_dict

    raw = live_config_dict(tmp, scripted("2=1,4=0", shares=5))
    raw["strategy"] = [
        {"name": "a", **scripted("2=1,4=0", shares=5)},
        {"name": "b", **scripted("3=-1,4=0", shares=10)},
    ]
    return raw


def test_two_books_on_one_symbol_are_netted_without_refusals(harness, tmp_path) -> None:
    """Book a long 5, then book b short 10 on the same symbol: the account's position goes
    +5 -> -5, which a broker refuses as one order (403 insufficient qty); it is sent as two
    parts. Then both go flat on the same bar: one order at a time per symbol."""
    from admf.config.loader import config_from_dict

    h = harness()
    h.cfg = config_from_dict(_two_books(tmp_path), base_dir=str(tmp_path))
    s = h.start()
    h.play(5)
    assert not s.broker.refused
    assert not [e for e in h.events if type(e) is CommandFailed]
    rec = assert_consistent(h)
    assert [o["status"] for o in rec.orders] == ["filled"] * len(rec.orders)
    assert s.books["a"].positions() == {} and s.books["b"].positions() == {} and rec.positions == {}
    # b's short was sent as close-to-zero (5) then the rest (5)
    b_orders = [(o["side"], o["qty"]) for o in rec.orders if "-b-" in o["client_order_id"]]
    assert b_orders[:2] == [("sell", 5.0), ("sell", 5.0)]
    assert sum(f.qty for f in s.books["b"].fills if f.side.value == "sell") == 10


def test_a_stop_under_a_rate_limit_backlog_cancels_and_sends_nothing_after(harness) -> None:
    """An order queued behind 429s when the session stops (cancel_on_stop): it is dropped, not
    sent after the stop's cancel-all; the account ends with nothing open and nothing held."""
    h = harness(scripted("2=1"), settings=HEALING)
    h.start()
    h.play(1)
    h.emu.set_fault("rate_limit_burst", seconds=1.0)
    _step_quickly(h, 1)  # bar 2: buy 10, queued behind the 429s
    h.session.run(duration=0.1)
    assert h.posts == []
    runner = h.runner
    assert runner is not None
    runner.stop()
    h.runner = None
    assert runner.journal.closed
    state = h.emu.state()
    assert h.posts == [] and state["open_orders"] == 0 and state["positions"] == {}
