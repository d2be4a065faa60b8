"""The run directory: everything one run produced, written whole or not at all.

Files are written into a hidden `.partial` folder and renamed into place at the end, so an
interrupted run leaves no half-written run directory.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from admf.config.schema import Config
from admf.core.errors import UserError

SECRET_FIELDS = ("api_key", "secret_key")


def resolved_config(cfg: Config) -> dict[str, Any]:
    """The config as run, with defaults filled in and secrets redacted."""
    data = cfg.model_dump(mode="json", exclude={"source", "base_dir"})
    data["data"] = _absolute_data(cfg, data["data"])
    live = data.get("live_trading") or {}
    for key in SECRET_FIELDS:
        if live.get(key):
            live[key] = "<redacted>"
    section = data.get("broker") or {}
    for key in section:  # a broker's settings: anything that looks like a credential
        if any(w in key.lower() for w in ("key", "secret", "token", "password")) and section[key]:
            section[key] = "<redacted>"
    return data


def _absolute_data(cfg: Config, data: dict[str, Any]) -> dict[str, Any]:
    """The data section with absolute folders and file paths, so the run's config.yaml reruns from anywhere."""
    from admf.data.catalog import looks_like_path, resolve
    from admf.runtime.backtest import resolve_data_dir

    data_dir = resolve_data_dir(cfg)
    out = dict(data)
    out["data_dir"] = str(data_dir.resolve())
    specs = []
    for spec in data["specs"]:
        if looks_like_path(spec):
            with contextlib.suppress(UserError):  # a missing file stays as written
                spec = str(resolve(spec, data_dir, cfg.base_dir).resolve())
        specs.append(spec)
    out["specs"] = specs
    return out


def safe_name(name: str) -> str:
    """A run name usable as one folder name: no path separators, no leading dots, never empty.

    `name: ../../escape` becomes `escape`, so a run directory never lands outside its folder.
    """
    cleaned = re.sub(r"\.{2,}", ".", re.sub(r"[^\w.-]+", "-", name, flags=re.ASCII)).strip(".-_")
    return cleaned[:100] or "run"


def new_run_dir(out: str | Path, name: str) -> Path:
    """The run directory's intended path, `<out>/<name>-<YYYYmmdd-HHMMSS>`; RunWriter makes it unique."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(out) / f"{safe_name(name)}-{stamp}"


def check_out_dir(out: str | Path, field: str = "--out") -> None:
    """Fail now, before a run, when run directories cannot be written under `out` (nothing is created)."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise UserError("is a file, not a folder", field=field, value=str(out),
                        accepted="a folder for run directories (it is created if missing)")
    probe = p
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{probe} is a file, so no folder can be made under it", field=field, value=str(out),
                        accepted="a folder for run directories")
    try:
        with tempfile.TemporaryDirectory(prefix=".admf-probe-", dir=probe):
            pass
    except OSError as exc:
        raise UserError(f"cannot write in {probe} ({exc.strerror or exc})", field=field, value=str(out),
                        accepted="a folder you can write in") from None


class RunWriter:
    """Collects files in a private hidden `.partial` folder and publishes them with one rename.

    The partial folder's name is unique to this writer, and the final name gets a -2, -3, ...
    suffix when taken, so runs started in the same second (in one process or several) never
    collide; `final` is the published path after `commit()`.
    """

    def __init__(self, final: Path) -> None:
        self.final = final
        final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))

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
        base, n = self.final, 2
        while True:
            if not self.final.exists():
                try:
                    # rename, not replace: it refuses a run directory another run published meanwhile
                    os.rename(self.tmp, self.final)
                    return self.final
                except OSError as exc:
                    if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                        raise
            self.final, n = Path(f"{base}-{n}"), n + 1

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def signals_for_csv(signals: pd.DataFrame) -> pd.DataFrame:
    """Signal changes with their time as ISO UTC text under `time`, as in every other CSV of a run."""
    out = signals.copy()
    if "ts" in out:
        at = list(out.columns).index("ts")
        out.insert(at, "time", pd.to_datetime(out.pop("ts").astype("int64"), utc=True))
    return out


def write_result_files(w: RunWriter, result: Any, prefix: str = "", *, report: bool = True) -> None:
    from admf.analytics.metrics import metrics_to_json
    from admf.analytics.report import write_html_report

    w.text(f"{prefix}metrics.json", metrics_to_json(result.metrics.to_dict()))
    w.frame(f"{prefix}trades.csv", result.trades)
    w.frame(f"{prefix}fills.csv", result.fills)
    w.frame(f"{prefix}orders.csv", result.orders)
    w.frame(f"{prefix}equity.parquet", result.equity)
    if result.signals is not None:
        w.frame(f"{prefix}signals.csv", signals_for_csv(result.signals))
    if len(result.books) > 1:
        books = {bid: b["metrics"] for bid, b in result.books.items()}
        w.text(f"{prefix}books.json", json.dumps(books, indent=2, default=str))
    if report:
        inputs = result.report_inputs()
        book_metrics = {bid: b["metrics"] for bid, b in result.books.items()}
        write_html_report(w.path(f"{prefix}report.html"), name=result.label or result.name,
                          metrics=result.metrics.to_dict(), book_metrics=book_metrics, **inputs)


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
