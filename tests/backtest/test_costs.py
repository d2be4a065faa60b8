"""Commission and slippage models: exact numbers by hand, alone and through a whole backtest."""

from __future__ import annotations

import pytest

from admf.core.enums import OrderType, Side
from admf.core.events import Fill, OrderRequest
from admf.execution.costs import Commission, Slippage
from admf.execution.simulated import SimulatedBroker

# slippage -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("slip", "buy", "sell"), [
    (Slippage(), 100.0, 100.0),
    (Slippage("bps", 5), 100.05, 99.95),  # 100 * (1 +- 5e-4)
    (Slippage("bps", 25), 100.25, 99.75),
    (Slippage("fixed", 0.02), 100.02, 99.98),
])
def test_slippage_is_always_against_the_trader(slip: Slippage, buy: float, sell: float) -> None:
    assert slip.apply(100.0, 1) == pytest.approx(buy, abs=1e-12)
    assert slip.apply(100.0, -1) == pytest.approx(sell, abs=1e-12)


def test_bps_slippage_scales_with_price_fixed_does_not() -> None:
    assert Slippage("bps", 10).apply(40.0, 1) == pytest.approx(40.04, abs=1e-12)
    assert Slippage("fixed", 0.03).apply(40.0, 1) == pytest.approx(40.03, abs=1e-12)
    assert Slippage("fixed", 0.03).apply(400.0, -1) == pytest.approx(399.97, abs=1e-12)


# commission -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("comm", "qty", "price", "fee"), [
    (Commission(), 500, 20.0, 0.0),
    # per share: 0.005/share, optional minimum and maximum per fill in dollars
    (Commission("per_share", 0.005), 300, 20.0, 1.5),
    (Commission("per_share", 0.005, minimum=1.0), 100, 20.0, 1.0),  # 0.50 raised to the minimum
    (Commission("per_share", 0.005, minimum=1.0), 1000, 20.0, 5.0),
    (Commission("per_share", 0.005, minimum=1.0, maximum=3.0), 1000, 20.0, 3.0),  # 5.00 capped
    (Commission("per_share", 0.005, minimum=1.0, maximum=3.0), 400, 20.0, 2.0),  # between: untouched
    # percent of traded value (rate is a fraction: 0.001 = 0.1%)
    (Commission("percent", 0.001), 100, 50.0, 5.0),
    (Commission("percent", 0.001, minimum=7.0), 100, 50.0, 7.0),
    (Commission("percent", 0.001, maximum=4.0), 100, 50.0, 4.0),
    (Commission("percent", 0.0005), 30, 12.0, 0.18),
    # fixed per fill, whatever the size
    (Commission("fixed", 1.25), 1, 10.0, 1.25),
    (Commission("fixed", 1.25), 10_000, 300.0, 1.25),
])
def test_commission_models(comm: Commission, qty: float, price: float, fee: float) -> None:
    assert comm.cost(qty, price) == pytest.approx(fee, abs=1e-12)


def test_broker_charges_commission_on_the_slipped_price() -> None:
    fills: list[Fill] = []
    b = SimulatedBroker(lambda f, bar: fills.append(f), slippage=Slippage("bps", 10),
                        commission=Commission("percent", 0.01))
    b.submit(OrderRequest("a", "s", "X", Side.BUY, 10), 0, 0, 100.0)
    b.submit(OrderRequest("b", "s", "X", Side.SELL, 10, OrderType.LIMIT, limit_price=99.0), 0, 0, 100.0)
    b.on_bar(0, 1, 1, 100.0, 101.0, 98.0, 99.0)
    buy, sell = fills
    assert buy.price == pytest.approx(100.1, abs=1e-12)
    assert buy.commission == pytest.approx(0.01 * 10 * 100.1, abs=1e-12)  # 10.01
    assert sell.price == 100.0  # the limit order got the open, no slippage
    assert sell.commission == pytest.approx(10.0, abs=1e-12)


# through a whole backtest ---------------------------------------------------------------------------

# long 100 at bar 2, flip to short 100 at bar 4 (two sells of 100: close, then open), cover at bar 6
FLIP_BARS = [(100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0), (101.0, 102.0, 100.0, 101.5),
             (102.0, 103.0, 101.0, 102.0), (103.0, 104.0, 102.0, 103.0), (102.0, 103.0, 101.0, 101.0),
             (100.0, 101.0, 99.0, 100.0)]
FLIP_SCRIPT = "0 1 1 -1 -1 0 0"


