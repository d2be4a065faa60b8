"""Every order type of the SimulatedBroker on tiny hand-written bars, prices computed by hand."""

from __future__ import annotations

import pytest

from admf.core.enums import OrderStatus, OrderType, Side, TimeInForce
from admf.core.events import Fill, OrderRequest
from admf.execution.costs import Slippage
from admf.execution.simulated import SimulatedBroker


class Rec:
    """A broker with its fills collected as (price, bar, client_order_id)."""

    def __init__(self, **kw: object) -> None:
        self.fills: list[tuple[float, int, str]] = []
        self.broker = SimulatedBroker(self._on_fill, **kw)  # type: ignore[arg-type]
        self.n = 0

    def _on_fill(self, f: Fill, bar: int) -> None:
        self.fills.append((f.price, bar, f.client_order_id))

    def order(self, side: str, typ: OrderType = OrderType.MARKET, *, limit: float | None = None,
              stop: float | None = None, tif: TimeInForce = TimeInForce.DAY, qty: float = 10,
              bar: int = 0, close: float = 100.0, day: int = 0, sym: int = 0) -> str:
        self.n += 1
        coid = f"o{self.n}"
        req = OrderRequest(coid, "s", "TEST", Side(side), qty, typ, limit, stop, tif, ts=bar)
        self.broker.submit(req, sym, bar, close, day)
        return coid

    def bar(self, i: int, o: float, h: float, l: float, c: float, *, day: int = 0, sym: int = 0) -> None:
        self.broker.on_bar(sym, i, i, o, h, l, c, day)

    def status(self, coid: str) -> OrderStatus:
        return self.broker.orders[coid].status

    def prices(self) -> list[float]:
        return [p for p, _, _ in self.fills]


# market ---------------------------------------------------------------------------------------------

def test_market_next_open_fills_at_next_bars_open() -> None:
    r = Rec()
    r.order("buy", close=100.0)
    assert r.fills == [] and r.broker.pending == 1
    r.bar(1, 101.5, 103.0, 99.0, 102.0)
    assert r.fills == [(101.5, 1, "o1")]
    assert r.broker.pending == 0
    assert r.status("o1") is OrderStatus.FILLED


def test_market_next_open_with_slippage_both_sides() -> None:
    r = Rec(slippage=Slippage("fixed", 0.05))
    r.order("buy")
    r.order("sell")
    r.bar(1, 50.0, 51.0, 49.0, 50.5)
    # buy pays 50 + 0.05, sell receives 50 - 0.05
    assert r.prices() == pytest.approx([50.05, 49.95], abs=1e-12)


def test_market_close_rule_fills_at_the_deciding_bars_close() -> None:
    r = Rec(fill_rule="close", slippage=Slippage("bps", 10))
    r.order("sell", bar=3, close=200.0)
    # filled at once, at 200 * (1 - 10e-4) = 199.8, on the bar that made the order
    assert r.fills == [(pytest.approx(199.8, abs=1e-9), 3, "o1")]
    assert r.broker.pending == 0
    r.bar(4, 150.0, 210.0, 140.0, 205.0)
    assert len(r.fills) == 1


def test_market_day_order_is_not_expired_overnight() -> None:
    # a market order decided on the last bar of a day fills at the next day's open
    r = Rec()
    r.order("buy", day=10)
    r.bar(1, 97.0, 98.0, 96.0, 97.5, day=11)
    assert r.prices() == [97.0]


def test_order_updates_accepted_then_filled_with_qty_and_price() -> None:
    r = Rec()
    r.order("buy", qty=7)
    r.bar(1, 10.0, 11.0, 9.0, 10.0)
    ups = [(u.status, u.filled_qty, u.filled_avg_price) for u in r.broker.update_log]
    assert ups == [(OrderStatus.ACCEPTED, 0.0, None), (OrderStatus.FILLED, 7.0, 10.0)]


def test_orders_of_other_symbols_are_not_touched() -> None:
    r = Rec()
    r.order("buy", sym=0)
    r.bar(1, 10.0, 11.0, 9.0, 10.0, sym=1)
    assert r.fills == []
    r.bar(2, 12.0, 13.0, 11.0, 12.0, sym=0)
    assert r.prices() == [12.0]


