"""Brackets live against the emulator: `limit_bracket` (limit entries, bracket exits sent as one
OCO order after the entry fills) gives the same fills as a backtest on the bars the session
received; a restart with the OCO exit resting restores it from the journal without sending it
again; a restart with the entry resting keeps its bracket (journaled with it), so the exit
follows the entry's fill; the exposure invariant holds while they rest.

The trade-updates stream and the data stream are two sockets: a bar and the fills the emulator
made on it race to the session. A backtest applies a bar's fills before its strategies see the
bar, so the test holds each bar back until the session's position equals the emulator's (every
fill of that bar applied), then lets it through, and steps the emulator only once every order
the session sent or cancelled has been answered. Resting orders fill on the next bar in both
engines, so the backtest's fill rule only matters for market orders (none here); `fill: close`
is the emulator's rule for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from runtime_support import FAST, Harness, bars_file, live_config, live_config_dict

from admf.config.loader import config_from_dict
from admf.core.enums import OrderStatus
from admf.core.events import OCO, Bar
from admf.data.frame import BarFrame
from admf.data.timeline import merge
from admf.emulator.testing import start_emulator
from admf.execution.journal import Journal
from admf.runtime.backtest import run_variant

pytestmark = pytest.mark.timeout(120)
MIN = 60_000_000_000
LB = {"limit_bracket": {"period": 20, "offset": 0.0002, "stop": 0.001, "target": 0.0015, "shares": 10, "wait": 3}}
LB_WIDE = {"limit_bracket": {**LB["limit_bracket"], "stop": 0.002, "target": 0.003}}
_WAITING = (OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL, OrderStatus.UNKNOWN)


class Stepper:
    """Steps the emulator one bar at a time with the session in the backtest's order (see above)."""

    def __init__(self, h: Harness, paper: bool = False) -> None:
        self.h = h
        self.paper = paper  # the paper broker: fills reach the inbox before their bar, none at the emulator
        self.s = h.session
        self.held: list[Bar] = []
        self.bars: list[Bar] = []
        self.oco_bars = 0  # bars after which an OCO exit was resting
        handle = self.s.handle

        def hold(ev: Any) -> None:
            if type(ev) is Bar:
                self.held.append(ev)
            else:
                handle(ev)

        self.handle = handle
        self.s.handle = hold

    def _positions_agree(self) -> bool:
        if self.paper:
            return True
        emu = {s: float(q) for s, q in self.h.emu.state()["positions"].items()}
        return emu == self.s.positions()

    def _answered(self) -> bool:
        return not any(o.status in _WAITING for o in self.s.broker.orders.values())

    def play(self, n: int) -> None:
        for _ in range(n):
            assert self.h.emu.step(1) == 1
            self.h.run_until(lambda: bool(self.held) and self._positions_agree(), what="the bar and its fills")
            bar = self.held.pop()
            assert not self.held
            self.bars.append(bar)
            self.handle(bar)
            self.h.run_until(lambda: self._answered() and self._positions_agree(), what="answers to every command")
            self._check_exposure()

    def _check_exposure(self) -> None:
        """The exposure invariant: the position plus every open buy stays at or below the entry's
        10 shares, the position minus every open sell at or above flat (two separate exit legs
        resting would make it -10)."""
        mgr = self.s.broker
        up, down = mgr.exposure("limit_bracket", "SPY")
        assert down >= -1e-9 and up <= 10.0 + 1e-9, (up, down)
        if any(b.request.order_class == OCO and not b.settled for b in mgr.book_orders.values()):
            assert (up, down) == (10.0, 0.0)
            self.oco_bars += 1


