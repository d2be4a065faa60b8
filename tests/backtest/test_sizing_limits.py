"""Position sizing and pre-trade limits, by hand, alone and through backtests."""

from __future__ import annotations

import math

import pytest

from admf.risk.limits import Limits
from admf.risk.sizing import Sizing

# sizing ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("sizing", "price", "equity", "atr", "qty"), [
    (Sizing("fixed_shares", shares=100), 40.0, 1e5, math.nan, 100),
    (Sizing("fixed_shares", shares=7.5), 40.0, 1e5, math.nan, 7),
    (Sizing("fixed_shares", shares=7.5, fractional=True), 40.0, 1e5, math.nan, 7.5),
    (Sizing("notional", amount=10_000), 33.0, 1e5, math.nan, 303),  # 303.03
    (Sizing("notional", amount=10_000, fractional=True), 33.0, 1e5, math.nan, 303.030303),
    (Sizing("notional", amount=0.3), 0.1, 1e5, math.nan, 3),  # 2.9999999999999996 in floats: still 3
    (Sizing("percent_equity", percent=0.1), 40.0, 100_000, math.nan, 250),
    (Sizing("percent_equity", percent=0.1), 30.0, 100_000, math.nan, 333),  # 333.3
    (Sizing("percent_equity", percent=2.0), 50.0, 10_000, math.nan, 400),  # leverage 2
    (Sizing("percent_equity", percent=0.5), 50.0, -5_000, math.nan, 0),  # no equity, no trade
    # risk 1% of 100 000 = 1 000 per trade over a stop of 2 ATR = 5.0: 200 shares
    (Sizing("atr", risk_per_trade=0.01, atr_multiple=2.0), 80.0, 100_000, 2.5, 200),
    (Sizing("atr", risk_per_trade=0.02, atr_multiple=3.0), 80.0, 50_000, 0.7, 476),  # 1000 / 2.1 = 476.19
    (Sizing("atr"), 80.0, 100_000, math.nan, 0),  # no ATR yet
    (Sizing("atr"), 80.0, 100_000, 0.0, 0),
])
def test_sizing(sizing: Sizing, price: float, equity: float, atr: float, qty: float) -> None:
    assert sizing.quantity(price, equity, atr) == pytest.approx(qty, abs=1e-9)


def test_unknown_sizing_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown sizing"):
        Sizing("kelly").quantity(10.0, 1e5)


# limits ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("limits", "target", "price", "equity", "other", "fractional", "out"), [
    (Limits(), 500, 40.0, 1e5, 0.0, False, 500),
    (Limits(max_position=150), 200, 40.0, 1e5, 0.0, False, 150),
    (Limits(max_position=150), -200, 40.0, 1e5, 0.0, False, -150),
    (Limits(max_position=150), 100, 40.0, 1e5, 0.0, False, 100),
    (Limits(max_notional=5_000), 200, 30.0, 1e5, 0.0, False, 166),  # 166.67 shares
    (Limits(max_notional=5_000), -200, 30.0, 1e5, 0.0, True, -166.66666666666666),
    # gross exposure: 1.0 x 10 000 equity, 4 000 held elsewhere: 6 000 left = 120 shares at 50
    (Limits(max_gross_exposure=1.0), 200, 50.0, 10_000, 4_000, False, 120),
    (Limits(max_gross_exposure=1.0), 200, 50.0, 10_000, 12_000, False, 0),  # already over: nothing
    (Limits(max_gross_exposure=2.0), -300, 50.0, 10_000, 4_000, False, -300),  # room 16 000 = 320
    # the tightest limit wins
    (Limits(max_position=150, max_notional=7_000, max_gross_exposure=0.5), 1000, 50.0, 20_000, 0, False, 140),
    (Limits(max_position=150, max_notional=7_000, max_gross_exposure=0.5), 1000, 50.0, 10_000, 0, False, 100),
])
def test_limits_clip(limits: Limits, target: float, price: float, equity: float, other: float,
                     fractional: bool, out: float) -> None:
    assert limits.clip(target, price, equity, other, fractional) == pytest.approx(out, abs=1e-9)


# through backtests ----------------------------------------------------------------------------------

BARS = [(40.0, 41.0, 39.0, 40.0), (40.0, 41.0, 39.0, 40.0), (41.0, 42.0, 40.0, 41.5), (42.0, 43.0, 41.0, 42.0),
        (42.0, 43.0, 41.0, 42.5), (43.0, 44.0, 42.0, 43.0), (43.0, 44.0, 42.0, 43.5)]


def _qtys(res) -> list[tuple[str, float]]:
    return list(zip(res.fills["side"], res.fills["qty"], strict=True))


