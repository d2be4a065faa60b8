"""report.html of a sweep or a walk-forward: top-N table, objective heatmap, sensitivity, windows.

One self-contained page with plotly.js inline once, packed as in the backtest report
(admf.analytics.report), no network needed.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from admf.analytics.metrics import METRIC_KEYS
from admf.analytics.tables import format_metric

if TYPE_CHECKING:
    from admf.research.walkforward import WalkForwardResult

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1280px;color:#222;
padding:0 16px} h1{font-size:1.4em} h2{font-size:1.1em;margin-top:28px}
table{border-collapse:collapse;font-size:13px} th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4} td.k{text-align:left} .note{color:#777;font-size:12px}
"""
TOP_METRICS = ("sharpe", "sortino", "calmar", "total_return", "profit_factor", "max_drawdown", "trade_count",
               "win_rate")


def _num(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").replace([math.inf, -math.inf], math.nan)


def param_columns(table: pd.DataFrame) -> list[str]:
    """The varied parameters of a results table: every column before the metrics that is not the label."""
    return [c for c in table.columns if c not in METRIC_KEYS and c not in ("label", "window")]


def _top_html(table: pd.DataFrame, objective: str, top: int, params: Sequence[str]) -> str:
    if table.empty:
        return '<p class="note">No valid combination.</p>'
    order = _num(table[objective]).sort_values(ascending=False, na_position="last").index[:top]
    metrics = [objective, *[m for m in TOP_METRICS if m != objective and m in table]]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["#", *params, *metrics, "label"])
    body = []
    for rank, i in enumerate(order, 1):
        r = table.loc[i]
        cells = [str(rank), *(html.escape(str(r[p])) for p in params),
                 *(html.escape(format_metric(m, r[m])) for m in metrics)]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells)
                    + f'<td class="k">{html.escape(str(r["label"]))}</td></tr>')
    note = f'<p class="note">Top {len(order)} of {len(table):,} by {html.escape(objective)}.</p>'
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{note}"


def _figures(table: pd.DataFrame, objective: str, params: Sequence[str], heatmap: Sequence[str] | None) -> list[Any]:
    import plotly.graph_objects as go

    figs: list[Any] = []
    if table.empty or objective not in table:
        return figs
    t = table.assign(_obj=_num(table[objective]))
    numeric = [p for p in params if pd.api.types.is_numeric_dtype(t[p]) and t[p].nunique() > 1]
    pair = list(heatmap) if heatmap else numeric[:2]
    if len(pair) == 2 and all(p in t for p in pair):
        grid = t.pivot_table(index=pair[1], columns=pair[0], values="_obj", aggfunc="mean")
        figs.append(go.Figure(go.Heatmap(z=grid.to_numpy(), x=[str(x) for x in grid.columns],
                                         y=[str(y) for y in grid.index], colorscale="RdYlGn",
                                         colorbar={"title": objective}),
                              layout={"title": f"{objective} over {pair[0]} and {pair[1]} (mean over the others)",
                                      "xaxis": {"title": pair[0], "type": "category"},
                                      "yaxis": {"title": pair[1], "type": "category"}, "height": 460}))
    for p in params:
        if t[p].nunique() < 2:
            continue
        g = t.groupby(p, sort=True)["_obj"]
        x = [str(v) for v in g.mean().index]
        fig = go.Figure(layout={"title": f"sensitivity of {objective} to {p}", "xaxis": {"title": p,
                                "type": "category"}, "yaxis": {"title": objective}, "height": 320})
        fig.add_trace(go.Scatter(x=x, y=g.mean().to_numpy(), mode="lines+markers", name="mean"))
        fig.add_trace(go.Scatter(x=x, y=g.max().to_numpy(), mode="lines+markers", name="best",
                                 line={"dash": "dot"}))
        figs.append(fig)
    return figs


def _page(path: str | Path, title: str, sections: list[tuple[str, str]], figures: list[tuple[str, Any]]) -> Path:
    from admf.analytics.packing import UNPACK_JS
    from admf.analytics.report import figure_html, plotly_scripts

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = ['<!DOCTYPE html><html><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title><style>{_CSS}</style>",
             f"<script>{UNPACK_JS}</script></head><body><h1>{html.escape(title)}</h1>"]
    for head, body in sections:
        parts.append(f"<h2>{html.escape(head)}</h2>{body}")
    for i, (head, fig) in enumerate(figures):
        fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 48, "b": 40})
        parts.append(f"<h2>{html.escape(head)}</h2>" + figure_html(fig, f"admf-fig-{i}"))
    parts.append(plotly_scripts() + "</body></html>")
    out.write_text("".join(parts), encoding="utf-8")
    return out