def test_duplicate_client_order_id_is_refused() -> None:
    r = Rec()
    req = OrderRequest("x", "s", "TEST", Side.BUY, 1.0)
    r.broker.submit(req, 0, 0, 10.0)
    with pytest.raises(ValueError, match="duplicate"):
        r.broker.submit(req, 0, 0, 10.0)


# limit ----------------------------------------------------------------------------------------------

def test_buy_limit_waits_then_fills_at_the_limit() -> None:
    r = Rec(slippage=Slippage("fixed", 0.05))  # limit fills get no slippage
    r.order("buy", OrderType.LIMIT, limit=9.5, tif=TimeInForce.GTC)
    r.bar(1, 10.0, 10.2, 9.6, 10.0)  # low 9.6 > 9.5: no fill
    assert r.fills == [] and r.status("o1") is OrderStatus.ACCEPTED
    r.bar(2, 9.8, 9.9, 9.3, 9.4)  # low 9.3 <= 9.5, open 9.8 above: at the limit
    assert r.fills == [(9.5, 2, "o1")]


def test_buy_limit_gap_through_fills_at_the_open() -> None:
    r = Rec(slippage=Slippage("fixed", 0.05))
    r.order("buy", OrderType.LIMIT, limit=9.5)
    r.bar(1, 9.0, 9.2, 8.8, 9.1)  # opens below the limit: the open is a better price
    assert r.prices() == [9.0]


def test_sell_limit_waits_then_fills_at_the_limit() -> None:
    r = Rec()
    r.order("sell", OrderType.LIMIT, limit=10.5)
    r.bar(1, 10.0, 10.4, 9.9, 10.3)
    assert r.fills == []
    r.bar(2, 10.2, 10.7, 10.1, 10.6)
    assert r.prices() == [10.5]


def test_sell_limit_gap_through_fills_at_the_open() -> None:
    r = Rec()
    r.order("sell", OrderType.LIMIT, limit=10.5)
    r.bar(1, 11.0, 11.2, 10.9, 11.1)
    assert r.prices() == [11.0]


def test_limit_touching_exactly_fills() -> None:
    r = Rec()
    r.order("buy", OrderType.LIMIT, limit=9.5)
    r.order("sell", OrderType.LIMIT, limit=10.5)
    r.bar(1, 10.0, 10.5, 9.5, 10.0)
    assert r.prices() == [9.5, 10.5]


# stop -----------------------------------------------------------------------------------------------

def test_buy_stop_triggers_inside_the_bar_at_the_stop_plus_slippage() -> None:
    r = Rec(slippage=Slippage("fixed", 0.01))
    r.order("buy", OrderType.STOP, stop=10.5)
    r.bar(1, 10.0, 10.4, 9.8, 10.1)  # high 10.4 < 10.5
    assert r.fills == []
    r.bar(2, 10.2, 10.8, 10.1, 10.6)
    assert r.prices() == pytest.approx([10.51], abs=1e-12)


def test_buy_stop_gap_fills_at_the_open_not_the_stop() -> None:
    r = Rec(slippage=Slippage("fixed", 0.01))
    r.order("buy", OrderType.STOP, stop=10.5)
    r.bar(1, 11.0, 11.3, 10.9, 11.2)
    assert r.prices() == pytest.approx([11.01], abs=1e-12)


def test_sell_stop_triggers_inside_the_bar() -> None:
    r = Rec(slippage=Slippage("bps", 20))
    r.order("sell", OrderType.STOP, stop=9.5)
    r.bar(1, 9.8, 9.9, 9.6, 9.7)
    assert r.fills == []
    r.bar(2, 9.8, 9.9, 9.4, 9.45)
    assert r.prices() == pytest.approx([9.5 * (1 - 0.002)], abs=1e-12)


def test_sell_stop_gap_fills_at_the_open() -> None:
    r = Rec(slippage=Slippage("fixed", 0.01))
    r.order("sell", OrderType.STOP, stop=9.5)
    r.bar(1, 9.0, 9.1, 8.9, 9.0)
    assert r.prices() == pytest.approx([8.99], abs=1e-12)


# stop-limit -----------------------------------------------------------------------------------------