@pytest.mark.parametrize(("sizing", "risk", "qty"), [
    ({"type": "percent_equity", "percent": 0.5}, {}, 1250),  # 50 000 / close 40
    ({"type": "notional", "amount": 9_000}, {}, 225),
    ({"type": "fixed_shares", "shares": 500}, {"max_position": 300}, 300),
    ({"type": "fixed_shares", "shares": 500}, {"max_notional": 5_000}, 125),  # 5 000 / 40
    ({"type": "fixed_shares", "shares": 2_000}, {"max_gross_exposure": 0.5}, 1250),  # 50 000 / 40
    ({"type": "percent_equity", "percent": 3.0}, {"max_gross_exposure": 2.0}, 5000),  # 200 000 / 40
])
def test_entry_size_is_decided_on_the_signal_bars_close(bt, sizing, risk, qty) -> None:
    res = bt.run(BARS, "0 1 1 1 1 1 1", risk={**risk, "sizing": sizing})
    assert _qtys(res) == [("buy", qty)]
    assert res.fills["price"].iloc[0] == 41.0  # filled at bar 2's open, sized on bar 1's close


def test_entry_level_sizing_overrides_the_top_level(bt) -> None:
    res = bt.run(BARS, strategies=[{"bt_scripted": {"script": "0 1 1 1 1 1 1"},
                                    "sizing": {"type": "fixed_shares", "shares": 42}}],
                 risk={"sizing": {"type": "fixed_shares", "shares": 7}})
    assert _qtys(res) == [("buy", 42)]


def test_flip_is_limited_on_the_new_side(bt) -> None:
    res = bt.run(BARS, "0 1 1 -1 -1 0 0", risk={"max_position": 300, "sizing": {"type": "fixed_shares",
                                                                                  "shares": 500}})
    # long 300, then the flip as two sells of 300 (close, then open) to reach -300, then a buy of 300
    assert _qtys(res) == [("buy", 300), ("sell", 300), ("sell", 300), ("buy", 300)]


def test_percent_equity_sizes_on_the_equity_after_earlier_trades(bt) -> None:
    res = bt.run(BARS, "0 1 1 0 1 1 1", risk={"sizing": {"type": "percent_equity", "percent": 0.5}})
    # 1250 bought at 41 (bar 2), sold at 42 (bar 4): +1 250. At bar 4's close 42.5, equity 101 250:
    # 50 625 / 42.5 = 1191.17 -> 1191, bought at bar 5's open 43
    assert _qtys(res) == [("buy", 1250), ("sell", 1250), ("buy", 1191)]
    assert res.trades["pnl"].iloc[0] == pytest.approx(1_250.0)


def test_atr_sizing_through_a_backtest(bt) -> None:
    # every bar: open = close = 100, high 101, low 99, so every true range is 2 and ATR(3) = 2
    # once ready (after 1 + 3 bars). 1% of 100 000 over 2 ATR = 4.0: 250 shares.
    bars = [(100.0, 101.0, 99.0, 100.0)] * 8
    sizing = {"type": "atr", "atr_period": 3, "atr_multiple": 2.0, "risk_per_trade": 0.01}
    res = bt.run(bars, "0 0 0 1 1 1 1 1", risk={"sizing": sizing})
    assert _qtys(res) == [("buy", 250)]
    # a signal before the ATR is ready sizes to nothing: no order, and the unchanged signal never retries
    res = bt.run(bars, "0 0 1 1 1 1 1 1", risk={"sizing": sizing})
    assert res.fills.empty and res.orders.empty


def test_gross_exposure_counts_the_books_other_symbols(bt) -> None:
    bars = {
        "A": [(100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0), (100.0, 106.0, 99.0, 105.0),
              (105.0, 106.0, 104.0, 105.0)],
        "B": [(50.0, 51.0, 49.0, 50.0), (50.0, 51.0, 49.0, 50.0), (50.0, 51.0, 49.0, 50.0),
              (50.5, 51.0, 49.0, 50.0)],
    }
    res = bt.run(bars, "A=0 1 1 1|B=0 0 1 1",
                 risk={"max_gross_exposure": 1.5, "sizing": {"type": "percent_equity", "percent": 0.8}})
    # A at t1: 0.8 * 100 000 / 100 = 800, filled at t2's open 100 (cash 20 000).
    # B at t2: equity 20 000 + 800 * 105 = 104 000; wants 0.8 * 104 000 / 50 = 1 664;
    # room 1.5 * 104 000 - 800 * 105 = 72 000 -> 1 440 shares, filled at t3's open 50.5
    f = res.fills
    assert list(zip(f["symbol"], f["qty"], f["price"], strict=True)) == [("A", 800, 100.0), ("B", 1440, 50.5)]
    assert res.books["bt_scripted"]["positions"] == {"A": 800.0, "B": 1440.0}
