"""Metrics that backtesting.py defines the same way, on a real SPY run made by backtesting.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from admf.analytics.metrics import compute_metrics

bt = pytest.importorskip("backtesting")


def _sma(values: np.ndarray, n: int) -> np.ndarray:
    return pd.Series(values).rolling(n).mean().to_numpy()


class SmaCross(bt.Strategy):
    def init(self) -> None:
        self.fast = self.I(_sma, self.data.Close, 10)
        self.slow = self.I(_sma, self.data.Close, 40)

    def next(self) -> None:
        from backtesting.lib import crossover

        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell()


def test_matches_backtesting_py_on_spy_15m(shared_data):
    frame = pd.read_csv(shared_data / "SPY_15m.csv")
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp"), utc=True))
    frame.columns = [c.capitalize() for c in frame.columns]
    stats = bt.Backtest(frame, SmaCross, cash=100_000, commission=0.0, finalize_trades=True).run()

    equity = stats["_equity_curve"]["Equity"]
    t = stats["_trades"]
    trades = pd.DataFrame(
        {
            "entry_time": t["EntryTime"],
            "exit_time": t["ExitTime"],
            "symbol": "SPY",
            "side": np.where(t["Size"] > 0, "long", "short"),
            "qty": t["Size"].abs().astype(float),
            "entry_price": t["EntryPrice"],
            "exit_price": t["ExitPrice"],
            "pnl": t["PnL"],
            "costs": t["Commission"],
            "bars_held": t["ExitBar"] - t["EntryBar"],
            "exit_reason": "signal",
            "strategy_id": "sma_cross",
        }
    )
    m = compute_metrics(equity, trades, initial_capital=100_000.0)

    assert m["trade_count"] == stats["# Trades"] > 50
    assert m["final_equity"] == pytest.approx(stats["Equity Final [$]"])
    assert m["total_return"] * 100 == pytest.approx(stats["Return [%]"])
    assert m["max_drawdown"] * 100 == pytest.approx(-stats["Max. Drawdown [%]"])
    # Both measure a drawdown from its peak bar to its recovery bar (or the last bar).
    assert m["max_drawdown_duration_days"] == pytest.approx(
        stats["Max. Drawdown Duration"] / pd.Timedelta(days=1), abs=1 / 1440
    )
    assert m["win_rate"] * 100 == pytest.approx(stats["Win Rate [%]"])
    # backtesting.py's Expectancy [%] is the mean per-trade return on entry notional.
    assert m["avg_trade_return"] * 100 == pytest.approx(stats["Expectancy [%]"], rel=1e-6, abs=1e-12)
    # backtesting.py counts a trade's exit bar as held; here it is not, which matters only at
    # the last bar since every exit here is the next trade's entry.
    assert abs(m["exposure"] - stats["Exposure Time [%]"] / 100) <= 1 / len(equity) + 1e-12
