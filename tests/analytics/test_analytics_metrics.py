"""compute_metrics against values worked out by hand in each test."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from admf.analytics.metrics import METRIC_KEYS, compute_metrics, metrics_from_json, metrics_to_json
from admf.core.errors import DataError, UserError

NS_PER_DAY = 86_400 * 10**9


def daily(values: list[float], start: str = "2024-01-02") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D", tz="UTC"), dtype=float)


def at_days(values: list[float], days: list[float]) -> pd.Series:
    base = pd.Timestamp("2024-01-01", tz="UTC")
    return pd.Series(values, index=pd.DatetimeIndex([base + pd.Timedelta(days=d) for d in days]), dtype=float)


def trades_frame(pnl, qty, entry_price, entry_time=None, exit_time=None) -> pd.DataFrame:
    n = len(pnl)
    t0 = pd.Timestamp("2024-01-02", tz="UTC")
    return pd.DataFrame(
        {
            "entry_time": entry_time if entry_time is not None else [t0] * n,
            "exit_time": exit_time if exit_time is not None else [t0] * n,
            "symbol": ["SPY"] * n,
            "side": ["long"] * n,
            "qty": qty,
            "entry_price": entry_price,
            "exit_price": entry_price,
            "pnl": pnl,
            "costs": [0.0] * n,
            "bars_held": [1] * n,
            "exit_reason": ["signal"] * n,
            "strategy_id": ["s"] * n,
        }
    )


# Returns +10%, -10%, +10%, +10% from an initial 100: mean 0.05, sample std 0.1
# (squared deviations 0.0025*3 + 0.0225 = 0.03, / 3 = 0.01), downside sqrt(0.01/4) = 0.05.
FOUR_BARS = [110.0, 99.0, 108.9, 119.79]


def test_return_and_risk_metrics_by_hand():
    m = compute_metrics(daily(FOUR_BARS), pd.DataFrame(), initial_capital=100.0, periods_per_year=4)
    assert m["bars"] == 4
    assert m["final_equity"] == pytest.approx(119.79)
    assert m["total_return"] == pytest.approx(0.1979)
    assert m["years"] == pytest.approx(1.0)
    assert m["cagr"] == pytest.approx(0.1979)
    assert m["volatility"] == pytest.approx(0.1 * 2)
    assert m["sharpe"] == pytest.approx(0.05 / 0.1 * 2)
    assert m["sortino"] == pytest.approx(0.05 / 0.05 * 2)
    assert m["max_drawdown"] == pytest.approx(0.1)
    # Peak 110 at bar 0, 108.9 is still below it, recovered at bar 3.
    assert m["max_drawdown_duration_bars"] == 3
    assert m["max_drawdown_duration_days"] == pytest.approx(3.0)
    assert m["calmar"] == pytest.approx(0.1979 / 0.1)
    assert m["start"] == "2024-01-02T00:00:00+00:00"
    assert m["end"] == "2024-01-05T00:00:00+00:00"
    assert m["periods_per_year"] == 4.0


def test_risk_free_rate_is_compounded_per_period():
    # rf_p = 1.01 ** 4 ... so that the per-bar rate is exactly 1%: excess 0.09, -0.11, 0.09, 0.09.
    rf = 1.01**4 - 1
    m = compute_metrics(daily(FOUR_BARS), None, initial_capital=100.0, periods_per_year=4, risk_free=rf)
    assert m["sharpe"] == pytest.approx(0.04 / 0.1 * 2)
    downside = math.sqrt(0.11**2 / 4)
    assert m["sortino"] == pytest.approx(0.04 / downside * 2)


def test_cagr_uses_bars_over_periods_per_year():
    # 126 daily bars = half a trading year; +21% over half a year is 1.21 ** 2 - 1 a year.
    values = [100.0] * 125 + [121.0]
    m = compute_metrics(daily(values), None, initial_capital=100.0, periods_per_year=252)
    assert m["years"] == pytest.approx(0.5)
    assert m["cagr"] == pytest.approx(0.4641)


def test_first_bar_return_is_against_initial_capital():
    # Equity starts below the initial capital: that first loss is a drawdown from 100.
    m = compute_metrics(daily([95.0, 97.0, 101.0]), None, initial_capital=100.0, periods_per_year=252)
    assert m["max_drawdown"] == pytest.approx(0.05)
    # The initial capital is the peak "one bar before" bar 0; recovery at bar 2.
    assert m["max_drawdown_duration_bars"] == 3
    assert m["max_drawdown_duration_days"] == pytest.approx(2.0)
    r = np.array([95 / 100, 97 / 95, 101 / 97]) - 1
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))


def test_drawdown_duration_bars_and_days_are_each_the_longest_in_their_unit():
    # Spell A: bar 0 (100) -> bar 2 (101): 2 bars over 10 days.
    # Spell B: bar 2 (101) -> bar 6, never recovered: 4 bars over 1.3 days.
    eq = at_days([100, 95, 101, 100, 99, 98, 97], [0, 1, 10, 11, 11.1, 11.2, 11.3])
    m = compute_metrics(eq, None, initial_capital=100.0, periods_per_year=252)
    assert m["max_drawdown_duration_bars"] == 4
    assert m["max_drawdown_duration_days"] == pytest.approx(10.0)
    assert m["max_drawdown"] == pytest.approx(5 / 100)


def test_trade_metrics_by_hand():
    trades = trades_frame(
        pnl=[50.0, -20.0, 30.0, 0.0, -10.0],
        qty=[10.0, 5.0, 10.0, 1.0, -2.0],
        entry_price=[100.0, 40.0, 50.0, 10.0, 25.0],
    )
    m = compute_metrics(daily([100.0, 150.0]), trades, initial_capital=100.0, periods_per_year=252)
    assert m["trade_count"] == 5
    assert m["win_rate"] == pytest.approx(2 / 5)
    assert m["profit_factor"] == pytest.approx(80 / 30)
    assert m["expectancy"] == pytest.approx(50 / 5)
    assert m["avg_win"] == pytest.approx(40.0)
    assert m["avg_loss"] == pytest.approx(-15.0)
    # Returns on notional: 50/1000, -20/200, 30/500, 0/10, -10/50.
    assert m["avg_trade_return"] == pytest.approx((0.05 - 0.1 + 0.06 + 0.0 - 0.2) / 5)


def test_exposure_from_trade_times():
    eq = daily([100.0] * 10)
    idx = eq.index
    # [1, 4) -> bars 1,2,3; [3, 6) -> 3,4,5; entered and left on bar 8 -> bar 8. Union: 6 of 10.
    trades = trades_frame(
        pnl=[1.0, 1.0, 1.0],
        qty=[1.0, 1.0, 1.0],
        entry_price=[1.0, 1.0, 1.0],
        entry_time=[idx[1], idx[3], idx[8]],
        exit_time=[idx[4], idx[6], idx[8]],
    )
    m = compute_metrics(eq, trades, initial_capital=100.0, periods_per_year=252)
    assert m["exposure"] == pytest.approx(0.6)
    # Same trades with times as int ns since epoch, the core's representation.
    as_ns = trades.assign(
        entry_time=[t.value for t in trades["entry_time"]], exit_time=[t.value for t in trades["exit_time"]]
    )
    m_ns = compute_metrics(eq, as_ns, initial_capital=100.0, periods_per_year=252)
    assert m_ns["exposure"] == pytest.approx(0.6)


def test_exposure_from_positions():
    eq = daily([100.0] * 8)
    pos = pd.Series([0, 1, 1, 0, -2, 0, 0, 3.0], index=eq.index)
    m = compute_metrics(eq, None, initial_capital=100.0, periods_per_year=252, positions=pos)
    assert m["exposure"] == pytest.approx(4 / 8)
    # Sparse positions (only the changes) are carried forward: long from bar 2 to bar 5.
    sparse = pd.Series([1.0, 0.0], index=[eq.index[2], eq.index[6]])
    m2 = compute_metrics(eq, None, initial_capital=100.0, periods_per_year=252, positions=sparse)
    assert m2["exposure"] == pytest.approx(4 / 8)


def test_flat_equity_without_trades():
    m = compute_metrics(daily([100.0] * 6), pd.DataFrame(), initial_capital=100.0, periods_per_year=252)
    assert m["total_return"] == 0.0
    assert m["volatility"] == 0.0
    assert m["sharpe"] is None and m["sortino"] is None  # 0 / 0
    assert m["max_drawdown"] == 0.0
    assert m["max_drawdown_duration_bars"] == 0
    assert m["calmar"] is None  # cagr 0 over drawdown 0
    assert m["trade_count"] == 0
    for key in ("win_rate", "profit_factor", "expectancy", "avg_trade_return", "avg_win", "avg_loss"):
        assert m[key] is None
    assert m["exposure"] == 0.0


def test_zero_denominators_take_the_sign_of_the_numerator():
    # Flat equity with a positive risk-free rate: mean excess < 0 over zero std.
    flat = compute_metrics(daily([100.0] * 6), None, initial_capital=100.0, periods_per_year=252, risk_free=0.05)
    assert flat["sharpe"] == -math.inf
    # Constant growth: std ~ 0 (rounding only), no downside, no drawdown.
    growth = daily([100.0 * 1.01**k for k in range(1, 8)])
    m = compute_metrics(growth, None, initial_capital=100.0, periods_per_year=252)
    assert m["sharpe"] == math.inf
    assert m["sortino"] == math.inf
    assert m["calmar"] == math.inf
    assert m["max_drawdown"] == 0.0


def test_profit_factor_degenerate_cases():
    eq = daily([100.0, 101.0])
    only_wins = trades_frame(pnl=[5.0, 3.0], qty=[1.0, 1.0], entry_price=[10.0, 10.0])
    m = compute_metrics(eq, only_wins, initial_capital=100.0, periods_per_year=252)
    assert m["profit_factor"] == math.inf
    assert m["avg_loss"] is None
    assert m["win_rate"] == 1.0
    zeros = trades_frame(pnl=[0.0, 0.0], qty=[1.0, 1.0], entry_price=[0.0, 0.0])
    z = compute_metrics(eq, zeros, initial_capital=100.0, periods_per_year=252)
    assert z["profit_factor"] is None
    assert z["win_rate"] == 0.0
    assert z["avg_win"] is None and z["avg_loss"] is None
    assert z["avg_trade_return"] is None  # no entry notional to divide by
    only_losses = trades_frame(pnl=[-5.0], qty=[1.0], entry_price=[10.0])
    assert compute_metrics(eq, only_losses, initial_capital=100.0, periods_per_year=252)["profit_factor"] == 0.0


def test_empty_and_single_bar_equity():
    empty = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float)
    m = compute_metrics(empty, pd.DataFrame(), initial_capital=1000.0)
    assert m["bars"] == 0
    assert m["final_equity"] == 1000.0 and m["total_return"] == 0.0
    assert m["sharpe"] is None and m["max_drawdown"] is None and m["start"] is None
    one = compute_metrics(daily([1100.0]), None, initial_capital=1000.0)
    assert one["total_return"] == pytest.approx(0.1)
    assert one["periods_per_year"] is None  # one bar has no frequency
    assert one["cagr"] is None and one["sharpe"] is None
    assert one["max_drawdown"] == 0.0


def test_ruined_account_does_not_produce_nan():
    m = compute_metrics(daily([50.0, 0.0, -10.0, 5.0]), None, initial_capital=100.0, periods_per_year=252)
    assert m["cagr"] == -1.0
    assert m["total_return"] == pytest.approx(-0.95)
    # Returns: -0.5, -1, then 0, 0 once equity is not positive.
    r = np.array([-0.5, -1.0, 0.0, 0.0])
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    assert m["max_drawdown"] == pytest.approx(1.1)
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in m.values())


def test_keys_and_types():
    m = compute_metrics(daily(FOUR_BARS), None, initial_capital=100.0)
    assert tuple(m) == METRIC_KEYS
    assert m["periods_per_year"] == 252.0  # inferred from daily bars of 2024, a year of 252 XNYS sessions
    for key, value in m.items():
        assert value is None or type(value) in (int, float, str), key


def test_json_is_strict_and_round_trips():
    eq = daily([100.0 * 1.01**k for k in range(1, 8)])
    only_wins = trades_frame(pnl=[5.0], qty=[1.0], entry_price=[10.0])
    m = compute_metrics(eq, only_wins, initial_capital=100.0, periods_per_year=252)
    text = metrics_to_json(m)

    def reject(token: str) -> float:
        raise AssertionError(f"non-standard JSON constant {token}")

    data = json.loads(text, parse_constant=reject)
    assert data["sharpe"] == "inf" and data["profit_factor"] == "inf"
    assert data["avg_loss"] is None
    back = metrics_from_json(text)
    assert back == m
    assert json.loads(metrics_to_json({"x": float("nan"), "y": np.float64(2.5), "z": np.int64(3)})) == {
        "x": None,
        "y": 2.5,
        "z": 3,
    }


def test_bad_input_raises_user_errors():
    with pytest.raises(UserError, match="initial_capital"):
        compute_metrics(daily([1.0, 2.0]), None, initial_capital=0)
    with pytest.raises(DataError, match="equity"):
        compute_metrics(daily([1.0, float("nan")]), None, initial_capital=1.0)
    with pytest.raises(DataError, match="DatetimeIndex"):
        compute_metrics(pd.Series([1.0, 2.0]), None, initial_capital=1.0)
    bad = trades_frame(pnl=[1.0], qty=[1.0], entry_price=[1.0]).drop(columns=["entry_price"])
    with pytest.raises(DataError, match="entry_price"):
        compute_metrics(daily([1.0, 2.0]), bad, initial_capital=1.0)
    with pytest.raises(UserError, match="periods_per_year"):
        compute_metrics(daily([1.0, 2.0]), None, initial_capital=1.0, periods_per_year=-1)


def test_tz_naive_index_is_utc():
    naive = pd.Series(FOUR_BARS, index=pd.date_range("2024-01-02", periods=4, freq="D"))
    m = compute_metrics(naive, None, initial_capital=100.0, periods_per_year=4)
    assert m["start"] == "2024-01-02T00:00:00+00:00"
    assert m["sharpe"] == pytest.approx(1.0)
