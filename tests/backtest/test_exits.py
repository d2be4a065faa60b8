"""Risk exits inside the bar: stop, target, trailing stop, holding time, gaps, and no re-entry.

The scripted strategy goes long (or short) at bar 1's close, so with the default next_open
rule the entry fills at bar 2's open, 100.0, for 100 shares.
"""

from __future__ import annotations

import pytest

from admf.core.enums import ExitReason
from admf.risk.exits import ExitRules, ExitState

HEAD = [(99.0, 100.0, 98.5, 99.5), (99.5, 100.5, 99.0, 100.0), (100.0, 101.0, 99.5, 100.5)]
CALM = [(100.5, 101.0, 99.8, 100.2), (100.2, 100.8, 99.6, 100.0), (100.0, 100.9, 99.7, 100.4),
        (100.4, 101.0, 99.9, 100.6)]


def _risk(**kw: float) -> dict:
    return {"risk": kw}


def _only_trade(res):
    assert len(res.trades) == 1
    return res.trades.iloc[0]


# long -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("bar3", "risk", "price", "reason"), [
    # stop 98 touched inside the bar: filled at the stop
    ((100.0, 100.5, 97.5, 98.5), {"stop_loss": 0.02}, 98.0, "stop_loss"),
    # the open gaps below the stop: filled at the open, not at the stop
    ((96.0, 97.0, 95.0, 96.5), {"stop_loss": 0.02}, 96.0, "stop_loss"),
    # target 103 touched inside the bar: filled at the target
    ((101.0, 103.5, 100.5, 102.0), {"take_profit": 0.03}, 103.0, "take_profit"),
    # the open gaps above the target: the better open
    ((104.0, 105.0, 103.5, 104.5), {"take_profit": 0.03}, 104.0, "take_profit"),
    # a bar touching both 98 and 103: the path is unknown, counted as the stop
    ((100.0, 104.0, 97.0, 101.0), {"stop_loss": 0.02, "take_profit": 0.03}, 98.0, "stop_loss"),
    # a gap through the stop with a target set as well
    ((95.0, 104.0, 94.0, 101.0), {"stop_loss": 0.02, "take_profit": 0.03}, 95.0, "stop_loss"),
])
def test_long_exit_prices(bt, bar3, risk, price, reason) -> None:
    res = bt.run([*HEAD, bar3, *CALM], "0 1 1 1 1 1 1 1", **_risk(**risk))
    t = _only_trade(res)
    assert (t.entry_price, t.exit_price, t.exit_reason) == (100.0, price, reason)
    assert (t.entry_bar, t.exit_bar) == (2, 3)
    assert t.pnl == pytest.approx((price - 100.0) * 100, abs=1e-9)
    # signal still long after the exit: no new order, flat to the end
    assert len(res.orders) == 2
    assert res.books["bt_scripted"]["positions"] == {}
    assert res.equity.iloc[-1] == pytest.approx(100_000 + t.pnl, abs=1e-6)


# short (mirror image) -------------------------------------------------------------------------------

@pytest.mark.parametrize(("bar3", "risk", "price", "reason"), [
    ((100.0, 102.5, 99.5, 101.0), {"stop_loss": 0.02}, 102.0, "stop_loss"),
    ((103.0, 104.0, 102.5, 103.5), {"stop_loss": 0.02}, 103.0, "stop_loss"),
    ((99.0, 99.5, 96.5, 98.0), {"take_profit": 0.03}, 97.0, "take_profit"),
    ((96.0, 96.5, 95.0, 95.5), {"take_profit": 0.03}, 96.0, "take_profit"),
    ((100.0, 103.0, 96.0, 99.0), {"stop_loss": 0.02, "take_profit": 0.03}, 102.0, "stop_loss"),
])
def test_short_exit_prices(bt, bar3, risk, price, reason) -> None:
    res = bt.run([*HEAD, bar3, *CALM], "0 -1 -1 -1 -1 -1 -1 -1", **_risk(**risk))
    t = _only_trade(res)
    assert (t.side, t.entry_price, t.exit_price, t.exit_reason) == ("short", 100.0, price, reason)
    assert t.pnl == pytest.approx((100.0 - price) * 100, abs=1e-9)
    assert list(res.fills["side"]) == ["sell", "buy"]


# slippage: a stop is a market exit, a target a resting limit -----------------------------------------