def fills_by_bar(fills: list[Any]) -> list[tuple[int, str, float, float]]:
    """(bar start, side, qty, price): the emulator stamps a fill at the end of the bar it was
    matched on (plus microseconds), the backtest at the bar's start."""
    return sorted(((f.ts // MIN) * MIN - MIN, f.side.value, f.qty, f.price) for f in fills)


def backtest_fills(bars: list[Bar], fill: str = "close",
                   params: dict[str, Any] = LB) -> tuple[list[tuple[int, str, float, float]], list[str]]:
    a = np.array([(b.open, b.high, b.low, b.close, b.volume) for b in bars])
    frame = BarFrame(np.array([b.ts for b in bars], dtype=np.int64), a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4],
                     symbol="SPY", timeframe="1m")
    cfg = config_from_dict({"name": "bt", "data": "SPY_1m", "strategy": [params], "execution": {"fill": fill}})
    bt = run_variant(cfg, merge([frame]))
    got = sorted((int(r.time.value), r.side, float(r.qty), float(r.price)) for r in bt.fills.itertuples())
    return got, list(bt.fills.sort_values("time")["reason"])


def test_limit_bracket_live_equals_backtest(tmp_path: Path, post_log: list[str]) -> None:
    emu = start_emulator(data=str(bars_file(tmp_path)), symbols=["SPY"], rate_limit=0)
    h = Harness(emu, live_config(tmp_path, LB), FAST, post_log)
    try:
        h.start()
        st = Stepper(h)
        st.play(200)
        book = h.session.books["limit_bracket"]
        live = fills_by_bar(book.fills)
        reasons = [f.reason for f in sorted(book.fills, key=lambda f: f.ts)]
        sent = [r for r in h.session.broker.book_orders.values()]
        audit = h.session.audit.records
    finally:
        h.stop()
        emu.stop()
    bt, bt_reasons = backtest_fills(st.bars)
    assert live == bt
    assert st.oco_bars >= 10  # the invariant was checked with an OCO resting
    assert reasons == bt_reasons
    assert {"order", "stop_loss", "take_profit"} <= set(reasons)  # entries, and exits by either leg
    # the exits went as one OCO order each (in the backtest: two legs each)
    ocos = [b.request for b in sent if b.request.order_class == OCO]
    assert len(ocos) == reasons.count("stop_loss") + reasons.count("take_profit")
    assert all(r.order_type.value == "limit" and r.stop_loss is not None and r.stop_loss < r.limit_price
               for r in ocos)
    assert len(post_log) == len(sent) and len(set(post_log)) == len(post_log)  # each order sent once
    logged = [r for r in audit if r["event"] == "order" and r.get("order_class") == OCO]
    assert [(r["id"], r["stop_loss"]) for r in logged] == [(r.client_order_id, r.stop_loss) for r in ocos]


def test_a_restart_restores_the_resting_oco_and_does_not_send_it_again(tmp_path: Path, post_log: list[str]) -> None:
    emu = start_emulator(data=str(bars_file(tmp_path)), symbols=["SPY"], rate_limit=0)
    cfg = live_config(tmp_path, LB, cancel_on_stop=False)
    h = Harness(emu, cfg, FAST, post_log)
    try:
        h.start()
        st = Stepper(h)
        st.play(27)  # the first entry fills on bar 26 (see the first test): its OCO exit rests
        mgr = h.session.broker
        oco = [b for b in mgr.book_orders.values() if b.request.order_class == OCO and not b.settled]
        assert len(oco) == 1
        cid = oco[0].client_order_id
        book = h.session.books["limit_bracket"]
        assert book.position("SPY") == 10.0
        # exposure invariant while it rests: position + every open sell = 0, position + open buys = 10
        assert mgr.exposure("limit_bracket", "SPY") == (10.0, 0.0)
        assert emu.state()["open_orders"] == 2  # at the broker: the take-profit and its stop-loss leg
        h.stop()
        with Journal(h.journal_path) as j:
            intent = j.intent(cid)
            legs = j.leg_ids(cid)
        assert intent is not None and intent.request.order_class == OCO and intent.request.stop_loss is not None
        assert [name for _, name in legs] == ["stop_loss"]
        posts = len(post_log)

        h.start()
        st2 = Stepper(h)
        s = h.session
        assert s.books["limit_bracket"].position("SPY") == 10.0
        assert s.broker.exposure("limit_bracket", "SPY") == (10.0, 0.0)
        (slot,) = s.build.all_slots
        views = slot.strategy.orders.open_orders()  # the strategy sees the restored exit
        assert [(v.id, v.leg, v.side, v.qty, v.stop is not None) for v in views] == [(cid, "oco", "sell", 10.0, True)]
        assert slot._worst(-1) == 0.0  # its limits count it once
        st2.play(3)  # the stop-loss leg fills on bar 28
        book = s.books["limit_bracket"]
        exits = [f for f in book.fills if f.client_order_id == cid]
        assert [(f.side.value, f.qty, f.reason) for f in exits] == [("sell", 10.0, "stop_loss")]
        assert book.position("SPY") == 0.0
        assert cid not in post_log[posts:]  # restored, never sent again
        assert post_log[posts:] == []  # and no second exit re-armed for the position
        assert s.broker.orders[cid].status is OrderStatus.FILLED
        assert h.broker.order_state(cid)[0] is OrderStatus.FILLED
    finally:
        h.stop()
        emu.stop()


def test_a_restart_after_cancel_on_stop_re_arms_the_exit_once(tmp_path: Path, post_log: list[str]) -> None:
    """The session stops with cancel_on_stop (the OCO exit is canceled at the broker, the position
    stays): the restart sends one new OCO exit for the position at the journaled entry's
    (stop, target) on its first live bar; it rests and a later bar fills it, the trade a
    backtest's (no bar between the two sessions touched a leg); the exposure invariant holds."""
    emu = start_emulator(data=str(bars_file(tmp_path)), symbols=["SPY"], rate_limit=0)
    h = Harness(emu, live_config(tmp_path, LB_WIDE, cancel_on_stop=True), FAST, post_log)
    try:
        h.start()
        st = Stepper(h)
        st.play(27)  # the first entry fills on bar 26: its OCO exit rests
        mgr = h.session.broker
        ((old,),) = [[b.request for b in mgr.book_orders.values() if b.request.order_class == OCO]]
        entry = next(b.request for b in mgr.book_orders.values() if b.request.bracket is not None)
        assert entry.bracket == (old.stop_loss, old.limit_price)
        h.stop()
        assert emu.state()["open_orders"] == 0  # the OCO was canceled at the broker
        assert {s: float(q) for s, q in emu.state()["positions"].items()} == {"SPY": 10.0}
        with Journal(h.journal_path) as j:
            intent = j.intent(old.client_order_id)
            (last,) = j.last_brackets()
        assert intent is not None and intent.status == "canceled"
        assert last.client_order_id == entry.client_order_id and last.request.bracket == entry.bracket
        posts = len(post_log)

        h.start()
        st2 = Stepper(h)
        s = h.session
        assert s.books["limit_bracket"].position("SPY") == 10.0
        assert s.broker.exposure("limit_bracket", "SPY") == (10.0, 10.0)  # no exit works before the first bar
        st2.play(1)  # the first live bar re-arms the exit
        new = [b.request for b in s.broker.book_orders.values()
               if b.request.order_class == OCO and b.client_order_id != old.client_order_id]
        assert len(new) == 1
        oco = new[0]
        assert post_log[posts:] == [oco.client_order_id]  # one exit, sent once
        assert (oco.side.value, oco.qty, oco.stop_loss, oco.limit_price) == ("sell", 10.0, *entry.bracket)
        assert s.broker.exposure("limit_bracket", "SPY") == (10.0, 0.0)  # it rests, counted once
        assert emu.state()["open_orders"] == 2  # the take-profit and its stop-loss leg
        logged = [r for r in s.audit.records if r["event"] == "order" and r.get("order_class") == OCO]
        assert [(r["id"], r["stop_loss"]) for r in logged] == [(oco.client_order_id, oco.stop_loss)]
        book = s.books["limit_bracket"]
        for _ in range(60):
            st2.play(1)
            if book.position("SPY") == 0.0:
                break
        exits = [f for f in book.fills if f.client_order_id == oco.client_order_id]
        assert [(f.side.value, f.qty) for f in exits] == [("sell", 10.0)]
        assert post_log[posts:] == [oco.client_order_id] and emu.state()["open_orders"] == 0
        fills = sorted(book.fills, key=lambda f: f.ts)
    finally:
        h.stop()
        emu.stop()
    bt, bt_reasons = backtest_fills(st.bars + st2.bars, params=LB_WIDE)  # the same trade without a restart
    assert fills_by_bar(fills) == bt and bt_reasons == ["order", exits[0].reason]


def test_a_restart_with_the_entry_resting_keeps_its_bracket(tmp_path: Path, post_log: list[str]) -> None:
    """The entry rests at the stop (its bracket not sent yet); it fills after the restart: the
    bracket journaled with it gives one OCO exit, sent once, and the trade equals a backtest's."""
    emu = start_emulator(data=str(bars_file(tmp_path)), symbols=["SPY"], rate_limit=0)
    h = Harness(emu, live_config(tmp_path, LB, cancel_on_stop=False), FAST, post_log)
    try:
        h.start()
        st = Stepper(h)
        st.play(25)  # the first entry is placed on bar 25 and fills on bar 26 (see the first test)
        (slot,) = h.session.build.all_slots
        ((entry, left, leg),) = slot.order_views()
        assert (leg, left, entry.order_class) == ("entry", 10.0, "") and entry.bracket is not None
        cid, bracket = entry.client_order_id, entry.bracket
        h.stop()
        with Journal(h.journal_path) as j:
            intent = j.intent(cid)
        assert intent is not None and intent.request.bracket == bracket and intent.status == "accepted"
        assert emu.state()["open_orders"] == 1  # the entry still rests at the broker
        posts = len(post_log)

        h.start()
        st2 = Stepper(h)
        s = h.session
        (slot,) = s.build.all_slots
        assert s.books["limit_bracket"].position("SPY") == 0.0
        assert s.broker.exposure("limit_bracket", "SPY") == (10.0, 0.0)  # the resting entry counts
        views = slot.strategy.orders.open_orders()
        assert [(v.id, v.leg, v.side, v.qty, v.limit) for v in views] == [
            (cid, "entry", "buy", 10.0, entry.limit_price)]
        st2.play(1)  # the entry fills: its exit goes as one OCO order
        book = s.books["limit_bracket"]
        assert book.position("SPY") == 10.0
        sent = post_log[posts:]
        assert cid not in sent  # the entry is not sent again
        ((oco,),) = [[b.request for b in s.broker.book_orders.values() if b.request.order_class == OCO]]
        assert sent == [oco.client_order_id]  # one exit, sent once
        assert (oco.side.value, oco.qty, oco.stop_loss, oco.limit_price) == ("sell", 10.0, *bracket)
        assert s.broker.exposure("limit_bracket", "SPY") == (10.0, 0.0)
        st2.play(2)  # the stop-loss leg fills on bar 28
        fills = sorted(book.fills, key=lambda f: f.ts)
        assert [(f.client_order_id, f.side.value, f.qty, f.reason) for f in fills] == [
            (cid, "buy", 10.0, "order"), (oco.client_order_id, "sell", 10.0, "stop_loss")]
        assert book.position("SPY") == 0.0 and post_log[posts:] == [oco.client_order_id]
        assert emu.state()["open_orders"] == 0
    finally:
        h.stop()
        emu.stop()
    bt, bt_reasons = backtest_fills(st.bars + st2.bars)  # the same trade without a restart
    assert fills_by_bar(fills) == bt and bt_reasons == ["order", "stop_loss"]


def test_limit_bracket_on_the_paper_broker_equals_backtest(tmp_path: Path, post_log: list[str]) -> None:
    """The paper broker works the OCO as the backtest's two legs (its own matching, on the live
    bars): the same fills, to the bar's time."""
    emu = start_emulator(data=str(bars_file(tmp_path)), symbols=["SPY"], rate_limit=0)
    raw = live_config_dict(tmp_path, LB)
    raw["execution"]["broker"] = "paper"
    raw["broker"] = {"data": "alpaca"}
    h = Harness(emu, config_from_dict(raw, base_dir=str(tmp_path)), FAST, post_log)
    try:
        h.start()
        st = Stepper(h, paper=True)
        st.play(200)
        book = h.session.books["limit_bracket"]
        live = sorted((f.ts, f.side.value, f.qty, f.price) for f in book.fills)
        reasons = [f.reason for f in sorted(book.fills, key=lambda f: f.ts)]
    finally:
        h.stop()
        emu.stop()
    bt, bt_reasons = backtest_fills(st.bars, fill="next_open")
    assert live == bt and reasons == bt_reasons
    assert {"order", "stop_loss", "take_profit"} <= set(reasons)
    assert st.oco_bars >= 10
    assert post_log == []  # nothing reached the emulator's broker