def test_buy_stop_limit_triggers_and_fills_at_the_stop() -> None:
    r = Rec(slippage=Slippage("fixed", 0.01))  # a stop-limit fills as a limit: no slippage
    r.order("buy", OrderType.STOP_LIMIT, stop=10.5, limit=10.7)
    r.bar(1, 10.0, 10.4, 9.8, 10.1)
    assert r.fills == []
    r.bar(2, 10.2, 10.8, 10.1, 10.6)
    assert r.prices() == [10.5]


def test_buy_stop_limit_gap_between_stop_and_limit_fills_at_the_open() -> None:
    r = Rec()
    r.order("buy", OrderType.STOP_LIMIT, stop=10.5, limit=10.7)
    r.bar(1, 10.6, 10.9, 10.55, 10.8)
    assert r.prices() == [10.6]


def test_buy_stop_limit_gap_past_the_limit_rests_then_fills_at_the_limit() -> None:
    r = Rec()
    r.order("buy", OrderType.STOP_LIMIT, stop=10.5, limit=10.7, tif=TimeInForce.GTC)
    r.bar(1, 11.0, 11.2, 10.9, 11.1)  # triggered at 11.0 > 10.7, never trades down to 10.7
    assert r.fills == [] and r.status("o1") is OrderStatus.ACCEPTED and r.broker.pending == 1
    r.bar(2, 10.95, 11.0, 10.8, 10.9)  # still above the limit
    assert r.fills == []
    r.bar(3, 10.9, 11.0, 10.6, 10.65)  # low 10.6 <= 10.7 from an open above it: at the limit
    assert r.fills == [(10.7, 3, "o1")]


def test_stop_limit_once_triggered_is_a_plain_limit() -> None:
    r = Rec()
    r.order("buy", OrderType.STOP_LIMIT, stop=10.5, limit=10.7)
    r.bar(1, 11.0, 11.2, 10.9, 11.1)  # triggered, rests
    # below the stop now: an untriggered stop-limit would not fill, a resting limit fills at the open
    r.bar(2, 10.4, 10.45, 10.3, 10.4)
    assert r.prices() == [10.4]


def test_buy_stop_limit_gap_past_the_limit_fills_later_in_the_same_bar() -> None:
    r = Rec()
    r.order("buy", OrderType.STOP_LIMIT, stop=10.5, limit=10.7)
    r.bar(1, 11.0, 11.2, 10.6, 10.8)
    assert r.prices() == [10.7]


def test_buy_stop_limit_with_limit_below_stop_triggered_inside_the_bar_waits_for_the_next_bar() -> None:
    # stop 10.5, limit 10.3: the bar opens at 10.2, trades up through 10.5 and down to 10.1.
    # Whether 10.1 came before or after the trigger is unknown, so no fill in this bar (conservative)
    r = Rec()
    r.order("buy", OrderType.STOP_LIMIT, stop=10.5, limit=10.3, tif=TimeInForce.GTC)
    r.bar(1, 10.2, 10.6, 10.1, 10.4)
    assert r.fills == [] and r.broker.orders["o1"].triggered
    r.bar(2, 10.4, 10.45, 10.25, 10.3)  # now a resting limit: low 10.25 <= 10.3 from an open above it
    assert r.fills == [(10.3, 2, "o1")]


def test_untriggered_stop_limit_does_not_fill_on_its_limit() -> None:
    r = Rec()
    r.order("buy", OrderType.STOP_LIMIT, stop=10.5, limit=10.7)
    r.bar(1, 10.0, 10.3, 9.5, 10.1)  # below the limit all bar, but the stop was never reached
    assert r.fills == []


def test_sell_stop_limit_gap_rests_then_fills_at_the_limit() -> None:
    r = Rec()
    r.order("sell", OrderType.STOP_LIMIT, stop=9.5, limit=9.3)
    r.order("sell", OrderType.STOP_LIMIT, stop=9.5, limit=9.3)
    r.bar(1, 9.8, 9.9, 9.4, 9.45)  # both trigger inside the bar at 9.5 >= 9.3
    assert r.prices() == [9.5, 9.5]
    r2 = Rec()
    r2.order("sell", OrderType.STOP_LIMIT, stop=9.5, limit=9.3)
    r2.bar(1, 9.0, 9.1, 8.9, 9.0)  # gapped below the limit, high 9.1 < 9.3
    assert r2.fills == []
    r2.bar(2, 9.2, 9.4, 9.1, 9.35)
    assert r2.prices() == [9.3]


