"""Fault injection on the whole live path: emulator faults while a LiveSession trades a scripted plan.

Each test breaks one thing at the moment it matters (an order is about to be sent or filled),
plays on until the session has recovered, and ends with the same three checks
(assert_consistent): local positions and cash equal the broker's, no client_order_id reached the
broker twice, and every fill was applied exactly once. Each also checks that the fault really
happened (a disconnect, a recovered fill, a consumed 5xx, a counted duplicate), so a fault
that silently did nothing cannot pass.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import msgspec
import pytest
from runtime_support import HEALING, BrokerRecord, Harness, assert_consistent, scripted

from admf.execution.inbox import CommandFailed, DataGap

pytestmark = pytest.mark.timeout(60)

# Long at bar 2, flat at 4, short at 6, a flip to long at 8 (close, then open), flat at 10.
PLAN = "2=1,4=0,6=-1,8=1,10=0"
BARS = 11
ORDERS = 6
# Reconnects wait 0.25-0.5 s, so an order sent right after a drop fills while the socket is down.
SLOW_RECONNECT = msgspec.structs.replace(HEALING, ws_backoff_base=0.5, ws_backoff_cap=1.0)


def _finish(h: Harness) -> BrokerRecord:
    """Play the rest of the plan, then the invariants; every planned order was filled."""
    h.play(BARS - h.session.stats.bars)
    rec = assert_consistent(h)
    assert [o["status"] for o in rec.orders] == ["filled"] * ORDERS
    assert rec.positions == {}
    assert not [e for e in h.events if type(e) is CommandFailed]
    return rec


def test_trade_socket_dropped_fills_while_disconnected_are_recovered_once(harness) -> None:
    h = harness(scripted(PLAN), settings=SLOW_RECONNECT)
    h.start()
    h.play(1)
    for order_bar in (2, 8):  # a plain order, and the flip whose open waits for the close's fill
        h.play(order_bar - 1 - h.session.stats.bars)
        h.emu.set_fault("drop_sockets", target="trade")  # aborted, no close frame
        h.play(1)
        h.run_until(h.connected, what="trade stream back")
    assert h.broker.stream.disconnects >= 2
    assert h.broker.stats["recovered_fills"] >= 3  # bar 2's fill and the flip's two, all while down
    _finish(h)


def test_all_sockets_dropped_the_missed_bar_is_backfilled_and_traded_once(harness) -> None:
    h = harness(scripted(PLAN), settings=SLOW_RECONNECT)
    h.start()
    h.play(1)
    h.emu.set_fault("drop_sockets", target="all")
    h.emu.step(1)  # bar 2 (the order bar) is streamed to nobody
    h.run_until(h.connected, what="both streams back")
    h.play(1)  # bar 3 reveals the gap: bar 2 is backfilled over REST and traded late, once
    assert h.session.stats.bars == 3
    gaps = [e for e in h.events if type(e) is DataGap]
    assert len(gaps) == 1 and gaps[0].missing == 1 and gaps[0].backfilled == 1
    assert len(h.posts) == 1
    _finish(h)


def test_silent_trade_stream_is_detected_and_the_fill_recovered(harness) -> None:
    h = harness(scripted(PLAN), settings=HEALING)
    h.start()
    h.play(1)
    connects = h.broker.stream.connects
    # connected, pings answered, no trade update: the fill of bar 2's order is never sent
    h.emu.set_fault("silence", target="trade", seconds=1.5)
    h.play(1, timeout=6.0)
    assert h.broker.stream.connects > connects  # the watchdog (order_silence_timeout) reconnected
    assert h.broker.stats["recovered_fills"] == 1
    _finish(h)


def test_silent_data_stream_the_missed_bar_is_backfilled(harness) -> None:
    h = harness(scripted(PLAN), settings=HEALING)
    h.start()
    h.play(1)
    h.emu.set_fault("silence", target="data", seconds=0.3)
    h.emu.step(1)  # bar 2 swallowed by the silent socket
    h.session.run(duration=0.4)
    assert h.session.stats.bars == 1
    h.play(1)
    gaps = [e for e in h.events if type(e) is DataGap]
    assert len(gaps) == 1 and gaps[0].backfilled == 1
    _finish(h)


def test_trade_stream_reconnect_refused_with_429_backs_off_and_recovers(harness) -> None:
    h = harness(scripted(PLAN), settings=HEALING)
    h.start()
    h.play(1)
    window = 1.5
    h.emu.set_fault("refuse_reconnects", seconds=window, target="trade", trade_code=429, drop=True)
    h.play(1)  # bar 2's order fills while every reconnect is refused; REST polling finds the fill
    assert h.broker.stats["recovered_fills"] == 1
    h.run_until(h.connected, timeout=window + 3, what="trade stream back")
    # 429 on the upgrade is a connection-limit answer: retries wait at least ws_conflict_delay
    attempts = h.states("trade_stream").count("disconnected")
    assert 2 <= attempts <= window / HEALING.ws_conflict_delay + 3
    _finish(h)


def test_data_stream_reconnect_refused_with_406_recovers_the_bars(harness) -> None:
    h = harness(scripted(PLAN), settings=HEALING)
    h.start()
    h.play(1)
    h.emu.set_fault("refuse_reconnects", seconds=0.8, target="data", data_code=406, drop=True)
    h.emu.step(1)  # bar 2 while the data socket is refused
    h.run_until(h.connected, timeout=4.0, what="data stream back")
    assert "disconnected" in h.states("market_data")
    h.play(1)
    assert h.session.stats.bars == 3 and h.session.stats.gaps == 1
    _finish(h)


def test_duplicated_and_delayed_trade_updates_are_applied_once(harness) -> None:
    h = harness(scripted(PLAN), settings=HEALING)
    h.start()
    h.emu.set_fault("duplicate_updates")  # every update twice
    h.emu.set_fault("delay_updates", seconds=0.4)  # and each copy 0.4 s late
    rec = _finish(h)
    fills = len(rec.fills)
    assert fills == ORDERS
    assert h.broker.stats["duplicate_fills"] >= fills  # every duplicate seen, counted, not applied
    assert h.session.stats.duplicate_fills == 0  # none got past the adapter
    assert h.broker.stats["recovered_fills"] == 0  # they came late, but on the stream


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_after_the_order_was_accepted_is_resolved_without_resending(harness, status) -> None:
    h = harness(scripted(PLAN), settings=HEALING)
    h.start()
    h.play(1)
    h.emu.set_fault("order_errors", status=status, count=1, actions=["submit"])
    h.play(1)
    assert "order_errors" not in h.emu.state()["faults"]  # the 5xx was answered
    h.play(7 - h.session.stats.bars)
    h.emu.set_fault("order_errors", status=status, count=2, actions=["submit"])  # both legs of the flip
    h.play(1)
    assert "order_errors" not in h.emu.state()["faults"]
    _finish(h)


def test_post_timing_out_after_the_order_was_accepted_is_resolved_without_resending(harness) -> None:
    h = harness(scripted(PLAN), settings=msgspec.structs.replace(HEALING, timeout=1.0))
    h.start()
    h.play(1)
    # the order is carried out, the reply never comes: the client times out after 1 s
    h.emu.set_fault("order_errors", mode="timeout", timeout=1.5, count=1, actions=["submit"])
    h.play(1, timeout=6.0)
    assert "order_errors" not in h.emu.state()["faults"]
    _finish(h)


def test_429_storm_on_rest_queues_orders_without_duplicates(harness) -> None:
    h = harness(scripted(PLAN), settings=HEALING)
    h.start()
    h.play(1)
    h.emu.set_fault("rate_limit_burst", seconds=1.0)  # every trading request answers 429 for 1 s
    h.play(1, timeout=8.0)
    storm = h.broker.stats["rate_limited"]
    assert storm >= 2
    h.play(7 - h.session.stats.bars)
    h.emu.set_fault("rate_limit_burst", count=6)  # the flip's two orders queue behind 6 refusals
    h.play(1, timeout=8.0)
    assert h.broker.stats["rate_limited"] >= storm + 6
    _finish(h)


def test_emulator_restart_keeps_state_and_a_fill_lost_in_it_is_recovered(harness, tmp_path) -> None:
    h = harness(scripted(PLAN), emulator={"state_file": str(tmp_path / "emulator.sqlite")}, settings=HEALING)
    h.start()
    h.play(3)  # long 10
    h.emu.set_fault("drop_updates", events=["new", "fill"])  # bar 4's order: no update reaches us
    want = h.session.stats.bars + 1
    h.emu.step(1)
    h.run_until(lambda: h.session.stats.bars >= want and len(h.posts) == 2, what="bar 4's order sent")
    h.emu.restart(down=0.3)  # every socket drops; state reloaded from SQLite on the same port
    assert h.emu.state()["restarts"] == 1
    h.emu.clear_faults()  # faults outlive a restart; from here on updates flow again
    h.run_until(h.connected, timeout=5.0, what="both streams back after the restart")
    h.settle()
    assert h.broker.stats["recovered_fills"] == 1
    _finish(h)


def test_the_checks_catch_a_repeated_post_and_a_fill_applied_twice(harness) -> None:
    """The invariants above are not vacuous: a blind resend and a double-applied fill both fail them."""
    h = harness(scripted("2=1"), settings=HEALING)
    h.start()
    h.play(2)
    assert_consistent(h)
    cid = h.posts[0]
    body = json.dumps({"symbol": "SPY", "qty": "10", "side": "buy", "type": "market", "time_in_force": "day",
                       "client_order_id": cid}).encode()
    req = urllib.request.Request(h.emu.trading_url + "/v2/orders", data=body, method="POST", headers={
        "APCA-API-KEY-ID": h.emu.api_key, "APCA-API-SECRET-KEY": h.emu.secret_key, "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=5)
    assert refused.value.code == 422  # the broker refuses the id, but the resend happened
    with pytest.raises(AssertionError, match="POSTed more than once"):
        assert_consistent(h)
    h.posts.pop()
    assert_consistent(h)
    book = next(iter(h.session.books.values()))
    again = msgspec.structs.replace(book.fills[0], exec_id=book.fills[0].exec_id + "-again")
    assert book.apply_fill(again)  # the same execution under another id: the book cannot tell
    with pytest.raises(AssertionError, match="positions differ"):
        assert_consistent(h)


def test_broker_unreachable_right_after_accepting_the_close_of_a_flip(harness, tmp_path) -> None:
    """The close leg of a flip is accepted and filled, then the broker goes away before answering
    (its reply and updates lost, the lookup refused): the outcome is unknown, not a rejection, so
    the open leg must still follow once the close's fill is recovered."""
    h = harness(scripted(PLAN), emulator={"state_file": str(tmp_path / "emulator.sqlite")}, settings=HEALING)
    h.start()
    h.play(7)  # short 10
    h.emu.set_fault("order_errors", mode="timeout", timeout=3.0, count=1, actions=["submit"])
    h.emu.set_fault("drop_updates")
    h.emu.step(1)  # bar 8: buy 10 to close; the broker fills it and stays silent
    h.run_until(lambda: len(h.posts) == 4 and h.emu.state()["positions"] == {}, what="the close at the broker")
    h.emu.restart(down=0.5)  # the POST's connection dies and the lookup finds nobody
    h.emu.clear_faults()
    h.run_until(lambda: [e.command for e in h.events if type(e) is CommandFailed] == ["submit"], what="unknown outcome")
    h.run_until(lambda: len(h.posts) == 5, timeout=6.0, what="the open leg of the flip")
    h.run_until(h.connected, timeout=5.0, what="both streams back after the restart")
    h.settle()
    assert h.broker.stats["recovered_fills"] >= 1  # the close's fill, found over REST
    assert h.session.positions() == {"SPY": 10.0}
    h.events.clear()  # the submit failure above was expected
    _finish(h)


def test_updates_later_than_the_next_signal_change_leave_the_position_the_strategy_wanted(harness) -> None:
    h = harness(scripted("2=1,4=0"), settings=HEALING)
    h.start()
    h.play(1)
    h.emu.set_fault("delay_updates", seconds=0.8)  # under order_silence_timeout: no reconnect, just late
    for n in (2, 3, 4):  # long at 2, flat at 4, within 0.8 s: bar 2's fill is still on its way
        h.emu.step(1)
        h.run_until(lambda n=n: h.session.stats.bars >= n and len(h.posts) >= 1, what=f"bar {n}")
    h.session.run(duration=1.5)
    h.emu.clear_faults()
    h.settle()
    assert_consistent(h)  # the three invariants hold ...
    assert h.session.positions() == {}  # ... and the late fill was re-targeted: flat, as asked since bar 4
