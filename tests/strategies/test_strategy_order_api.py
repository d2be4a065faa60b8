"""Hand-computed fills of every order type a strategy can place, and of brackets."""

from __future__ import annotations

from typing import Any

import pytest
from order_support import run_plan

from admf.core.errors import UserError


def fills(r: Any) -> list[tuple[int, str, float, float, str]]:
    return [(int(f.bar), f.side, float(f.qty), float(f.price), f.reason) for f in r.fills.itertuples()]


def test_market_fills_at_next_open_and_at_close():
    bars = [(100, 101, 99, 100), (100.5, 102, 100, 101), (101, 101, 100, 100.5)]

    def market(s, i, bar):
        if i == 0:
            s.orders.buy(10)
    assert fills(run_plan(bars, market)) == [(1, "buy", 10.0, 100.5, "order")]
    r = run_plan(bars, market, execution={"fill": "close"})
    assert fills(r) == [(0, "buy", 10.0, 100.0, "order")]


def test_limit_rests_until_the_range_reaches_it_and_a_gap_fills_at_the_open():
    bars = [(100, 101, 99.5, 100), (100, 101, 99.5, 100.5), (99.8, 100, 98.5, 99), (98, 98.5, 97, 98)]

    def limits(s, i, bar):
        if i == 0:
            s.orders.buy(10, limit=99.0)
        if i == 2:
            s.orders.buy(5, limit=98.5)  # the next bar opens at 98, below it: filled at the open

    assert fills(run_plan(bars, limits)) == [(2, "buy", 10.0, 99.0, "order"), (3, "buy", 5.0, 98.0, "order")]


def test_stop_fills_at_the_stop_or_the_gap_open():
    bars = [(100, 101, 99, 100), (100, 102.5, 99, 101), (101, 101, 99, 99.5), (97, 98, 96, 97)]

    def stops(s, i, bar):
        if i == 0:
            s.orders.buy(10, stop=102.0)
        if i == 2:
            s.orders.sell(10, stop=98.0)  # the next bar opens at 97, through the stop

    assert fills(run_plan(bars, stops)) == [(1, "buy", 10.0, 102.0, "order"), (3, "sell", 10.0, 97.0, "order")]


def test_stop_limit_triggered_beyond_its_limit_waits_for_the_next_bar():
    # buy stop 101 limit 100.5 on O100 H102 L99: triggered inside the bar beyond the limit, no fill;
    # the next bar opens at 100.2, within the limit: filled at the open
    bars = [(100, 100.4, 99.6, 100), (100, 102, 99, 101), (100.2, 100.8, 100, 100.6)]

    def stop_limit(s, i, bar):
        if i == 0:
            s.orders.buy(10, stop=101.0, limit=100.5)

    assert fills(run_plan(bars, stop_limit)) == [(2, "buy", 10.0, 100.2, "order")]


def test_bracket_legs_start_after_the_entry_and_the_target_cancels_the_stop():
    bars = [(100, 100.5, 99.5, 100.2),
            (100.5, 101, 97, 100),     # the limit entry fills at 100; the stop leg (98) is not working yet
            (100, 103, 99, 102),       # neither leg
            (102, 105, 101, 104.5),    # the target fills at 104; the stop is cancelled
            (104, 104, 90, 95)]        # nothing left to fill
    seen: list[Any] = []

    def bracket(s, i, bar):
        if i == 0:
            s.orders.buy(10, limit=100.0, bracket=(98.0, 104.0))
        seen.append(sorted((o.leg, o.type) for o in s.open_orders))

    r = run_plan(bars, bracket)
    assert fills(r) == [(1, "buy", 10.0, 100.0, "order"), (3, "sell", 10.0, 104.0, "take_profit")]
    assert seen[0] == [("entry", "limit")]
    assert seen[2] == [("stop_loss", "stop"), ("take_profit", "limit")]
    assert seen[4] == []
    assert r.orders.set_index("type")["status"].to_dict() == {"limit": "filled", "stop": "canceled"} or \
        sorted(r.orders["status"]) == ["canceled", "filled", "filled"]
    assert r.trades["pnl"].tolist() == [pytest.approx(40.0)]


