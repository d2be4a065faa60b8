"""Performance metrics of one run, from its equity curve and its closed trades.

Definitions (n bars, equity e_0..e_{n-1}, initial capital C, periods per year P):

- Bar returns: r_0 = e_0 / C - 1 and r_t = e_t / e_{t-1} - 1. The account holds C just before
  the first bar, so prod(1 + r) - 1 equals total_return. Once equity is zero or negative the
  account is ruined and later returns are taken as 0.
- total_return = e_{n-1} / C - 1.
- periods_per_year: given, or inferred by `infer_periods_per_year` (see annualization.py).
- years = n / P: elapsed trading time, measured in bars on the same clock as the annualized
  volatility and ratios (calendar time is not used: overnight and weekend gaps are not
  trading time, and a year of daily bars is that year's number of exchange sessions).
- cagr = (e_{n-1} / C) ** (1 / years) - 1; -1.0 when final equity is <= 0; inf on overflow.
- Per-period risk-free rate: rf_p = (1 + risk_free) ** (1 / P) - 1 (risk_free is annual).
- volatility = std(r, ddof=1) * sqrt(P).
- sharpe = mean(r - rf_p) / std(r, ddof=1) * sqrt(P).
- sortino = mean(r - rf_p) / sqrt(mean(min(r - rf_p, 0) ** 2)) * sqrt(P); the downside
  deviation averages over all bars, not only the losing ones (target = risk-free rate; with
  the default risk_free=0 this is sqrt(mean(min(r, 0) ** 2))).
- Drawdown at bar t: 1 - e_t / peak_t, where peak_t = max(C, e_0..e_t). max_drawdown is its
  maximum, a positive fraction (0.0 when equity never falls below its peak).
- A drawdown spell runs from the bar of a peak to the first bar back at or above that peak
  (or to the last bar if equity never recovers); when the peak is the initial capital it
  starts one bar before the first bar in bar counts and at the first timestamp in time.
  max_drawdown_duration_bars is the longest spell in bars, max_drawdown_duration_days the
  longest in calendar days (each maximised in its own unit; 0 when there is no drawdown).
- calmar = cagr / max_drawdown.
- exposure: share of bars holding a position. With `positions`, bars where |position| > 0
  (positions are aligned to the equity index, forward-filled, missing as flat). Otherwise a
  trade covers the bars with entry_time <= t < exit_time, and at least its entry bar.
- Trades: trade_count = rows; a win is pnl > 0, a loss pnl < 0 (zero-pnl trades count in
  trade_count and win_rate's denominator, in neither avg_win nor avg_loss).
  win_rate = wins / trade_count; profit_factor = sum of wins / |sum of losses|;
  expectancy = mean pnl; avg_trade_return = mean(pnl / (|qty| * entry_price)) over trades
  with a non-zero entry notional; avg_win = mean pnl of wins; avg_loss = mean pnl of
  losses (a negative number). pnl is net of costs.

Degenerate cases: a metric that needs something absent is None (no trades: every trade
metric but trade_count; no wins: avg_win; fewer than two bars, or no periods_per_year:
volatility, sharpe, sortino; no bars: everything computed from bars). A ratio whose
denominator is zero (std or downside deviation below 1e-12, max_drawdown == 0, no losing
trades) is +inf or -inf by the sign of its numerator, and None when the numerator is zero
too. No value is ever NaN. JSON has no inf, so `metrics_to_json` writes +/-inf as the
strings "inf" and "-inf"; `metrics_from_json` reads them back as floats.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from admf.analytics.annualization import infer_periods_per_year, utc_index
from admf.core.errors import DataError, UserError
from admf.core.units import DAY_NS as _NS_PER_DAY

MetricValue = float | int | str | None

_ZERO_DISPERSION = 1e-12
_TRADE_COLUMNS = ("pnl", "qty", "entry_price", "entry_time", "exit_time")

METRIC_KEYS = (
    "start",
    "end",
    "bars",
    "periods_per_year",
    "years",
    "initial_capital",
    "final_equity",
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_duration_bars",
    "max_drawdown_duration_days",
    "calmar",
    "exposure",
    "trade_count",
    "win_rate",
    "profit_factor",
    "expectancy",
    "avg_trade_return",
    "avg_win",
    "avg_loss",
)


def _ratio(num: float | None, den: float | None, zero: float = 0.0) -> float | None:
    if num is None or den is None:
        return None
    if abs(den) <= zero:
        if num == 0:
            return None
        return math.inf if num > 0 else -math.inf
    return num / den


def bar_returns(equity: np.ndarray, initial_capital: float) -> np.ndarray:
    """Simple return of each bar, the first against the initial capital (see module docstring)."""
    prev = np.empty_like(equity)
    if equity.size:
        prev[0] = initial_capital
        prev[1:] = equity[:-1]
    ok = prev > 0
    out = np.zeros_like(equity)
    np.divide(equity, prev, out=out, where=ok)
    out[ok] -= 1.0
    return out


def drawdown(equity: np.ndarray, initial_capital: float | None = None) -> np.ndarray:
    """Drawdown per bar as a positive fraction below the running peak (peak starts at initial_capital)."""
    eq = np.asarray(equity, dtype=float)
    if eq.size == 0:
        return eq.copy()
    peak = np.maximum.accumulate(eq)
    if initial_capital is not None:
        peak = np.maximum(peak, initial_capital)
    out = np.zeros_like(eq)
    np.divide(eq, peak, out=out, where=peak > 0)
    return np.where(peak > 0, 1.0 - out, 0.0)


def _drawdown_durations(eq: np.ndarray, ns: np.ndarray, initial_capital: float) -> tuple[int, float]:
    n = eq.size
    peak = np.maximum(np.maximum.accumulate(eq), initial_capital)
    at_high = eq >= peak
    positions = np.arange(n)
    # Bar of the latest peak at or before t; -1 stands for the initial capital before bar 0.
    peak_bar = np.maximum.accumulate(np.where(at_high, positions, -1))
    prev_peak_bar = np.concatenate(([-1], peak_bar[:-1]))
    prev_under = np.concatenate(([False], ~at_high[:-1]))
    in_spell = ~at_high | prev_under
    if not in_spell.any():
        return 0, 0.0
    bars = positions - prev_peak_bar
    start_ns = ns[np.maximum(prev_peak_bar, 0)]
    days = (ns - start_ns) / _NS_PER_DAY
    return int(bars[in_spell].max()), float(days[in_spell].max())


def _to_ns(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype="int64")
    ts = pd.to_datetime(values, utc=True)
    return pd.DatetimeIndex(ts).as_unit("ns").asi8


def _exposure_from_trades(trades: pd.DataFrame, ns: np.ndarray) -> float:
    n = ns.size
    if trades.empty:
        return 0.0
    start = np.searchsorted(ns, _to_ns(trades["entry_time"]), side="left")
    stop = np.searchsorted(ns, _to_ns(trades["exit_time"]), side="left")
    stop = np.maximum(stop, start + 1)
    start = np.minimum(start, n)
    stop = np.minimum(stop, n)
    marks = np.zeros(n + 1, dtype=np.int64)
    np.add.at(marks, start, 1)
    np.add.at(marks, stop, -1)
    held = np.cumsum(marks[:-1]) > 0
    return float(held.mean())


def _exposure_from_positions(positions: pd.Series, index: pd.DatetimeIndex) -> float:
    if len(positions) == len(index) and isinstance(positions.index, pd.DatetimeIndex):
        pos_index = utc_index(positions.index)
        if pos_index.equals(index):
            values = positions.to_numpy(dtype=float)
            return float(np.mean(np.nan_to_num(np.abs(values)) > 0))
    if isinstance(positions.index, pd.DatetimeIndex):
        aligned = pd.Series(positions.to_numpy(dtype=float), index=utc_index(positions.index))
        aligned = aligned[~aligned.index.duplicated(keep="last")].sort_index()
        values = aligned.reindex(index, method="ffill").to_numpy(dtype=float)
    elif len(positions) == len(index):
        values = positions.to_numpy(dtype=float)
    else:
        raise DataError(
            "positions must share the equity index or have one value per bar",
            field="positions",
            value=len(positions),
            accepted=f"{len(index)} values or a DatetimeIndex",
        )
    return float(np.mean(np.nan_to_num(np.abs(values)) > 0))


def _trade_metrics(trades: pd.DataFrame) -> dict[str, MetricValue]:
    out: dict[str, MetricValue] = {
        "trade_count": 0,
        "win_rate": None,
        "profit_factor": None,
        "expectancy": None,
        "avg_trade_return": None,
        "avg_win": None,
        "avg_loss": None,
    }
    if trades is None or trades.empty:
        return out
    pnl = trades["pnl"].to_numpy(dtype=float)
    count = len(pnl)
    out["trade_count"] = int(count)
    valid = pnl[np.isfinite(pnl)]
    wins = valid[valid > 0]
    losses = valid[valid < 0]
    out["win_rate"] = wins.size / count
    out["profit_factor"] = _ratio(float(wins.sum()), float(-losses.sum()))
    out["expectancy"] = float(valid.mean()) if valid.size else None
    out["avg_win"] = float(wins.mean()) if wins.size else None
    out["avg_loss"] = float(losses.mean()) if losses.size else None
    notional = np.abs(trades["qty"].to_numpy(dtype=float)) * trades["entry_price"].to_numpy(dtype=float)
    ok = np.isfinite(pnl) & np.isfinite(notional) & (notional != 0)
    out["avg_trade_return"] = float(np.mean(pnl[ok] / notional[ok])) if ok.any() else None
    return out


def _check_trades(trades: pd.DataFrame | None) -> pd.DataFrame:
    if trades is None:
        return pd.DataFrame()
    if not isinstance(trades, pd.DataFrame):
        raise DataError("trades must be a DataFrame", field="trades", value=type(trades).__name__)
    if trades.empty:
        return trades
    for col in _TRADE_COLUMNS:
        if col not in trades.columns:
            raise DataError(
                "trades table lacks a column",
                field=col,
                accepted=", ".join(_TRADE_COLUMNS),
            )
    return trades


def _positive(value: Any, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0) or isinstance(value, bool):
        raise UserError("must be a positive number", field=field, value=value)
    return number


def head_metrics(m: dict[str, Any], n: int, ppy: float | None, capital: float, final: float, index: Any) -> None:
    """Into `m`: the curve's size, final equity, total return, span and CAGR (the sweep's compiled
    metrics pass uses it too, so both compute them one way)."""
    m["bars"] = int(n)
    m["periods_per_year"] = float(ppy) if ppy is not None else None
    m["initial_capital"] = capital
    m["final_equity"] = final
    m["total_return"] = final / capital - 1.0
    if n == 0:
        return
    m["start"] = index[0].isoformat()
    m["end"] = index[-1].isoformat()
    years = n / ppy if ppy else None
    m["years"] = years
    if years:
        growth = final / capital
        if growth <= 0:
            m["cagr"] = -1.0
        else:
            try:
                m["cagr"] = math.exp(math.log(growth) / years) - 1.0
            except OverflowError:
                m["cagr"] = math.inf


def compute_metrics(
    equity: pd.Series,
    trades: pd.DataFrame | None,
    *,
    initial_capital: float,
    periods_per_year: float | None = None,
    risk_free: float = 0.0,
    positions: pd.Series | None = None,
) -> dict[str, MetricValue]:
    """Metrics of one run, defined in the module docstring. Keys are METRIC_KEYS, in that order."""
    initial_capital = _positive(initial_capital, "initial_capital")
    if periods_per_year is not None:
        periods_per_year = _positive(periods_per_year, "periods_per_year")
    if not isinstance(equity, pd.Series):
        raise DataError("equity must be a pandas Series", field="equity", value=type(equity).__name__)
    index = utc_index(equity.index)
    if not index.is_monotonic_increasing:
        raise DataError("equity timestamps must be in ascending order", field="equity")
    eq = equity.to_numpy(dtype=float)
    if not np.isfinite(eq).all():
        bad = int(np.flatnonzero(~np.isfinite(eq))[0])
        raise DataError("equity has a missing or infinite value", field="equity", value=f"{eq[bad]} at {index[bad]}")
    trades = _check_trades(trades)
    n = eq.size
    ns = index.asi8

    ppy = periods_per_year
    if ppy is None and n >= 2 and np.any(np.diff(ns) > 0):
        ppy = infer_periods_per_year(index)

    m: dict[str, MetricValue] = dict.fromkeys(METRIC_KEYS)
    head_metrics(m, n, ppy, float(initial_capital), float(eq[-1]) if n else float(initial_capital), index)
    m.update(_trade_metrics(trades))
    if n == 0:
        return m

    r = bar_returns(eq, float(initial_capital))
    if n >= 2 and ppy:
        rf_p = (1.0 + risk_free) ** (1.0 / ppy) - 1.0
        excess = r - rf_p
        mean_excess = float(excess.mean())
        std = float(r.std(ddof=1))
        downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))
        root = math.sqrt(ppy)
        m["volatility"] = std * root
        sharpe = _ratio(mean_excess, std, _ZERO_DISPERSION)
        sortino = _ratio(mean_excess, downside, _ZERO_DISPERSION)
        m["sharpe"] = sharpe * root if sharpe is not None else None
        m["sortino"] = sortino * root if sortino is not None else None

    dd = drawdown(eq, float(initial_capital))
    m["max_drawdown"] = float(dd.max())
    m["max_drawdown_duration_bars"], m["max_drawdown_duration_days"] = _drawdown_durations(
        eq, ns, float(initial_capital)
    )
    cagr, mdd = m["cagr"], m["max_drawdown"]
    m["calmar"] = _ratio(cagr, mdd) if isinstance(cagr, float) and isinstance(mdd, float) else None

    if positions is not None:
        m["exposure"] = _exposure_from_positions(positions, index)
    else:
        m["exposure"] = _exposure_from_trades(trades, ns)
    return _clean(m)


def _clean(metrics: dict[str, Any]) -> dict[str, MetricValue]:
    out: dict[str, MetricValue] = {}
    for key, value in metrics.items():
        if isinstance(value, bool):
            out[key] = value
        elif isinstance(value, int | np.integer):
            out[key] = int(value)
        elif isinstance(value, float | np.floating):
            value = float(value)
            out[key] = None if math.isnan(value) else value
        else:
            out[key] = value
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def metrics_to_json(metrics: dict[str, Any], indent: int | None = 2) -> str:
    """Strict JSON (no NaN, no Infinity): NaN becomes null, +/-inf the strings "inf"/"-inf"."""
    return json.dumps(_json_value(metrics), indent=indent, allow_nan=False)


def metrics_from_json(text: str) -> dict[str, MetricValue]:
    """Inverse of `metrics_to_json`: "inf"/"-inf" come back as floats."""
    data = json.loads(text)
    return {k: (float(v) if v in ("inf", "-inf") else v) for k, v in data.items()}