def test_stop_exit_pays_slippage_target_does_not(bt) -> None:
    slip = {"slippage": {"type": "fixed", "value": 0.05}}
    # entry: 100 + 0.05; stop 2% below the entry price 100.05 = 98.049, sold at 98.049 - 0.05
    res = bt.run([*HEAD, (100.0, 100.5, 97.5, 98.5), *CALM], "0 1 1 1 1 1 1 1",
                 execution=slip, risk={"stop_loss": 0.02})
    t = _only_trade(res)
    assert t.entry_price == pytest.approx(100.05, abs=1e-12)
    assert t.exit_price == pytest.approx(100.05 * 0.98 - 0.05, abs=1e-9)
    # target 3% above 100.05 = 103.0515, filled exactly there
    res = bt.run([*HEAD, (101.0, 103.5, 100.5, 102.0), *CALM], "0 1 1 1 1 1 1 1",
                 execution=slip, risk={"take_profit": 0.03})
    t = _only_trade(res)
    assert (t.exit_price, t.exit_reason) == (pytest.approx(100.05 * 1.03, abs=1e-9), "take_profit")


# when the guard starts ------------------------------------------------------------------------------

def test_next_open_entry_bar_is_guarded_after_its_open(bt) -> None:
    # filled at bar 2's open 100, the same bar then trades down to 97.5: stopped at 98 in bar 2
    bars = [HEAD[0], HEAD[1], (100.0, 100.5, 97.5, 99.0), *CALM]
    res = bt.run(bars, "0 1 1 1 1 1 1", risk={"stop_loss": 0.02})
    t = _only_trade(res)
    assert (t.entry_bar, t.exit_bar, t.bars_held, t.exit_price) == (2, 2, 0, 98.0)


def test_close_rule_entry_bar_range_is_before_the_entry(bt) -> None:
    # filled at bar 1's close 100; bar 1's low 97 happened before the fill and must not stop it
    bars = [HEAD[0], (99.5, 100.5, 97.0, 100.0), HEAD[2], *CALM]
    res = bt.run(bars, "0 1 1 1 1 0 0", risk={"stop_loss": 0.02}, execution={"fill": "close"})
    t = _only_trade(res)
    assert (t.entry_bar, t.entry_price, t.exit_reason) == (1, 100.0, "signal")
    assert (t.exit_bar, t.exit_price) == (5, CALM[2][3])


# trailing stop --------------------------------------------------------------------------------------

def test_trailing_stop_ratchets_only_after_the_bar_is_checked(bt) -> None:
    bars = [*HEAD,
            # trail from the high-water mark 101 (bar 2): 95.95. This bar's low 96 stays above it;
            # its high 110 then lifts the trail to 104.5. Had it lifted first, 96 would stop out.
            (101.0, 110.0, 96.0, 108.0),
            (108.0, 109.0, 104.0, 105.0),  # low 104 <= 104.5: out at 104.5
            *CALM]
    res = bt.run(bars, "0 1 1 1 1 1 1 1 1", risk={"trailing_stop": 0.05})
    t = _only_trade(res)
    assert (t.exit_bar, t.exit_reason) == (4, "trailing_stop")
    assert t.exit_price == pytest.approx(104.5, abs=1e-9)


def test_trailing_stop_gap_fills_at_the_open(bt) -> None:
    bars = [*HEAD, (101.0, 110.0, 100.0, 108.0), (103.0, 104.0, 102.0, 103.5), *CALM]
    res = bt.run(bars, "0 1 1 1 1 1 1 1 1", risk={"trailing_stop": 0.05})
    t = _only_trade(res)
    assert (t.exit_price, t.exit_reason) == (103.0, "trailing_stop")


def test_fixed_stop_wins_until_the_trail_passes_it(bt) -> None:
    # stop 98, trail from 101 = 95.95 (lower): a dip to 97.9 is a stop_loss, not a trailing stop
    res = bt.run([*HEAD, (100.0, 100.5, 97.9, 98.5), *CALM], "0 1 1 1 1 1 1 1",
                 risk={"stop_loss": 0.02, "trailing_stop": 0.05})
    assert _only_trade(res).exit_reason == "stop_loss"


def test_exit_state_levels_by_hand() -> None:
    st = ExitState(ExitRules(stop_loss=0.02, trailing_stop=0.05), 1, 100.0, 0)
    assert st.check(1, 101.0, 110.0, 98.5) is None  # 98.5 > stop 98; then the trail moves to 104.5
    assert st.extreme == 110.0
    price, reason, market = st.check(2, 108.0, 109.0, 104.0)
    assert (price, reason, market) == (pytest.approx(104.5), ExitReason.TRAILING_STOP, True)
    # short: trail 5% above the low-water mark
    st = ExitState(ExitRules(trailing_stop=0.05), -1, 100.0, 0)
    assert st.check(1, 99.0, 104.0, 90.0) is None  # 104 < 105; then the low 90 sets 94.5
    assert st.check(2, 92.0, 95.0, 91.0) == (pytest.approx(94.5), ExitReason.TRAILING_STOP, True)
    # target: a limit, not a market exit
    st = ExitState(ExitRules(take_profit=0.1), -1, 50.0, 0)
    assert st.check(1, 48.0, 49.0, 44.0) == (pytest.approx(45.0), ExitReason.TAKE_PROFIT, False)