def test_bracket_bar_touching_both_legs_fills_the_stop_first():
    bars = [(100, 100.5, 99.5, 100.2),
            (100, 100.5, 99.5, 100),   # market entry at this open: 100
            (100, 105, 97, 101)]       # reaches the target 104 and the stop 98: the stop-loss fills

    def bracket(s, i, bar):
        if i == 0:
            s.orders.buy(10, bracket=(98.0, 104.0))

    r = run_plan(bars, bracket)
    assert fills(r) == [(1, "buy", 10.0, 100.0, "order"), (2, "sell", 10.0, 98.0, "stop_loss")]
    assert sorted(r.orders["status"]) == ["canceled", "filled", "filled"]
    assert r.trades["exit_reason"].tolist() == ["stop_loss"]
    assert r.trades["pnl"].tolist() == [pytest.approx(-20.0)]


def test_short_bracket_and_reads_of_the_book():
    bars = [(100, 100.5, 99.5, 100), (100, 100.5, 99.5, 100), (99, 99.5, 95, 96)]
    seen: list[Any] = []

    def short(s, i, bar):
        if i == 0:
            s.orders.sell(10, bracket=(103.0, 96.0))
        seen.append((s.position, s.avg_price, len(s.fills)))

    r = run_plan(bars, short)
    assert fills(r) == [(1, "sell", 10.0, 100.0, "order"), (2, "buy", 10.0, 96.0, "take_profit")]
    assert seen == [(0.0, None, 0), (-10.0, 100.0, 1), (0.0, None, 2)]


def test_cancel_and_cancel_of_an_entry_drops_its_bracket():
    bars = [(100, 100.5, 99.5, 100)] + [(100, 100.5, 99.5, 100)] * 3 + [(95, 96, 90, 91)]

    def cancel(s, i, bar):
        if i == 0:
            s.keep = s.orders.buy(10, limit=95.0, bracket=(90.0, 110.0))
        if i == 2:
            assert s.orders.cancel(s.keep)
            assert not s.orders.cancel(s.keep)  # already ended
            assert s.open_orders == []

    r = run_plan(bars, cancel)
    assert fills(r) == []
    assert r.orders["status"].tolist() == ["canceled"]


def test_limits_refuse_what_could_break_them():
    bars = [(100, 100.5, 99.5, 100)] * 3
    got: list[Any] = []

    def greedy(s, i, bar):
        if i == 0:
            got.append(s.orders.buy(60, limit=99.0))
            got.append(s.orders.buy(60, limit=98.0))  # 120 if both fill: over max_position 100
            got.append(s.orders.sell(50, limit=101.0))
            got.append(list(s.orders.refused))

    run_plan(bars, greedy, risk={"max_position": 100})
    assert got[0] is not None and got[1] is None and got[2] is not None
    assert got[3] and "max_position 100" in got[3][0]


def test_bad_orders_are_one_clear_error():
    bars = [(100, 100.5, 99.5, 100)] * 2

    def bad(s, i, bar):
        s.orders.buy(10, limit=100.0, bracket=(105.0, 95.0))

    with pytest.raises(UserError, match="target must be beyond the stop"):
        run_plan(bars, bad)


