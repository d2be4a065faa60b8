"""`execution.fill_volume_cap`: a bar fills at most cap * its volume, the rest on later bars. By hand.

The helper bars have volume 1000 each; the scripted strategy buys 100 shares (fixed_shares).
"""

from __future__ import annotations

import pytest

from admf.core.errors import UserError

BARS = [(10, 11, 9, 10), (11, 12, 10, 11), (12, 13, 11, 12), (13, 14, 12, 13), (14, 15, 13, 14),
        (15, 16, 14, 15)]


def test_off_by_default_fills_all_at_once(bt) -> None:
    f = bt.run(BARS, "1").fills
    assert f[["bar", "qty", "price"]].values.tolist() == [[1, 100, 11]]


def test_a_market_order_fills_over_bars_at_their_opens(bt) -> None:
    # cap 3% of 1000 = 30 shares a bar: 30 at 11, 30 at 12, 30 at 13, the last 10 at 14
    res = bt.run(BARS, "1", execution={"fill_volume_cap": 0.03})
    f = res.fills
    assert f[["bar", "qty", "price"]].values.tolist() == [[1, 30, 11], [2, 30, 12], [3, 30, 13], [4, 10, 14]]
    assert list(f["exec_id"]) == [f"{f['client_order_id'][0]}-{n}" for n in (1, 2, 3, 4)]
    # the position is 100 shares bought for 30*11 + 30*12 + 30*13 + 10*14 = 1220; marked at the last close 15
    assert res.equity.iloc[-1] == pytest.approx(100_000 - 1220 + 100 * 15)


def test_a_signal_change_cancels_the_rest(bt) -> None:
    # long after bar 0 -> 30 filled at bar 1's open; flat after bar 1: the 70 left are cancelled,
    # the 30 held are sold at bar 2's open (12)
    res = bt.run(BARS, "1 0", execution={"fill_volume_cap": 0.03})
    f = res.fills
    assert f[["bar", "side", "qty", "price"]].values.tolist() == [[1, "buy", 30, 11], [2, "sell", 30, 12]]
    assert res.trades["pnl"].sum() == pytest.approx(30 * (12 - 11))


def test_close_rule_fills_the_capped_part_at_the_close_then_at_later_opens(bt) -> None:
    res = bt.run(BARS, "1", execution={"fill_volume_cap": 0.5, "fill": "close"})
    assert res.fills[["bar", "qty", "price"]].values.tolist() == [[0, 100, 10]]  # 500 of room: all
    res = bt.run(BARS, "1", execution={"fill_volume_cap": 0.06, "fill": "close"})
    assert res.fills[["bar", "qty", "price"]].values.tolist() == [[0, 60, 10], [1, 40, 11]]


@pytest.mark.parametrize("cap", [0, 1.5, -0.1])
def test_a_cap_outside_0_1_is_refused(bt, cap) -> None:
    with pytest.raises(UserError, match="fill_volume_cap"):
        bt.config("1", execution={"fill_volume_cap": cap})