def write_sweep_report(path: str | Path, table: pd.DataFrame, *, name: str, objective: str = "sharpe",
                       top: int = 20, heatmap: Sequence[str] | None = None) -> Path:
    """The report of a results table (one row per combination)."""
    params = param_columns(table)
    figs = _figures(table, objective, params, heatmap)
    return _page(path, f"{name}: {len(table):,} combinations",
                 [("Top combinations", _top_html(table, objective, top, params))],
                 [("Objective", f) for f in figs])


def write_walkforward_report(path: str | Path, res: WalkForwardResult, *, name: str, objective: str = "sharpe",
                             top: int = 20) -> Path:
    import plotly.graph_objects as go

    w = res.windows
    sections = [("Out-of-sample metrics", _metrics_html(res.metrics)), ("Windows", _windows_html(w, objective))]
    figures: list[tuple[str, Any]] = []
    if not w.empty:
        x = [f"{int(n)}: {str(s)[:10]}" for n, s in zip(w["window"], w["test_start"], strict=True)]
        fig = go.Figure(layout={"title": f"{objective} in sample vs out of sample", "barmode": "group",
                                "height": 360, "xaxis": {"title": "window (test start)"}})
        fig.add_trace(go.Bar(x=x, y=_num(w[f"is_{objective}"]).to_numpy(), name="in sample (train)"))
        fig.add_trace(go.Bar(x=x, y=_num(w[f"oos_{objective}"]).to_numpy(), name="out of sample (test)"))
        figures.append(("In sample vs out of sample", fig))
    if len(res.equity):
        from admf.analytics.downsample import minmax_indices

        keep = minmax_indices(res.equity.to_numpy(dtype=float), 4000)
        eq = res.equity.iloc[keep]
        figures.append(("Stitched out-of-sample equity", go.Figure(
            go.Scatter(x=eq.index, y=eq.to_numpy(), mode="lines", name="equity"),
            layout={"height": 380, "yaxis": {"title": "equity"}})))
    pooled = _pooled(res.results, objective)
    if not pooled.empty:
        params = param_columns(pooled)
        sections.append(("Combinations over all train windows (mean objective)",
                         _top_html(pooled, objective, top, params)))
        figures += [("Objective over the train windows", f) for f in _figures(pooled, objective, params, None)]
    return _page(path, f"{name}: walk-forward, {len(w)} windows", sections, figures)


def _pooled(tables: Sequence[pd.DataFrame], objective: str) -> pd.DataFrame:
    """Mean of each metric per combination over the train windows."""
    frames = [t for t in tables if not t.empty]
    if not frames:
        return pd.DataFrame()
    allrows = pd.concat(frames, ignore_index=True)
    params = param_columns(allrows)
    metrics = [m for m in TOP_METRICS if m in allrows]
    num = allrows[metrics].apply(_num)
    keys = allrows[[*params, "label"]].astype(str) if params else allrows[["label"]]
    grouped = pd.concat([keys, num], axis=1).groupby("label", sort=False)
    out = grouped[metrics].mean().reset_index()
    first = allrows.drop_duplicates("label").set_index("label")[params]
    return first.join(out.set_index("label")).reset_index()[[*params, *metrics, "label"]]


def _metrics_html(metrics: dict[str, Any]) -> str:
    if not metrics:
        return '<p class="note">No out-of-sample bars.</p>'
    rows = "".join(f'<tr><td class="k">{html.escape(k)}</td><td>{html.escape(format_metric(k, v))}</td></tr>'
                   for k, v in metrics.items())
    return f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>"


def _windows_html(w: pd.DataFrame, objective: str) -> str:
    if w.empty:
        return '<p class="note">No windows.</p>'
    cols = ["window", "train_start", "train_end", "test_start", "test_end",
            *[c for c in w.columns if c not in METRIC_KEYS and not c.startswith(("is_", "oos_"))
              and c not in ("window", "train_start", "train_end", "test_start", "test_end", "train_bars",
                            "test_bars")],
            f"is_{objective}", f"oos_{objective}", "is_trade_count", "oos_trade_count", "oos_total_return"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for _, r in w.iterrows():
        cells = []
        for c in cols:
            v = r.get(c)
            if c.startswith(("is_", "oos_")):
                cells.append(format_metric(c.split("_", 1)[1], v))
            elif isinstance(v, pd.Timestamp):
                cells.append(str(v.tz_convert("America/New_York").date()))
            else:
                cells.append("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return (f"<table><tr>{head}</tr>{''.join(body)}</table>"
            '<p class="note">Dates are New York session dates; each window is [start, end).</p>')


__all__ = ["param_columns", "write_sweep_report", "write_walkforward_report"]