def test_backtest_with_per_share_commission_and_bps_slippage(bt) -> None:
    res = bt.run(FLIP_BARS, FLIP_SCRIPT, execution={
        "slippage": {"type": "bps", "value": 10},
        "commission": {"type": "per_share", "rate": 0.008, "min": 1.0},
    })
    # fills: buy 100 @ 101*1.001 = 101.101, fee max(0.8, 1) = 1.0
    #        sell 100 @ 103*0.999 = 102.897, fee 1.0 (closes the long)
    #        sell 100 @ 102.897, fee 1.0 (opens the short; the minimum applies per order)
    #        buy 100 @ 100*1.001 = 100.1,   fee max(0.8, 1) = 1.0
    f = res.fills
    assert list(f["side"]) == ["buy", "sell", "sell", "buy"]
    assert list(f["qty"]) == [100.0, 100.0, 100.0, 100.0]
    assert list(f["price"]) == pytest.approx([101.101, 102.897, 102.897, 100.1], abs=1e-9)
    assert list(f["commission"]) == pytest.approx([1.0, 1.0, 1.0, 1.0], abs=1e-12)
    t = res.trades
    assert list(t["side"]) == ["long", "short"]
    # long: (102.897 - 101.101) * 100 = 179.6, costs 1.0 + 1.0
    # short: (102.897 - 100.1) * 100 = 279.7, costs 1.0 + 1.0
    assert list(t["gross_pnl"]) == pytest.approx([179.6, 279.7], abs=1e-9)
    assert list(t["costs"]) == pytest.approx([2.0, 2.0], abs=1e-12)
    assert list(t["pnl"]) == pytest.approx([177.6, 277.7], abs=1e-9)
    assert res.equity.iloc[-1] == pytest.approx(100_000 + 177.6 + 277.7, abs=1e-6)
    assert res.equity.iloc[-1] == pytest.approx(100_000 + t["pnl"].sum(), abs=1e-6)
    assert t["costs"].sum() == pytest.approx(f["commission"].sum(), abs=1e-12)
    assert res.books["bt_scripted"]["cash"] == pytest.approx(100_455.3, abs=1e-6)


@pytest.mark.parametrize(("execution", "entry", "exit_", "fees"), [
    ({}, 50.0, 55.0, (0.0, 0.0)),
    ({"commission": {"type": "percent", "rate": 0.001}}, 50.0, 55.0, (5.0, 5.5)),
    ({"commission": {"type": "percent", "rate": 0.001, "min": 5.2, "max": 5.4}}, 50.0, 55.0, (5.2, 5.4)),
    ({"commission": {"type": "fixed", "rate": 2.5}}, 50.0, 55.0, (2.5, 2.5)),
    ({"commission": {"type": "per_share", "rate": 0.01, "max": 0.75}}, 50.0, 55.0, (0.75, 0.75)),
    ({"slippage": {"type": "fixed", "value": 0.1}}, 50.1, 54.9, (0.0, 0.0)),
    ({"slippage": {"type": "bps", "value": 50}, "commission": {"type": "percent", "rate": 0.002}},
     50.25, 54.725, (0.002 * 100 * 50.25, 0.002 * 100 * 54.725)),
])
def test_one_round_trip_per_model(bt, execution: dict, entry: float, exit_: float,
                                  fees: tuple[float, float]) -> None:
    bars = [(49.0, 50.0, 48.0, 49.5), (49.5, 50.5, 49.0, 50.0), (50.0, 51.0, 49.5, 50.5),
            (52.0, 53.0, 51.0, 52.5), (55.0, 56.0, 54.0, 55.5)]
    res = bt.run(bars, "0 1 1 0 0", execution=execution)  # buy 100 at bar 2's open 50, sell at bar 4's 55
    f = res.fills
    assert list(f["price"]) == pytest.approx([entry, exit_], abs=1e-9)
    assert list(f["commission"]) == pytest.approx(list(fees), abs=1e-9)
    t = res.trades.iloc[0]
    gross = (exit_ - entry) * 100
    assert t.gross_pnl == pytest.approx(gross, abs=1e-9)
    assert t.costs == pytest.approx(sum(fees), abs=1e-9)
    assert t.pnl == pytest.approx(gross - sum(fees), abs=1e-9)
    assert res.equity.iloc[-1] == pytest.approx(100_000 + gross - sum(fees), abs=1e-6)
    assert res.equity.iloc[-1] == pytest.approx(100_000 + res.trades["pnl"].sum(), abs=1e-6)
    assert res.trades["costs"].sum() == pytest.approx(f["commission"].sum(), abs=1e-12)