# holding time ---------------------------------------------------------------------------------------

def test_max_holding_bars_exits_at_the_open(bt) -> None:
    res = bt.run([*HEAD, *CALM], "0 1 1 1 1 1 1", risk={"max_holding_bars": 2})
    t = _only_trade(res)
    # entered at bar 2's open, out at bar 4's open (CALM[1] opens at 100.2)
    assert (t.entry_bar, t.exit_bar, t.bars_held, t.exit_reason) == (2, 4, 2, "max_holding_bars")
    assert t.exit_price == 100.2


def test_gap_through_stop_comes_before_max_holding(bt) -> None:
    bars = [*HEAD, CALM[0], (97.0, 99.0, 96.0, 98.0), *CALM[2:]]
    res = bt.run(bars, "0 1 1 1 1 1 1", risk={"max_holding_bars": 2, "stop_loss": 0.02})
    t = _only_trade(res)
    assert (t.exit_bar, t.exit_price, t.exit_reason) == (4, 97.0, "stop_loss")


def test_max_holding_at_the_open_comes_before_a_stop_inside_the_bar(bt) -> None:
    bars = [*HEAD, CALM[0], (99.0, 99.5, 96.0, 98.0), *CALM[2:]]
    res = bt.run(bars, "0 1 1 1 1 1 1", risk={"max_holding_bars": 2, "stop_loss": 0.02})
    t = _only_trade(res)
    assert (t.exit_bar, t.exit_price, t.exit_reason) == (4, 99.0, "max_holding_bars")


# re-entry -------------------------------------------------------------------------------------------

STOP_BAR = (100.0, 100.5, 97.5, 98.5)  # stops a long entered at 100 with stop_loss 0.02


def test_no_reentry_while_the_signal_stays_unchanged(bt) -> None:
    res = bt.run([*HEAD, STOP_BAR, *CALM, *CALM], "0 " + "1 " * 11, risk={"stop_loss": 0.02})
    assert len(res.trades) == 1 and res.trades.iloc[0].exit_reason == "stop_loss"
    assert list(res.orders["reason"]) == ["signal", "stop_loss"]
    assert res.books["bt_scripted"]["positions"] == {}


def test_reentry_after_the_signal_goes_flat_and_long_again(bt) -> None:
    bars = [*HEAD, STOP_BAR, *CALM, *CALM]
    #          0 1 2 3 4 5 6 7 8 9 10
    script = "0 1 1 1 0 1 1 1 0 0 0"
    res = bt.run(bars, script, risk={"stop_loss": 0.02})
    # flat at bar 4 needs no order (already flat); long again at bar 5 -> bought at bar 6's open
    t = res.trades
    assert list(t["exit_reason"]) == ["stop_loss", "signal"]
    assert list(t["entry_bar"]) == [2, 6] and list(t["exit_bar"]) == [3, 9]
    assert list(t["entry_price"]) == [100.0, CALM[2][0]]
    assert list(t["exit_price"]) == [98.0, CALM[1][0]]
    assert len(res.orders) == 4


def test_reentry_short_after_a_long_stop(bt) -> None:
    bars = [*HEAD, STOP_BAR, *CALM, *CALM]
    script = "0 1 1 1 -1 -1 -1 0 0 0 0"
    res = bt.run(bars, script, risk={"stop_loss": 0.02})
    t = res.trades
    assert list(t["side"]) == ["long", "short"]
    assert list(t["exit_reason"]) == ["stop_loss", "signal"]
    # short: sold 100 at bar 5's open (CALM[1]), bought back at bar 8's open (CALM[0] again)
    assert (t.iloc[1].entry_price, t.iloc[1].exit_price, t.iloc[1].qty) == (CALM[1][0], CALM[0][0], 100.0)
    assert (t.iloc[1].entry_bar, t.iloc[1].exit_bar) == (5, 8)


def test_a_flip_rearms_the_guard_for_the_new_side(bt) -> None:
    bars = [*HEAD, (100.5, 101.0, 99.8, 100.2), (101.0, 101.5, 100.5, 101.0), (101.5, 103.5, 101.0, 103.0),
            (103.0, 104.0, 102.0, 103.0)]
    res = bt.run(bars, "0 1 1 -1 -1 -1 -1", risk={"stop_loss": 0.02})
    t = res.trades
    # long 100 -> short at bar 4's open 101 (one sell of 200); the short's stop is 101 * 1.02 = 103.02
    assert list(zip(t["side"], t["exit_reason"], t["exit_bar"], strict=True)) == [
        ("long", "signal", 4), ("short", "stop_loss", 5)]
    assert t.iloc[1].entry_price == 101.0
    assert t.iloc[1].exit_price == pytest.approx(103.02, abs=1e-9)
