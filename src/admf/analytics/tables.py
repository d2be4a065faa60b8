"""Metrics as text: one formatter, a rich table for a run, a ranking table for a grid."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from rich.table import Table

from admf.analytics.metrics import METRIC_KEYS
from admf.core.errors import UserError

LABELS = {
    "start": "Start",
    "end": "End",
    "bars": "Bars",
    "periods_per_year": "Periods per year",
    "years": "Years (trading time)",
    "initial_capital": "Initial capital",
    "final_equity": "Final equity",
    "total_return": "Total return",
    "cagr": "CAGR",
    "volatility": "Volatility (ann.)",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "max_drawdown": "Max drawdown",
    "max_drawdown_duration_bars": "Max DD duration (bars)",
    "max_drawdown_duration_days": "Max DD duration (days)",
    "calmar": "Calmar",
    "exposure": "Exposure",
    "trade_count": "Trades",
    "win_rate": "Win rate",
    "profit_factor": "Profit factor",
    "expectancy": "Expectancy",
    "avg_trade_return": "Avg trade return",
    "avg_win": "Avg win",
    "avg_loss": "Avg loss",
}

_PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "win_rate", "avg_trade_return", "exposure"}
_RATIO = {"sharpe", "sortino", "calmar", "profit_factor"}
_MONEY = {"initial_capital", "final_equity", "expectancy", "avg_win", "avg_loss"}
# Metrics where smaller is better; everything else ranks descending.
_ASCENDING = {"max_drawdown", "max_drawdown_duration_bars", "max_drawdown_duration_days", "volatility"}
RANK_METRICS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "win_rate",
    "profit_factor",
    "trade_count",
)


def format_metric(key: str, value: Any) -> str:
    """Human text for one metric value: percentages, money with separators, n/a for None."""
    if value is None:
        return "n/a"
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int):
        return f"{value:,d}"
    if not isinstance(value, float):
        return str(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if key in _PERCENT:
        return f"{value * 100:.2f}%"
    if key in _RATIO:
        return f"{value:.3f}"
    if key in _MONEY:
        return f"{value:,.2f}"
    if key == "periods_per_year":
        return f"{value:,.0f}" if value == round(value) else f"{value:,.2f}"
    if key == "years":
        return f"{value:.3f}"
    if abs(value) >= 1e6 or (value != 0 and abs(value) < 1e-3):
        return f"{value:.4g}"
    return f"{value:,.4f}".rstrip("0").rstrip(".")


def format_metrics_table(metrics: dict[str, Any], title: str | None = None) -> Table:
    """Two-column rich table (metric, value) in METRIC_KEYS order, then any extra keys."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    keys = [k for k in METRIC_KEYS if k in metrics] + [k for k in metrics if k not in METRIC_KEYS]
    for key in keys:
        table.add_row(LABELS.get(key, key), format_metric(key, metrics[key]))
    return table


def _flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _sort_key(value: Any, ascending: bool) -> tuple[int, float]:
    # Missing and NaN always rank last, whichever the direction.
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return (1, 0.0)
    return (0, float(value) if ascending else -float(value))


def rank_table(
    rows: list[dict[str, Any]],
    sort_by: str = "sharpe",
    top: int = 20,
    *,
    ascending: bool | None = None,
    metric_columns: Iterable[str] = RANK_METRICS,
    title: str | None = None,
) -> Table:
    """The best `top` rows of a grid run by `sort_by`.

    A row is a dict of parameters and metrics (nested dicts such as {"params": {...}} are
    flattened to "params.period"). Keys that are not metrics are shown first, as parameters.
    Direction: descending, except for drawdown, drawdown duration and volatility, unless
    `ascending` says otherwise. Rows lacking the metric (None, NaN) come last.
    """
    flat = [_flatten(r) for r in rows]
    known = {k for r in flat for k in r}
    if flat and sort_by not in known:
        raise UserError(
            "unknown metric to sort by",
            field="sort_by",
            value=sort_by,
            accepted=", ".join(sorted(k for k in known if k in METRIC_KEYS)) or ", ".join(METRIC_KEYS),
        )
    if top < 1:
        raise UserError("top must be at least 1", field="top", value=top)
    asc = sort_by in _ASCENDING if ascending is None else ascending
    ranked = sorted(flat, key=lambda r: _sort_key(r.get(sort_by), asc))[:top]

    seen: dict[str, None] = {}
    for r in flat:
        for k in r:
            if k not in METRIC_KEYS:
                seen.setdefault(k)
    params = list(seen)
    metrics = [k for k in metric_columns if k in known]
    if sort_by not in metrics and sort_by not in params:
        metrics.insert(0, sort_by)

    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("#", justify="right")
    for p in params:
        table.add_column(p)
    for k in metrics:
        label = LABELS.get(k, k)
        table.add_column(f"{label} *" if k == sort_by else label, justify="right")
    for i, r in enumerate(ranked, 1):
        cells = [str(i)]
        cells += ["" if r.get(p) is None else format_metric(p, r.get(p)) for p in params]
        cells += [format_metric(k, r.get(k)) for k in metrics]
        table.add_row(*cells)
    return table
