"""A run's report: one self-contained HTML file (plotly.js inline, works offline)."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from admf.analytics.annualization import utc_index
from admf.analytics.downsample import minmax_indices
from admf.analytics.metrics import METRIC_KEYS, drawdown, metrics_to_json
from admf.analytics.tables import LABELS, format_metric, format_metrics_table, rank_table

__all__ = ["write_html_report", "format_metrics_table", "rank_table", "MAX_PLOT_POINTS"]

MAX_PLOT_POINTS = 4000
MAX_TRADE_MARKERS = 2000
MAX_TRADE_BARS = 5000
MAX_TRADE_ROWS = 200

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:28px}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right} th{background:#f4f4f4}
td.k{text-align:left} .note{color:#777;font-size:12px}
"""


def _curve(index: pd.DatetimeIndex, values: np.ndarray, max_points: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
    keep = minmax_indices(values, max_points)
    return index[keep], values[keep]


def _times(values: pd.Series) -> pd.DatetimeIndex:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return pd.DatetimeIndex(pd.to_datetime(values.to_numpy(dtype="int64"), unit="ns", utc=True))
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True))


def _equity_figure(
    equity: pd.Series,
    index: pd.DatetimeIndex,
    initial_capital: float,
    trades: pd.DataFrame,
    benchmark: pd.Series | None,
    max_points: int,
) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    eq = equity.to_numpy(dtype=float)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.7, 0.3],
        vertical_spacing=0.04,
        subplot_titles=("Equity", "Drawdown"),
    )
    x, y = _curve(index, eq, max_points)
    fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="equity", line={"width": 1.2}), row=1, col=1)

    if benchmark is not None and len(benchmark) and eq.size:
        b = benchmark.dropna()
        b = b[b.to_numpy(dtype=float) != 0] if len(b) else b
        if len(b):
            # Rebased to the strategy's starting equity so both lines share one axis.
            bv = b.to_numpy(dtype=float) / float(b.iloc[0]) * float(eq[0])
            bx, by = _curve(utc_index(b.index), bv, max_points)
            fig.add_trace(
                go.Scatter(
                    x=bx,
                    y=by,
                    mode="lines",
                    name=f"benchmark ({b.name or 'rebased'})",
                    line={"width": 1, "color": "#999"},
                ),
                row=1,
                col=1,
            )

    if 0 < len(trades) <= MAX_TRADE_MARKERS and "exit_time" in trades and eq.size:
        exit_ns = _times(trades["exit_time"]).as_unit("ns").asi8
        pos = np.clip(np.searchsorted(index.asi8, exit_ns, side="right") - 1, 0, eq.size - 1)
        pnl = trades["pnl"].to_numpy(dtype=float) if "pnl" in trades else np.zeros(len(trades))
        label = [
            f"{s} {d} pnl {p:,.2f}"
            for s, d, p in zip(
                trades.get("symbol", pd.Series([""] * len(trades))).astype(str),
                trades.get("side", pd.Series([""] * len(trades))).astype(str),
                pnl,
                strict=True,
            )
        ]
        fig.add_trace(
            go.Scatter(
                x=index[pos],
                y=eq[pos],
                mode="markers",
                name="trade exits",
                text=label,
                hoverinfo="text+x",
                marker={
                    "size": 6,
                    "color": np.where(pnl > 0, "#2a9d5b", "#d1495b").tolist(),
                    "symbol": "circle-open",
                },
            ),
            row=1,
            col=1,
        )

    dd = -drawdown(eq, initial_capital) * 100.0
    dx, dy = _curve(index, dd, max_points)
    fig.add_trace(
        go.Scatter(x=dx, y=dy, mode="lines", name="drawdown %", fill="tozeroy", line={"width": 1, "color": "#d1495b"}),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="% below peak", row=2, col=1)
    fig.update_xaxes(title_text="time (UTC)", row=2, col=1)
    fig.update_layout(
        height=640,
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
        hovermode="x unified",
        template="plotly_white",
    )
    return fig