# time in force and cancel ---------------------------------------------------------------------------

def test_day_limit_expires_at_the_next_session_day() -> None:
    r = Rec()
    r.order("buy", OrderType.LIMIT, limit=9.0, day=100)
    r.bar(1, 10.0, 10.2, 9.5, 10.0, day=100)
    assert r.status("o1") is OrderStatus.ACCEPTED
    # next day: would fill at the open 8.5, but the DAY order is gone first
    r.bar(2, 8.5, 8.8, 8.0, 8.6, day=101)
    assert r.fills == []
    assert r.status("o1") is OrderStatus.EXPIRED
    assert r.broker.pending == 0 and r.broker.open_orders() == []
    assert r.broker.update_log[-1].status is OrderStatus.EXPIRED and r.broker.update_log[-1].ts == 2


def test_gtc_limit_survives_the_day_change() -> None:
    r = Rec()
    r.order("buy", OrderType.LIMIT, limit=9.0, day=100, tif=TimeInForce.GTC)
    r.bar(1, 10.0, 10.2, 9.5, 10.0, day=100)
    r.bar(2, 8.5, 8.8, 8.0, 8.6, day=101)
    assert r.prices() == [8.5]


def test_day_stop_expires_too() -> None:
    r = Rec()
    r.order("sell", OrderType.STOP, stop=9.0, day=5)
    r.bar(1, 8.0, 8.2, 7.9, 8.1, day=6)
    assert r.fills == [] and r.status("o1") is OrderStatus.EXPIRED


def test_cancel_working_order() -> None:
    r = Rec()
    coid = r.order("buy", OrderType.LIMIT, limit=9.0)
    keep = r.order("sell", OrderType.LIMIT, limit=11.0)
    assert r.broker.pending == 2
    assert r.broker.cancel(coid, ts=5) is True
    assert r.status(coid) is OrderStatus.CANCELED
    assert r.broker.pending == 1
    assert [o.client_order_id for o in r.broker.open_orders()] == [keep]
    assert r.broker.cancel(coid) is False  # already canceled
    assert r.broker.cancel("nope") is False
    r.bar(1, 10.0, 11.5, 8.0, 10.0)  # would have filled the canceled buy at 9.0
    assert r.fills == [(11.0, 1, keep)]
    assert r.broker.cancel(keep) is False  # filled orders cannot be canceled


def test_cancel_a_market_order_before_the_next_open() -> None:
    r = Rec()
    coid = r.order("buy")
    assert r.broker.cancel(coid)
    r.bar(1, 10.0, 11.0, 9.0, 10.0)
    assert r.fills == [] and r.broker.pending == 0


# the same rules through a whole backtest --------------------------------------------------------------

BARS = [(10.0, 10.5, 9.5, 10.2), (10.3, 10.8, 10.1, 10.6), (10.9, 11.4, 10.7, 11.1),
        (11.2, 11.6, 10.9, 11.3), (11.0, 11.2, 10.4, 10.5), (10.4, 10.6, 10.0, 10.1)]


def test_backtest_next_open_fills_entry_and_exit_at_the_next_open(bt) -> None:
    res = bt.run(BARS, "0 1 1 0 0 0")  # long decided at bar 1's close, flat at bar 3's
    assert list(res.fills["price"]) == [10.9, 11.0]
    assert list(res.fills["bar"]) == [2, 4]
    t = res.trades.iloc[0]
    assert (t.entry_price, t.exit_price, t.qty) == (10.9, 11.0, 100.0)
    assert t.pnl == pytest.approx(10.0, abs=1e-9)


def test_backtest_close_rule_fills_at_the_signal_bars_close(bt) -> None:
    res = bt.run(BARS, "0 1 1 0 0 0", execution={"fill": "close"})
    assert list(res.fills["price"]) == [10.6, 11.3]
    assert list(res.fills["bar"]) == [1, 3]
    assert res.trades.iloc[0].pnl == pytest.approx(70.0, abs=1e-9)
    assert res.equity.iloc[-1] == pytest.approx(100_070.0, abs=1e-6)
