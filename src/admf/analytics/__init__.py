"""admf analytics layer: metrics of a run, its HTML report, and summary tables.

The report and tables live in `admf.analytics.report` (imports plotly lazily, rich eagerly).
"""

from admf.analytics.annualization import infer_periods_per_year
from admf.analytics.metrics import METRIC_KEYS, compute_metrics, drawdown, metrics_from_json, metrics_to_json

__all__ = [
    "METRIC_KEYS",
    "compute_metrics",
    "drawdown",
    "infer_periods_per_year",
    "metrics_from_json",
    "metrics_to_json",
]