def _trades_figure(trades: pd.DataFrame) -> Any:
    import plotly.graph_objects as go

    pnl = trades["pnl"].to_numpy(dtype=float)
    pnl = pnl[np.isfinite(pnl)]
    fig = go.Figure()
    if pnl.size <= MAX_TRADE_BARS:
        fig.add_trace(
            go.Bar(
                x=np.arange(1, pnl.size + 1),
                y=pnl,
                name="trade P&L",
                marker={"color": np.where(pnl > 0, "#2a9d5b", "#d1495b").tolist()},
            )
        )
        fig.update_layout(title="P&L per trade (net)", xaxis_title="trade #", yaxis_title="P&L")
    else:
        # Binned here: a plotly Histogram would embed every trade in the file.
        counts, edges = np.histogram(pnl, bins=100)
        mids = (edges[:-1] + edges[1:]) / 2
        fig.add_trace(
            go.Bar(
                x=mids,
                y=counts,
                width=np.diff(edges),
                name="trades",
                marker={"color": np.where(mids > 0, "#2a9d5b", "#d1495b").tolist()},
            )
        )
        fig.update_layout(
            title=f"Distribution of P&L over {pnl.size:,} trades (net)",
            xaxis_title="P&L",
            yaxis_title="trades",
        )
    fig.update_layout(
        height=360, margin={"l": 60, "r": 20, "t": 50, "b": 40}, template="plotly_white", showlegend=False
    )
    return fig


def _metrics_html(metrics: dict[str, Any]) -> str:
    keys = [k for k in METRIC_KEYS if k in metrics] + [k for k in metrics if k not in METRIC_KEYS]
    rows = "".join(
        f'<tr><td class="k">{html.escape(LABELS.get(k, k))}</td>'
        f"<td>{html.escape(format_metric(k, metrics[k]))}</td></tr>"
        for k in keys
    )
    return f"<table><tr><th>Metric</th><th>Value</th></tr>{rows}</table>"


def _trades_html(trades: pd.DataFrame, max_rows: int) -> str:
    if trades.empty:
        return '<p class="note">No closed trades.</p>'
    shown = trades.head(max_rows).copy()
    for col in shown.columns:
        if col.endswith("_time") and pd.api.types.is_integer_dtype(shown[col]):
            shown[col] = _times(shown[col])

    def _num(v: float) -> str:
        return "" if not math.isfinite(v) else f"{v:,.4f}".rstrip("0").rstrip(".")

    body = shown.to_html(index=False, escape=True, border=0, float_format=_num, na_rep="")
    if len(trades) > max_rows:
        body += f'<p class="note">First {len(shown):,} of {len(trades):,} trades.</p>'
    return body


def write_html_report(
    path: str | Path,
    *,
    name: str,
    metrics: dict[str, Any],
    equity: pd.Series,
    trades: pd.DataFrame | None,
    benchmark: pd.Series | None = None,
    max_points: int = MAX_PLOT_POINTS,
    max_trade_rows: int = MAX_TRADE_ROWS,
) -> Path:
    """Write the report to `path` (parents created) and return it.

    Curves longer than `max_points` are reduced to each bucket's min and max, so a million
    bars plot in a few thousand points with every drawdown still visible. The metrics are
    also embedded as JSON in <script id="admf-metrics" type="application/json">.
    """
    import plotly.io as pio

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    trades = trades if trades is not None else pd.DataFrame()
    index = utc_index(equity.index)
    initial = metrics.get("initial_capital")
    if not isinstance(initial, int | float) or not initial > 0:
        initial = float(equity.iloc[0]) if len(equity) else None

    parts = [
        '<!DOCTYPE html><html><head><meta charset="utf-8">',
        f"<title>{html.escape(name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(name)}</h1>",
    ]
    start, end = metrics.get("start"), metrics.get("end")
    if start and end:
        parts.append(f'<p class="note">{html.escape(str(start))} to {html.escape(str(end))}</p>')
    parts.append("<h2>Metrics</h2>" + _metrics_html(metrics))
    fig = _equity_figure(equity, index, initial, trades, benchmark, max_points)
    parts.append("<h2>Equity and drawdown</h2>")
    parts.append(pio.to_html(fig, include_plotlyjs=True, full_html=False, div_id="admf-equity"))
    parts.append("<h2>Trades</h2>")
    if not trades.empty and "pnl" in trades:
        parts.append(pio.to_html(_trades_figure(trades), include_plotlyjs=False, full_html=False, div_id="admf-trades"))
    parts.append(_trades_html(trades, max_trade_rows))
    payload = metrics_to_json(metrics, indent=None).replace("</", "<\\/")
    parts.append(f'<script id="admf-metrics" type="application/json">{payload}</script>')
    parts.append("</body></html>")
    out.write_text("".join(parts), encoding="utf-8")
    return out
