"""The report's figures, one function each, as plotly figures (also what `result.plot()` shows).

Times are shown in New York (the exchange's clock); every curve longer than the point budget
is reduced with `minmax_indices` (extremes kept) and long price series are merged into
candles of k bars, so a million bars stay a few hundred kilobytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from admf.analytics.annualization import SESSION_TZ, utc_index
from admf.analytics.downsample import minmax_indices
from admf.analytics.metrics import bar_returns, drawdown

MAX_POINTS = 2000
MAX_CANDLES = 900
# lines drawn at float32 (7 digits, plenty for a chart) travel in half the bytes; money stays float64
F4 = np.float32
MAX_MARKERS = 5000
UP, DOWN, GREY = "#2a9d5b", "#d1495b", "#8a8f98"
LINE_COLORS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#e377c2")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LAYOUT: dict[str, Any] = {"template": "plotly_white", "margin": {"l": 64, "r": 20, "t": 48, "b": 40}}


def ny_times(index: pd.Index | pd.Series) -> pd.DatetimeIndex:
    """UTC timestamps as naive New York wall-clock times (what the charts' axes show)."""
    idx = utc_index(pd.DatetimeIndex(index))
    return idx.tz_convert(SESSION_TZ).tz_localize(None)


def plot_x(index: pd.Index | pd.Series) -> np.ndarray:
    """Plot positions: New York wall-clock time as float milliseconds, what a plotly date axis reads.

    Whole milliseconds travel as 13 digits in the report (a date string takes 21 characters)
    and pack well, which keeps a long run's report small.
    """
    return ny_times(index).as_unit("ns").asi8 / 1e6


def _go() -> Any:
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    return go


def _cents(money: np.ndarray) -> np.ndarray:
    """Dollars to the cent, what the hover shows: 100097.29, not 100097.28580000001, packs smaller."""
    return np.round(money, 2)


def _reduced(index: np.ndarray, values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    finite = np.isfinite(values)
    if not finite.all():
        index, values = index[finite], values[finite]
    keep = minmax_indices(values, max_points)
    return index[keep], values[keep]


def buy_and_hold(prices: Mapping[str, pd.Series], index: pd.Index, capital: float) -> pd.Series:
    """Equity of buying `capital` split equally over the symbols at their first close and holding.

    Each symbol's close is carried forward onto `index` (a multi-symbol timeline has one
    symbol's bar per row).
    """
    idx = utc_index(index)
    total = np.zeros(len(idx))
    if not prices:
        return pd.Series(total, index=idx, name="buy and hold")
    share = capital / len(prices)
    for close in prices.values():
        c = close.copy()
        c.index = utc_index(c.index)
        c = c[~c.index.duplicated(keep="last")].reindex(idx, method="ffill")
        first = float(c.dropna().iloc[0]) if c.notna().any() else math.nan
        # before a symbol's first bar its share is still cash
        total += np.where(c.notna(), share * c.to_numpy(dtype=float) / first, share)
    name = "buy and hold " + ", ".join(prices)
    return pd.Series(total, index=idx, name=name)


CANDLE_MINUTES = (1, 2, 3, 5, 10, 15, 30, 60, 120)
VISIBLE_CANDLES = 160


def candles(bars: pd.DataFrame, max_candles: int = MAX_CANDLES) -> tuple[pd.DataFrame, np.ndarray, str]:
    """(candles, last, span): bars merged into the finest whole timeframe giving at most `max_candles`.

    Timeframes are 1 to 120 minutes (hours start at :30, as the New York session does), a
    New York day, or a week. `last[i]` is the position in `bars` of candle i's last bar, and
    `span` names the timeframe ("" when the bars are shown as they are).
    """
    n = len(bars)
    if n <= max_candles:
        return bars, np.arange(n), ""
    ny = ny_times(bars.index)
    ns = ny.as_unit("ns").asi8
    minute = 60 * 10**9
    spacing = int(np.median(np.diff(ns)))
    choices: list[tuple[str, np.ndarray]] = [
        (f"{m} min" if m < 60 else f"{m // 60} h", (ns - 30 * minute) // (m * minute) * (m * minute) + 30 * minute)
        for m in CANDLE_MINUTES if m * minute > spacing]
    day = ny.normalize().as_unit("ns").asi8
    choices += [("1 day", day), ("1 week", ny.normalize().to_period("W").start_time.as_unit("ns").asi8)]
    for span, keys in choices:
        starts = np.flatnonzero(np.diff(keys, prepend=keys[0] - 1))
        if len(starts) <= max_candles or span == "1 week":
            break
    last = np.append(starts[1:] - 1, n - 1)
    o, h, lo, c = (bars[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close"))
    out = pd.DataFrame({"open": o[starts], "high": np.maximum.reduceat(h, starts),
                        "low": np.minimum.reduceat(lo, starts), "close": c[last]},
                       index=bars.index[starts])
    return out, last, span


def _candle_trace(c: pd.DataFrame, x: np.ndarray, label: str) -> Any:
    go = _go()
    o, h, lo, cl = (c[k].to_numpy(dtype=float) for k in ("open", "high", "low", "close"))
    return go.Candlestick(
        x=x, open=o, high=h, low=lo, close=cl, name=label, showlegend=False, whiskerwidth=0,
        increasing={"line": {"width": 1, "color": UP}, "fillcolor": UP},
        decreasing={"line": {"width": 1, "color": DOWN}, "fillcolor": DOWN},
        hovertemplate="O %{open:$,.2f}  H %{high:$,.2f}  L %{low:$,.2f}  C %{close:$,.2f}<extra></extra>")


def price_figure(symbol: str, bars: pd.DataFrame, trades: pd.DataFrame | None = None,
                 indicators: Mapping[str, np.ndarray] | None = None, *, max_candles: int = MAX_CANDLES) -> Any:
    """Candles of one symbol with its trades' entries and exits and the strategy's indicator lines.

    `bars` has open, high, low, close and a UTC DatetimeIndex; `indicators` maps a line's name
    to an array as long as `bars`.
    """
    go = _go()
    c, last, span = candles(bars, max_candles)
    x = plot_x(c.index)
    fig = go.Figure(_candle_trace(c, x, symbol))
    for i, (name, values) in enumerate((indicators or {}).items()):
        v = np.asarray(values, dtype=float)
        # one value per candle: the indicator at the candle's last bar
        v = v[last]
        fig.add_trace(go.Scatter(x=x, y=v.astype(F4), mode="lines", name=name, hoverinfo="skip",
                                 line={"width": 1.1, "color": LINE_COLORS[i % len(LINE_COLORS)]}))
    if trades is not None and len(trades):
        t = trades.tail(MAX_MARKERS)
        long_ = (t["side"].astype(str) == "long").to_numpy()
        pnl = t["pnl"].to_numpy(dtype=float)
        entry_x, exit_x = plot_x(t["entry_time"]), plot_x(t["exit_time"])
        for is_long, sym_, name in ((True, "triangle-up", "long entry"), (False, "triangle-down", "short entry")):
            m = long_ == is_long
            if m.any():
                fig.add_trace(go.Scatter(
                    x=entry_x[m], y=t["entry_price"].to_numpy(dtype=float)[m], mode="markers", name=name,
                    marker={"symbol": sym_, "size": 7, "color": UP if is_long else DOWN, "opacity": 0.8,
                            "line": {"width": 0.5, "color": "#222"}},
                    hovertemplate=name + " %{y:$,.2f}<br>%{x|%Y-%m-%d %H:%M}<extra></extra>"))
        fig.add_trace(go.Scatter(
            x=exit_x, y=t["exit_price"].to_numpy(dtype=float), mode="markers", name="exit",
            marker={"symbol": "x-thin", "size": 7, "opacity": 0.8,
                    "line": {"width": 1.5, "color": np.where(pnl > 0, UP, DOWN).tolist()}},
            text=[f"{r} P&L ${p:,.2f}" for r, p in zip(t["exit_reason"].astype(str), pnl, strict=True)],
            hovertemplate="exit %{y:$,.2f} %{text}<br>%{x|%Y-%m-%d %H:%M}<extra></extra>"))
    title = f"{symbol}: price, trades and indicators" + (f" ({span} candles)" if span else "")
    xaxis: dict[str, Any] = {"title_text": "New York time", "type": "date", "rangebreaks": _breaks(c.index),
                             "rangeslider": {"visible": False}}
    if len(x) > VISIBLE_CANDLES * 1.5:
        # a run's worth of candles is a line at first sight: show the last ones, the rest a double-click away
        xaxis["range"] = [x[-VISIBLE_CANDLES], x[-1] + (x[-1] - x[-2])]
        lo, hi = float(c["low"].iloc[-VISIBLE_CANDLES:].min()), float(c["high"].iloc[-VISIBLE_CANDLES:].max())
        pad = (hi - lo) * 0.05 or 1.0
        fig.update_yaxes(range=[lo - pad, hi + pad])
        title += f"; the last {VISIBLE_CANDLES} candles shown: drag to zoom, double-click for the whole run"
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=540, hovermode="closest", **_LAYOUT)
    fig.update_xaxes(**xaxis)
    fig.update_yaxes(title_text="price ($)", tickprefix="$")
    return fig


def _breaks(index: pd.Index) -> list[dict[str, Any]]:
    """Hide weekends, and the night when every bar is in the regular session, so candles touch."""
    if len(index) < 2:
        return []
    ny = ny_times(index)
    out: list[dict[str, Any]] = [{"bounds": ["sat", "mon"]}]
    minutes = ny.hour * 60 + ny.minute
    spacing = np.median(np.diff(ny.as_unit("ns").asi8))
    if spacing < 20 * 3600 * 10**9 and minutes.min() >= 9 * 60 + 30 and minutes.max() < 16 * 60:
        out.append({"bounds": [16, 9.5], "pattern": "hour"})
    return out


def equity_figure(equity: pd.Series, initial_capital: float, benchmark: pd.Series | None = None,
                  *, max_points: int = MAX_POINTS) -> Any:
    """Equity against buy-and-hold on top, drawdown below, sharing the time axis."""
    go = _go()
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    idx = utc_index(equity.index)
    x_all = plot_x(idx)
    eq = equity.to_numpy(dtype=float)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05,
                        subplot_titles=("Equity", "Drawdown"))
    x, y = _reduced(x_all, _cents(eq), max_points)
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="strategy", line={"width": 1.3, "color": LINE_COLORS[0]},
                             hovertemplate="%{y:$,.2f}"), row=1, col=1)
    if benchmark is not None and len(benchmark):
        b = benchmark.reindex(idx, method="ffill").to_numpy(dtype=float)
        bx, by = _reduced(x_all, _cents(b), max_points)
        fig.add_trace(go.Scatter(x=bx, y=by, mode="lines", name=str(benchmark.name or "benchmark"),
                                 line={"width": 1, "color": GREY}, hovertemplate="%{y:$,.2f}"), row=1, col=1)
    dd = -drawdown(eq, initial_capital) * 100.0
    dx, dy = _reduced(x_all, dd, max_points)
    fig.add_trace(go.Scatter(x=dx, y=dy.astype(F4), mode="lines", name="drawdown", fill="tozeroy",
                             line={"width": 1, "color": DOWN}, hovertemplate="%{y:.2f}%"), row=2, col=1)
    fig.update_yaxes(title_text="equity ($)", tickprefix="$", row=1, col=1)
    fig.update_yaxes(title_text="% below peak", ticksuffix="%", row=2, col=1)
    fig.update_xaxes(type="date")
    fig.update_xaxes(title_text="New York time", row=2, col=1)
    fig.update_layout(height=600, hovermode="x unified",
                      legend={"orientation": "h", "y": 1.04, "yanchor": "bottom", "x": 0, "xanchor": "left"},
                      **_LAYOUT)
    return fig


def monthly_returns(equity: pd.Series, initial_capital: float) -> pd.DataFrame:
    """Return of each calendar month (New York), years as rows and 1..12 as columns, in percent."""
    if not len(equity):
        return pd.DataFrame(columns=range(1, 13), dtype=float)
    ny = equity.copy()
    ny.index = utc_index(ny.index).tz_convert(SESSION_TZ)
    ends = ny.groupby([ny.index.year, ny.index.month]).last()
    prev = np.concatenate(([initial_capital], ends.to_numpy(dtype=float)[:-1]))
    ret = (ends.to_numpy(dtype=float) / prev - 1.0) * 100.0
    table = pd.Series(ret, index=ends.index).unstack()
    return table.reindex(columns=range(1, 13))


def monthly_figure(equity: pd.Series, initial_capital: float) -> Any:
    go = _go()
    table = monthly_returns(equity, initial_capital)
    z = table.to_numpy(dtype=float)
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    text = [["" if not math.isfinite(v) else f"{v:+.2f}%" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=list(MONTHS), y=[str(y) for y in table.index], text=text, texttemplate="%{text}",
        textfont={"size": 10},
        colorscale=[[0, DOWN], [0.5, "#f7f7f7"], [1, UP]], zmin=-lim, zmax=lim, xgap=2, ygap=2,
        hovertemplate="%{y} %{x}: %{text}<extra></extra>", colorbar={"ticksuffix": "%", "thickness": 12},
    ))
    fig.update_layout(title="Monthly returns (New York calendar months)", height=max(300, 160 + 40 * len(table)),
                      **_LAYOUT)
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def trade_returns_figure(trades: pd.DataFrame, bins: int = 40) -> Any:
    """Histogram of the trades' net returns in percent, binned here so the file holds 40 bars, not every trade."""
    go = _go()
    r = trades["return"].to_numpy(dtype=float) * 100.0 if "return" in trades else np.array([])
    r = r[np.isfinite(r)]
    fig = go.Figure()
    if r.size:
        counts, edges = np.histogram(r, bins=min(bins, max(5, r.size // 2)))
        mids = (edges[:-1] + edges[1:]) / 2
        fig.add_trace(go.Bar(x=mids, y=counts, width=np.diff(edges), name="trades",
                             marker={"color": np.where(mids > 0, UP, DOWN).tolist()},
                             customdata=np.stack([edges[:-1], edges[1:]], axis=1),
                             hovertemplate="%{customdata[0]:.3f}% to %{customdata[1]:.3f}%: %{y} trades"
                                           "<extra></extra>"))
        fig.add_vline(x=float(np.mean(r)), line={"dash": "dot", "color": "#333"},
                      annotation_text=f"mean {np.mean(r):+.3f}%")
    fig.update_layout(title=f"Trade returns ({r.size:,} trades, net of costs)", height=360,
                      showlegend=False, bargap=0.02, **_LAYOUT)
    fig.update_xaxes(title_text="return per trade", ticksuffix="%")
    fig.update_yaxes(title_text="trades")
    return fig


def rolling_sharpe(equity: pd.Series, initial_capital: float, periods_per_year: float,
                   window: int | None = None) -> tuple[pd.Series, int]:
    """(annualized Sharpe over a trailing window of bars, the window). Default window: a month of bars."""
    eq = equity.to_numpy(dtype=float)
    n = eq.size
    if window is None:
        window = max(20, round(periods_per_year / 12))
        window = min(window, max(2, n // 4))
    r = pd.Series(bar_returns(eq, initial_capital), index=equity.index)
    roll = r.rolling(window)
    sd = roll.std(ddof=1)
    out = roll.mean() / sd.where(sd > 0) * math.sqrt(periods_per_year)
    return out, window


def rolling_sharpe_figure(equity: pd.Series, initial_capital: float, periods_per_year: float | None,
                          *, max_points: int = MAX_POINTS) -> Any:
    go = _go()
    fig = go.Figure()
    title = "Rolling Sharpe"
    if periods_per_year and len(equity) >= 8:
        s, window = rolling_sharpe(equity, initial_capital, periods_per_year)
        x, y = _reduced(plot_x(s.index), s.to_numpy(dtype=float), max_points)
        fig.add_trace(go.Scatter(x=x, y=y.astype(F4), mode="lines", name="rolling Sharpe", line={"width": 1.1},
                                 hovertemplate="%{y:.2f}<extra></extra>"))
        fig.add_hline(y=0, line={"color": "#999", "width": 1})
        days = window / periods_per_year * 252
        title = f"Rolling Sharpe (annualized, trailing {window:,} bars, about {days:.0f} trading days)"
    fig.update_layout(title=title, height=320, showlegend=False, **_LAYOUT)
    fig.update_xaxes(title_text="New York time", type="date")
    return fig


def books_figure(books: Mapping[str, pd.Series], *, max_points: int = MAX_POINTS) -> Any:
    """Equity of each book on one chart (a multi-strategy run)."""
    go = _go()
    fig = go.Figure()
    for i, (name, eq) in enumerate(books.items()):
        x, y = _reduced(plot_x(eq.index), _cents(eq.to_numpy(dtype=float)), max_points)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, hovertemplate="%{y:$,.2f}",
                                 line={"width": 1.1, "color": LINE_COLORS[i % len(LINE_COLORS)]}))
    fig.update_layout(title="Equity per book", height=380, hovermode="x unified", **_LAYOUT)
    fig.update_yaxes(title_text="equity ($)", tickprefix="$")
    fig.update_xaxes(title_text="New York time", type="date")
    return fig


__all__ = ["buy_and_hold", "books_figure", "candles", "equity_figure", "monthly_figure", "monthly_returns",
           "price_figure", "rolling_sharpe", "rolling_sharpe_figure", "trade_returns_figure", "ny_times"]
