"""The compiled engine gives the event engine's results exactly, for every built-in strategy.

Trades (entry and exit time and price, quantity, P&L), fills, orders, signals, the equity at
every bar and the metrics are compared for equality (no tolerance): plain, with risk exits,
costs, sizing rules, limits, filters, direction, intraday, several books and symbols, on the
shipped sample bars and on windows of the real SPY 5-minute bars.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from research_support import REPO, assert_same_results, make_config

from admf.research.compiled import run_compiled
from admf.runtime.backtest import load_timeline, run_variant

ENTRIES: dict[str, dict[str, Any]] = {
    "bollinger_bands": {"period": 20, "std_dev": 2.0},
    "bollinger_breakout": {"period": 15, "std_dev": 1.5},
    "keltner_bands": {},
    "keltner_breakout": {"multiplier": 1.5},
    "vwap_deviation": {"threshold": 0.001},
    "sma_crossover": {"fast": 5, "slow": 20},
    "ema_crossover": {},
    "macd_crossover": {},
    "stochastic_crossover": {},
    "rsi_bands": {},
    "rsi_threshold": {},
    "roc_momentum": {"threshold": 0.05},
    "donchian_breakout": {},
    "supertrend": {},
}
COSTS = {"slippage": {"type": "bps", "value": 1},
         "commission": {"type": "per_share", "rate": 0.005, "min": 1.0, "max": 10}}
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "plain": ({}, {}),
    "exits_costs_intraday": ({"risk": {"stop_loss": 0.002, "take_profit": 0.003, "trailing_stop": 0.0015,
                                       "max_holding_bars": 30}, "constraints": "intraday"}, COSTS),
    "long_percent_limits_close": ({"direction": "long", "sizing": {"type": "percent_equity", "percent": 0.5},
                                   "risk": {"max_position": 150, "max_notional": 40_000}}, {**COSTS, "fill": "close"}),
    "short_atr_gross": ({"direction": "short", "sizing": {"type": "atr", "risk_per_trade": 0.01},
                         "risk": {"max_gross_exposure": 0.5}}, {"commission": {"type": "percent", "rate": 0.0005}}),
    # the kernel is compiled per set of features used: risk exits with fills at the close
    "exits_close_notional": ({"sizing": {"type": "notional", "amount": 20_000},
                              "risk": {"stop_loss": 0.0015, "trailing_stop": 0.002, "max_holding_bars": 20}},
                             {**COSTS, "fill": "close"}),
}


def both(cfg: Any, **kw: Any) -> tuple[Any, Any]:
    tl = load_timeline(cfg, **kw)
    return run_variant(cfg, tl), run_compiled(cfg, tl)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("strategy", list(ENTRIES))
def test_every_builtin_on_sample_bars(strategy: str, variant: str) -> None:
    extra, execution = VARIANTS[variant]
    cfg = make_config({strategy: ENTRIES[strategy], **extra}, execution=execution)
    a, b = both(cfg, start="2024-01-01", end="2024-03-31")
    assert len(a.trades) > 0
    assert_same_results(a, b)


FILTERS = [
    "volume > 1000 and rsi(14) < 70",
    "signal > 0 and close < bollinger(20, 2).lower * 1.001 or signal < 0",
    "not (close - low) / (high - low) > 0.5",
    "max(open, close) - min(open, close) > abs(close - sma(10)) ** 0.5 % 2",
    "adx(14).plus_di > adx(14).minus_di or -signal > 0",
    "cci(20) > -100 and willr(14) < -20 and aroon(14).osc != 0",
    "obv() > 0 and vwap() < close * 1.01 and atr(14).ready and macd(12, 26, 9).hist > -1",
]


@pytest.mark.parametrize("text", FILTERS)
def test_filters_compiled_to_arrays(text: str) -> None:
    cfg = make_config({"ema_crossover": {"fast": 5, "slow": 12}, "filter": text}, execution={"fill": "close"})
    a, b = both(cfg, end="2024-03-31")
    assert_same_results(a, b)


@pytest.mark.parametrize("intraday", [False, True])
def test_several_books_and_symbols(intraday: bool) -> None:
    extra: dict[str, Any] = {}
    if intraday:
        extra = {"risk": {"max_gross_exposure": 0.8, "stop_loss": 0.003}, "constraints": "intraday",
                 "sizing": {"type": "percent_equity", "percent": 0.6}}
    cfg = make_config([{"bollinger_bands": {}, **extra}, {"sma_crossover": {"fast": 5, "slow": 20}, **extra},
                       {"rsi_bands": {}, "symbols": ["QQQ"], **extra},
                       {"bollinger_bands": {"std_dev": 1.0}, "name": "bb_wide", **extra}],
                      data=["SPY_5m", "QQQ_5m"], execution={"commission": {"type": "percent", "rate": 0.0005}})
    a, b = both(cfg, end="2024-04-30")
    assert len(a.books) == 4 and len(a.trades) > 100
    assert_same_results(a, b)


@pytest.mark.parametrize("strategy", ["bollinger_bands", "sma_crossover", "supertrend", "vwap_deviation"])
def test_real_spy_5m_window(shared_data: Path, strategy: str) -> None:
    extra, execution = VARIANTS["exits_costs_intraday"]
    cfg = make_config({strategy: ENTRIES[strategy], **extra}, data_dir=shared_data, execution=execution)
    a, b = both(cfg, start="2024-10-21", end="2024-11-15")  # across the November DST change
    assert len(a.trades) > 10
    assert_same_results(a, b)


def test_one_million_synthetic_bars_with_exact_ties() -> None:
    """peerbench's 1,000,000 bars: BB(20, 2) long-only, 100 shares; its exact integer reference."""
    bench = REPO / ".." / "shared" / "bench"
    if not bench.is_dir() and os.environ.get("ADMF_SHARED_DATA"):  # a worktree elsewhere: beside the data
        bench = Path(os.environ["ADMF_SHARED_DATA"]).parent / "bench"
    if not (bench / "peerbench.py").exists():
        pytest.skip("../shared/bench is not present")
    sys.path.insert(0, str(bench))
    import peerbench as pb

    from admf.data.frame import BarFrame
    from admf.data.timeline import merge
    from admf.research.compiled import MarketData, run_books

    a = pb.gen_ohlcv_arrays(1_000_000)
    tl = merge([BarFrame(a["ts"], a["open"], a["high"], a["low"], a["close"], a["volume"], "SYN", "1m")])
    for fill in ("close", "next_open"):
        cfg = make_config({"bollinger_bands": {"period": 20, "std_dev": 2.0}, "direction": "long",
                           "sizing": {"type": "fixed_shares", "shares": 100}}, data="SYN_1m",
                          portfolio={"initial_capital": pb.INIT_CASH}, execution={"fill": fill})
        (run,) = run_books(cfg, MarketData(tl))
        n_ref, eq_ref, entries, exits = pb.reference(a, "bb", fill)
        o = run.orders
        buys = o[o[:, 4] >= 0][:, 2] > 0
        entry_rows = o[o[:, 4] >= 0][buys][:, 4].astype(int).tolist()
        assert len(entry_rows) == n_ref == (18_486 if fill == "close" else n_ref)
        assert entry_rows == entries
        final = run.cash + float(run.positions[0]) * float(a["close"][-1])
        assert abs(final - eq_ref) < 0.005
        assert np.all(run.trades[:, 3] >= 0)


