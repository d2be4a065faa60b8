"""The run directory: everything one run produced, written whole or not at all.

Files are written into a hidden `.partial` folder and renamed into place at the end, so an
interrupted run leaves no half-written run directory.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from admf.config.schema import Config

SECRET_FIELDS = ("api_key", "secret_key")


def resolved_config(cfg: Config) -> dict[str, Any]:
    """The config as run, with defaults filled in and secrets redacted."""
    data = cfg.model_dump(mode="json", exclude={"source", "base_dir"})
    live = data.get("live_trading") or {}
    for key in SECRET_FIELDS:
        if live.get(key):
            live[key] = "<redacted>"
    section = data.get("broker") or {}
    for key in section:  # a broker's settings: anything that looks like a credential
        if any(w in key.lower() for w in ("key", "secret", "token", "password")) and section[key]:
            section[key] = "<redacted>"
    return data


def new_run_dir(out: str | Path, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(out) / f"{name}-{stamp}"
    path, n = base, 2
    while path.exists():
        path, n = Path(f"{base}-{n}"), n + 1
    return path


class RunWriter:
    """Collects files in `<final>.partial` and publishes them with one rename."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.tmp = final.parent / f".{final.name}.partial"
        self.tmp.mkdir(parents=True, exist_ok=False)

    def path(self, rel: str) -> Path:
        p = self.tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def text(self, rel: str, content: str) -> None:
        self.path(rel).write_text(content)

    def frame(self, rel: str, df: pd.DataFrame | pd.Series) -> None:
        p = self.path(rel)
        if rel.endswith(".parquet"):
            (df.to_frame() if isinstance(df, pd.Series) else df).to_parquet(p)
        else:
            df.to_csv(p, index=isinstance(df, pd.Series))

    def commit(self) -> Path:
        os.replace(self.tmp, self.final)
        return self.final

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def write_result_files(w: RunWriter, result: Any, prefix: str = "", *, report: bool = True) -> None:
    from admf.analytics.metrics import metrics_to_json
    from admf.analytics.report import write_html_report

    w.text(f"{prefix}metrics.json", metrics_to_json(result.metrics.to_dict()))
    w.frame(f"{prefix}trades.csv", result.trades)
    w.frame(f"{prefix}fills.csv", result.fills)
    w.frame(f"{prefix}orders.csv", result.orders)
    w.frame(f"{prefix}equity.parquet", result.equity)
    if result.signals is not None:
        w.frame(f"{prefix}signals.csv", result.signals)
    if len(result.books) > 1:
        books = {bid: b["metrics"] for bid, b in result.books.items()}
        w.text(f"{prefix}books.json", json.dumps(books, indent=2, default=str))
    if report:
        write_html_report(w.path(f"{prefix}report.html"), name=result.label or result.name,
                          metrics=result.metrics.to_dict(), equity=result.equity, trades=result.trades)


def write_run(results: list[Any], cfg: Config, out: str | Path, *, report: bool = True) -> Path:
    """Write one run directory for a single backtest or a whole grid; returns its path."""
    w = RunWriter(new_run_dir(out, cfg.name))
    try:
        w.text("config.yaml", yaml.safe_dump(resolved_config(cfg), sort_keys=False))
        if len(results) == 1:
            write_result_files(w, results[0], report=report)
        else:
            rows = [{"variant": i, "label": r.label, **r.metrics.to_dict()} for i, r in enumerate(results)]
            w.frame("grid.csv", pd.DataFrame(rows))
            best = max(range(len(results)), key=lambda i: _score(results[i].metrics))
            w.text("best.json", json.dumps({"variant": best, "label": results[best].label}, indent=2))
            for i, r in enumerate(results):
                from admf.analytics.metrics import metrics_to_json

                w.text(f"variants/{i:04d}/metrics.json", metrics_to_json(r.metrics.to_dict()))
                w.frame(f"variants/{i:04d}/trades.csv", r.trades)
            write_result_files(w, results[best], prefix="best/", report=report)
        return w.commit()
    except BaseException:
        w.abort()
        raise


def _score(m: dict[str, Any]) -> float:
    v = m.get("sharpe")
    return float(v) if isinstance(v, int | float) else float("-inf")
