"""A sweep row's metrics without pandas: the equity and its bar statistics in one compiled pass.

`admf.analytics.metrics.compute_metrics` is the definition (and what single backtests and the
top N of a sweep use); on a million bars it costs a few hundred milliseconds, most of it in
array temporaries, which a thousand-combination sweep cannot pay. This module computes the
same quantities with the same formulas: the equity exactly as `Portfolio.equity_curve`
builds it (bit for bit), the trade metrics and exposure with analytics' own helpers, and
the bar statistics (mean, standard deviation, downside deviation, drawdown and its
durations) in one loop, equal to compute_metrics' within rounding (sums taken in another
order; tests/research checks 1e-9 relative).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from admf.research import kernel as K

_NS_PER_DAY = 86_400 * 10**9


@njit(cache=True, nogil=True)
def _book_equity(out: np.ndarray, capital: float, rows: np.ndarray, syms: np.ndarray, dq: np.ndarray,
                 dcash: np.ndarray, sym: np.ndarray, close: np.ndarray, n_sym: int,
                 single: bool) -> None:  # pragma: no cover - compiled
    """out += Portfolio.equity_curve of one book (fills in the order they were applied)."""
    n = len(close)
    m = len(rows)
    has = np.zeros(n_sym, dtype=np.bool_)
    for j in range(m):
        has[syms[j]] = True
    pos = np.zeros(n_sym)
    last = np.zeros(n_sym)
    seen = np.zeros(n_sym, dtype=np.bool_)
    cum = 0.0
    pdelta = np.zeros(n_sym)
    j = 0
    for t in range(n):
        d = 0.0
        for k in range(n_sym):
            pdelta[k] = 0.0
        while j < m and rows[j] == t:
            d += dcash[j]
            pdelta[syms[j]] += dq[j]
            j += 1
        cum = d if t == 0 else cum + d
        k_t = sym[t]
        last[k_t] = close[t]
        seen[k_t] = True
        e = 0.0
        for k in range(n_sym):
            if not has[k]:
                continue
            pos[k] = pdelta[k] if t == 0 else pos[k] + pdelta[k]
            if single:
                e += pos[k] * close[t]
            else:
                e += pos[k] * (last[k] if seen[k] else 0.0)
        out[t] += (capital + cum) + e


@njit(cache=True, nogil=True)
def bar_stats(eq: np.ndarray, ns: np.ndarray, capital: float, rf_p: float):  # pragma: no cover - compiled
    """(mean excess return, std ddof=1, downside deviation, max drawdown, its bars, its days)."""
    n = len(eq)
    total = 0.0
    prev = capital
    r = np.empty(n)
    for t in range(n):
        x = eq[t] / prev - 1.0 if prev > 0 else 0.0
        r[t] = x
        total += x
        prev = eq[t]
    mean_r = total / n
    ss = 0.0
    ds = 0.0
    for t in range(n):
        d = r[t] - mean_r
        ss += d * d
        x = r[t] - rf_p
        if x < 0.0:
            ds += x * x
    std = math.sqrt(ss / (n - 1)) if n > 1 else np.nan
    downside = math.sqrt(ds / n)
    peak = -np.inf
    max_dd = 0.0
    prev_peak_bar = -1
    peak_bar = -1
    prev_under = False
    max_bars = 0
    max_days = 0.0
    any_spell = False
    for t in range(n):
        if eq[t] > peak:
            peak = eq[t]
        pk = max(peak, capital)
        dd = 1.0 - eq[t] / pk if pk > 0 else 0.0
        if dd > max_dd:
            max_dd = dd
        at_high = eq[t] >= pk
        prev_peak_bar = peak_bar
        if at_high:
            peak_bar = t
        if (not at_high) or prev_under:
            any_spell = True
            b = t - prev_peak_bar
            if b > max_bars:
                max_bars = b
            days = (ns[t] - ns[max(prev_peak_bar, 0)]) / 86_400_000_000_000
            if days > max_days:
                max_days = days
        prev_under = not at_high
    if not any_spell:
        max_bars = 0
        max_days = 0.0
    return mean_r - rf_p, std, downside, max_dd, max_bars, max_days


def _exposure(entry_ns: np.ndarray, exit_ns: np.ndarray, ns: np.ndarray) -> float:
    """analytics.metrics._exposure_from_trades on nanosecond arrays (no pandas conversions)."""
    n = ns.size
    if not len(entry_ns):
        return 0.0
    start = np.searchsorted(ns, entry_ns, side="left")
    stop = np.maximum(np.searchsorted(ns, exit_ns, side="left"), start + 1)
    start = np.minimum(start, n)
    stop = np.minimum(stop, n)
    marks = np.bincount(start, minlength=n + 1) - np.bincount(stop, minlength=n + 1)
    return float((np.cumsum(marks[:-1]) > 0).mean())


def equity_of(runs: list[Any], md: Any) -> np.ndarray:
    tl = md.tl
    out = np.zeros(len(tl))
    single = len(tl.symbols) == 1
    for run in runs:
        o = run.orders
        filled = np.flatnonzero(o[:, K.O_STATUS] == K.FILLED)
        order = filled[np.lexsort((filled, o[filled, K.O_FILL_ROW]))]
        dq = o[order, K.O_QTY]
        _book_equity(out, run.capital, o[order, K.O_FILL_ROW].astype(np.int64), o[order, K.O_SYM].astype(np.int64),
                     dq, -(dq * o[order, K.O_PRICE]) - o[order, K.O_FEE], md.sym, md.c, len(tl.symbols), single)
    return out


def fast_metrics(runs: list[Any], md: Any, index: pd.DatetimeIndex, ppy: float | None, capital: float,
                 risk_free: float = 0.0) -> dict[str, Any]:
    """compute_metrics' keys and definitions for a sweep row (see the module docstring)."""
    from admf.analytics.metrics import METRIC_KEYS, _clean, _ratio, _trade_metrics, head_metrics

    eq = equity_of(runs, md)
    ns = md.tl.ts
    n = len(eq)
    tr = [r.trades for r in runs if len(r.trades)]
    t = np.concatenate(tr) if tr else np.empty((0, 12))
    trades = pd.DataFrame(t[:, [K.T_PNL, K.T_QTY, K.T_ENTRY_PRICE]], columns=["pnl", "qty", "entry_price"],
                          copy=False)
    m: dict[str, Any] = dict.fromkeys(METRIC_KEYS)
    head_metrics(m, n, ppy, float(capital), float(eq[-1]) if n else float(capital), index)
    m.update(_trade_metrics(trades))
    if n == 0:
        return m
    rf_p = (1.0 + risk_free) ** (1.0 / ppy) - 1.0 if ppy else 0.0
    mean_excess, std, downside, max_dd, dd_bars, dd_days = bar_stats(eq, ns, float(capital), rf_p)
    if n >= 2 and ppy:
        root = math.sqrt(ppy)
        m["volatility"] = std * root
        sharpe = _ratio(mean_excess, std, 1e-12)
        sortino = _ratio(mean_excess, downside, 1e-12)
        m["sharpe"] = sharpe * root if sharpe is not None else None
        m["sortino"] = sortino * root if sortino is not None else None
    m["max_drawdown"] = float(max_dd)
    m["max_drawdown_duration_bars"], m["max_drawdown_duration_days"] = int(dd_bars), float(dd_days)
    cagr = m["cagr"]
    m["calmar"] = _ratio(cagr, m["max_drawdown"]) if isinstance(cagr, float) else None
    m["exposure"] = _exposure(ns[t[:, K.T_ENTRY_ROW].astype(np.int64)], ns[t[:, K.T_EXIT_ROW].astype(np.int64)], ns)
    return _clean(m)


__all__ = ["bar_stats", "equity_of", "fast_metrics"]