@pytest.mark.parametrize("entries", [
    [{"bollinger_bands": {}, "risk": {"stop_loss": 0.003}, "constraints": "intraday"}],
    [{"sma_crossover": {"fast": 5, "slow": 20}}, {"rsi_bands": {}, "symbols": ["QQQ"]}],
])
def test_sweep_metrics_equal_compute_metrics(entries: list[dict[str, Any]]) -> None:
    """A sweep row's metrics (fastmetrics) are compute_metrics' on the same run: equity bit for bit."""
    from admf.research.compiled import MarketData, run_books
    from admf.research.fastmetrics import equity_of, fast_metrics

    cfg = make_config(entries, data=["SPY_5m", "QQQ_5m"] if len(entries) > 1 else "SPY_5m",
                      execution={"commission": {"type": "per_share", "rate": 0.005, "min": 1.0}})
    tl = load_timeline(cfg, end="2024-05-31")
    full = run_compiled(cfg, tl)
    md = MarketData(tl)
    runs = run_books(cfg, md)
    assert np.array_equal(equity_of(runs, md), full.equity.to_numpy())
    fast = fast_metrics(runs, md, full.equity.index, full.metrics["periods_per_year"], cfg.portfolio.initial_capital)
    ref = full.metrics.to_dict()
    assert fast.keys() == ref.keys()
    for k, v in ref.items():
        if isinstance(v, float):
            assert fast[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
        else:
            assert fast[k] == v, k


def test_the_kernel_compiles_once_whatever_arrays_it_is_given() -> None:
    """Bars from a writable or a read-only array, any sizing: one specialization per kernel variant
    (numba's array type includes the writeable flag and the layout; inputs are passed in one form)."""
    from admf.data.frame import BarFrame
    from admf.data.timeline import merge
    from admf.research import kernel as K
    from admf.research.compiled import MarketData, run_books

    base = load_timeline(make_config({"bollinger_bands": {}}), end="2024-02-15")
    cols = [np.array(x) for x in (base.ts, base.open, base.high, base.low, base.close, base.volume)]
    frozen_cols = [x.copy() for x in cols]
    for x in frozen_cols:
        x.flags.writeable = False
    plain = make_config({"bollinger_bands": {}})
    atr = make_config({"bollinger_bands": {}, "sizing": {"type": "atr", "risk_per_trade": 0.01}})
    for arrays in (cols, frozen_cols):
        tl = merge([BarFrame(*arrays, "SPY", "5m")])
        for cfg in (plain, atr):
            run_books(cfg, MarketData(tl))
    P = K.params_vector(cash=1.0, sizing=0, fill_close=0, long=1, short=1, intraday=0, multi=0)
    assert len(K.kernel_for(P).signatures) == 1