def test_intraday_close_cancels_the_legs_and_flattens():
    # two bars at the end of a session (15:50 and 15:55 New York): the position is flat at the
    # last bar's close, the resting legs are cancelled
    import numpy as np
    from order_support import MIN, PLANS, T0

    from admf.config.loader import config_from_dict
    from admf.data.frame import BarFrame
    from admf.data.timeline import merge
    from admf.runtime.backtest import run_variant

    t = T0 + np.array([380, 385], dtype=np.int64) * MIN
    a = np.array([(100, 100.5, 99.5, 100), (100, 101, 99.8, 100.6)], dtype=float)
    tl = merge([BarFrame(t, a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.full(2, 1e3), symbol="TEST", timeframe="5m")])

    def entry(s, i, bar):
        if i == 0:
            s.orders.buy(10, bracket=(90.0, 110.0))

    PLANS["entry"] = entry
    cfg = config_from_dict({"name": "t", "data": "TEST_5m", "portfolio": {"initial_capital": 100_000},
                            "strategy": [{"t_orders": {"plan": "entry"}, "constraints": "intraday"}]})
    r = run_variant(cfg, tl)
    assert fills(r) == [(1, "buy", 10.0, 100.0, "order"), (1, "sell", 10.0, 100.6, "session_close")]
    assert sorted(r.orders["status"]) == ["canceled", "canceled", "filled", "filled"]


class _SerialBroker:
    """A unit-test stand-in for the live order manager: it keeps orders one per symbol (split_flips)."""

    split_flips = True

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def submit(self, req: Any, sym: int, bar: int, close: float, day: int = 0) -> None:
        self.sent.append(req)

    def fill_now(self, req: Any, sym: int, bar: int, price: float, *, market: bool = True) -> None:
        self.sent.append(req)

    def cancel(self, client_order_id: str, ts: int = 0) -> bool:
        return False


def _live_slot() -> Any:
    from admf.portfolio.portfolio import Portfolio
    from admf.risk.exits import ExitRules
    from admf.risk.limits import Limits
    from admf.risk.sizing import Sizing
    from admf.risk.slot import StrategySlot
    from admf.strategies.orders import Orders

    class S:
        uses_orders = True

        def on_bar(self, *a: Any) -> int:
            return 0

    broker = _SerialBroker()
    slot = StrategySlot(strategy=S(), book=Portfolio("b", 10_000.0, ["X"]), broker=broker, sym=0, symbol="X",
                        strategy_id="b", sizing=Sizing(), exits=ExitRules(), limits=Limits())
    return slot, Orders([slot]), broker


def test_a_live_bracket_exits_by_one_oco_order_after_its_entry_filled():
    from admf.core.enums import OrderType, Side
    from admf.core.events import OCO, Fill

    slot, orders, broker = _live_slot()
    oid = orders.buy(5, limit=10.0, bracket=(9.0, 12.0))
    assert oid is not None and [r.client_order_id for r in broker.sent] == [oid]  # the entry goes alone
    fill = Fill("e1", oid, "b", "X", Side.BUY, 5.0, 10.0, 1)
    slot.book.apply_fill(fill)
    slot.on_fill(fill, 0)
    assert len(broker.sent) == 2
    oco = broker.sent[1]
    assert (oco.side, oco.qty, oco.order_type, oco.limit_price, oco.stop_loss, oco.order_class, oco.reason) == (
        Side.SELL, 5.0, OrderType.LIMIT, 12.0, 9.0, OCO, "take_profit")
    assert [(o.id, o.leg, o.side, o.qty, o.limit, o.stop) for o in orders.open_orders()] == [
        (oco.client_order_id, "oco", "sell", 5.0, 12.0, 9.0)]
    assert slot._worst(-1) == 0.0  # the exit's worst case is its quantity once: flat, never short
    orders.cancel(oco.client_order_id)  # nothing open at this broker: it ends at once
    assert orders.open_orders() == [] and len(broker.sent) == 2


def test_live_orders_and_warm_up_is_not_traded():
    slot, orders, broker = _live_slot()
    slot.muted = True
    assert orders.buy(5, limit=10.0) is None and "warm-up" in orders.refused[-1]
    slot.muted = False
    oid = orders.buy(5, limit=10.0)
    assert oid is not None and [r.client_order_id for r in broker.sent] == [oid]
    assert [(o.id, o.type, o.limit, o.qty) for o in orders.open_orders()] == [(oid, "limit", 10.0, 5.0)]
    assert orders.target(5) is None  # the open buy already makes 5
    with pytest.raises(UserError, match="not one this strategy trades"):
        orders.buy(1, symbol="Y")
