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
    if single:  # one symbol: the same sums without the per-symbol loops (a few times faster)
        held = 0.0
        cum = 0.0
        j = 0
        for t in range(n):
            d = 0.0
            dp = 0.0
            while j < m and rows[j] == t:
                d += dcash[j]
                dp += dq[j]
                j += 1
            cum = d if t == 0 else cum + d
            held = dp if t == 0 else held + dp
            out[t] += (capital + cum) + ((0.0 + held * close[t]) if m else 0.0)
        return
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
    """(mean excess return, std ddof=1, downside deviation, max drawdown, its bars, its days).

    Two passes: returns, their sum and the drawdown in the first, the deviations in the
    second. The longest spell's length in days is the largest nanosecond span divided once at
    the end (division by a positive constant is monotonic, so it is the same float)."""
    n = len(eq)
    total = 0.0
    prev = capital
    r = np.empty(n)
    peak = -np.inf
    max_dd = 0.0
    prev_peak_bar = -1
    peak_bar = -1
    prev_under = False
    max_bars = 0
    max_span = 0
    for t in range(n):
        e = eq[t]
        x = e / prev - 1.0 if prev > 0 else 0.0
        r[t] = x
        total += x
        prev = e
        if e > peak:
            peak = e
        pk = max(peak, capital)
        at_high = e >= pk
        if not at_high and pk > 0:  # at a high the drawdown is not positive
            dd = 1.0 - e / pk
            if dd > max_dd:
                max_dd = dd
        prev_peak_bar = peak_bar
        if at_high:
            peak_bar = t
        if (not at_high) or prev_under:
            b = t - prev_peak_bar
            if b > max_bars:
                max_bars = b
            span = ns[t] - ns[max(prev_peak_bar, 0)]
            if span > max_span:
                max_span = span
        prev_under = not at_high
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
    return mean_r - rf_p, std, downside, max_dd, max_bars, max_span / 86_400_000_000_000


@njit(cache=True, nogil=True)
def _covered(start: np.ndarray, stop: np.ndarray) -> int:  # pragma: no cover - compiled
    """How many bars lie in the union of the intervals [start, stop) (sorted by start)."""
    total = 0
    lo = 0
    hi = 0
    for i in range(len(start)):
        s = start[i]
        e = stop[i]
        if s >= hi:
            total += hi - lo
            lo = s
            hi = e
        elif e > hi:
            hi = e
    return total + hi - lo


def _exposure(entry_row: np.ndarray, exit_row: np.ndarray, ns: np.ndarray, increasing: bool) -> float:
    """analytics.metrics._exposure_from_trades on the trades' bar rows: with strictly increasing
    timestamps a time's first row is its row, so no search and no array per bar is needed."""
    n = ns.size
    if not len(entry_row):
        return 0.0
    if increasing:
        start, stop = entry_row, exit_row
    else:
        start = np.searchsorted(ns, ns[entry_row], side="left")
        stop = np.searchsorted(ns, ns[exit_row], side="left")
    stop = np.minimum(np.maximum(stop, start + 1), n)
    start = np.minimum(start, n)
    order = np.argsort(start, kind="stable")
    return _covered(start[order], stop[order]) / n


def equity_of(runs: list[Any], md: Any) -> np.ndarray:
    tl = md.tl
    out = np.zeros(len(tl))
    single = len(tl.symbols) == 1
    for run in runs:
        o = run.orders
        order = K.fill_order(o)
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
    m["exposure"] = _exposure(t[:, K.T_ENTRY_ROW].astype(np.int64), t[:, K.T_EXIT_ROW].astype(np.int64), ns,
                              md.increasing)
    return _clean(m)


__all__ = ["bar_stats", "equity_of", "fast_metrics"]
