"""Sweeps: every combination of a grid config, on every core or on a Ray cluster.

The bars are loaded once and put in shared memory; each worker process builds a
`MarketData` over them, so the features one combination computes (an SMA, a Bollinger
mean and deviation per period) serve every later combination of that worker. Rows are
streamed to `results.parquet` as combinations finish; only the top N (by Sharpe) and the
labels asked for are re-run in full, for their trades and equity. Invalid combinations are
skipped and counted; `resume=True` computes only the combinations whose key is missing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context, shared_memory
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from admf.config.schema import Config
from admf.core.errors import UserError
from admf.data.timeline import Timeline
from admf.research.grid import Combination, GridPlan, data_fingerprint
from admf.research.results import ResultWriter, read_results

CONFIRM_ABOVE = 100_000
_COLS = ("ts", "sym", "open", "high", "low", "close", "volume")


@dataclass
class SweepResult:
    """`.table`: one row per valid combination (parameter columns, every metric, label, key)."""

    name: str
    table: pd.DataFrame
    run_dir: Path | None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    top: dict[str, Any] = field(default_factory=dict)  # label -> BacktestResult (top N and asked-for)
    engine: str = "compiled"
    computed: int = 0  # combinations computed by this call (the rest came from a resumed run)
    elapsed_s: float = 0.0

    @property
    def results_path(self) -> Path | None:
        return self.run_dir / "results.parquet" if self.run_dir else None

    def ranked(self, by: str = "sharpe") -> pd.DataFrame:
        return self.table.sort_values(by, ascending=False, na_position="last", kind="stable")


# ----------------------------------------------------------------------------------------------
# one combination, in whatever process runs it


class _Runner:
    """What a worker holds: the market data (and its feature cache) and the plan."""

    def __init__(self, cfg: Config, tl: Timeline, engine: str) -> None:
        from admf.analytics.annualization import infer_periods_per_year
        from admf.research.compiled import MarketData

        self.plan = GridPlan(cfg)
        self.tl = tl
        self.engine = engine
        self.md = MarketData(tl)
        self.index = pd.DatetimeIndex(tl.ts.astype("datetime64[ns]"), tz="UTC", name="timestamp")
        self.ppy = infer_periods_per_year(self.index) if len(tl) > 1 else None

    def row(self, combo: Combination) -> dict[str, Any]:
        from admf.research.compiled import run_books
        from admf.research.fastmetrics import fast_metrics
        from admf.runtime.backtest import run_variant

        cfg = self.plan.config_of(combo)
        if self.engine == "compiled":
            runs = run_books(cfg, self.md)
            metrics = fast_metrics(runs, self.md, self.index, self.ppy, cfg.portfolio.initial_capital)
        else:
            metrics = {str(k): v for k, v in run_variant(cfg, self.tl).metrics.to_dict().items()}
        return {"combination": combo.index, **combo.values, **metrics, "label": combo.label, "key": combo.key}

    def rows(self, combos: list[Combination]) -> list[dict[str, Any]]:
        return [self.row(c) for c in combos]


_WORKER: _Runner | None = None
_SHM: list[shared_memory.SharedMemory] = []


def _share(tl: Timeline) -> tuple[list[tuple[str, str, tuple[int, ...], str]], list[shared_memory.SharedMemory]]:
    spec, blocks = [], []
    for name in _COLS:
        a = np.ascontiguousarray(getattr(tl, name))
        shm = shared_memory.SharedMemory(create=True, size=max(a.nbytes, 1))
        np.ndarray(a.shape, a.dtype, buffer=shm.buf)[:] = a
        spec.append((name, shm.name, a.shape, a.dtype.str))
        blocks.append(shm)
    return spec, blocks


def _attach(spec: list[tuple[str, str, tuple[int, ...], str]], symbols: list[str], timeframe: str,
            rows: list[np.ndarray]) -> Timeline:
    arrays = {}
    for name, shm_name, shape, dtype in spec:
        shm = shared_memory.SharedMemory(name=shm_name)
        _SHM.append(shm)
        arrays[name] = np.ndarray(shape, np.dtype(dtype), buffer=shm.buf)
    return Timeline(arrays["ts"], arrays["sym"], arrays["open"], arrays["high"], arrays["low"], arrays["close"],
                    arrays["volume"], symbols, timeframe, rows)


def _init_worker(cfg: Config, spec: Any, symbols: list[str], timeframe: str, rows: list[np.ndarray],
                 engine: str) -> None:
    global _WORKER
    _WORKER = _Runner(cfg, _attach(spec, symbols, timeframe, rows), engine)


def _work(combos: list[Combination]) -> list[dict[str, Any]]:
    assert _WORKER is not None
    return _WORKER.rows(combos)


# ----------------------------------------------------------------------------------------------
# the sweep


def _chunks(todo: Iterator[Combination], size: int) -> Iterator[list[Combination]]:
    buf: list[Combination] = []
    for c in todo:
        buf.append(c)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def _find_resumable(out: Path, name: str) -> Path | None:
    cands = sorted(out.glob(f".{name}-*.partial"), key=lambda p: p.stat().st_mtime, reverse=True)
    return next((p for p in cands if (p / "results.parquet").is_dir()), None)


def sweep(config: Any, *, workers: int | None = None, ray: str | bool | None = None, resume: bool = False,
          top: int = 10, labels: list[str] | tuple[str, ...] = (), out: str | Path | None = None,
          start: str | None = None, end: str | None = None, symbols: list[str] | None = None,
          bars: int | None = None, engine: str | None = None, yes: bool = True, report: bool = False,
          progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Run every combination of a grid config; see the module docstring.

    workers: processes (default: every core; 1 runs in this process). ray: True for a local
    Ray cluster, or an address ("auto", "127.0.0.1:6379"). progress(done, total) is called as
    combinations finish. Over 100,000 combinations need yes=True.
    """
    from admf.runtime.backtest import _as_config, choose_engine, load_timeline
    from admf.runtime.rundir import new_run_dir, resolved_config

    t0 = time.perf_counter()
    cfg = _as_config(config)
    tl = load_timeline(cfg, start=start, end=end, symbols=symbols, bars=bars)
    eng = choose_engine(cfg, engine)
    plan = GridPlan(cfg, data_fingerprint(tl))
    total = len(plan)
    if total > CONFIRM_ABOVE and not yes:
        raise UserError(f"{total:,} combinations; run again with --yes to start", field="grid", value=total,
                        accepted=f"--yes, or at most {CONFIRM_ABOVE:,} combinations")
    out_dir = Path(out or cfg.output.dir)
    run_dir = _find_resumable(out_dir, cfg.name) if resume else None
    if run_dir is None:
        final = new_run_dir(out_dir, cfg.name)
        run_dir = final.parent / f".{final.name}.partial"
        run_dir.mkdir(parents=True)
        import yaml

        (run_dir / "config.yaml").write_text(yaml.safe_dump(resolved_config(cfg), sort_keys=False))
    folder = run_dir / "results.parquet"
    done = set(read_results(folder, ["key"])["key"].tolist()) if resume and folder.exists() else set()
    skipped: list[tuple[str, str]] = []

    def todo() -> Iterator[Combination]:
        for c in plan:
            reason = plan.invalid_reason(c)
            if reason is not None:
                skipped.append((c.label, reason))
                continue
            if c.key not in done:
                yield c

    writer = ResultWriter(folder)
    n_done = len(done)
    computed = 0
    n_workers = max(1, workers or os.cpu_count() or 1)
    chunk = max(1, min(64, total // (n_workers * 8) or 1))

    def take(rows: list[dict[str, Any]]) -> None:
        nonlocal n_done, computed
        writer.add(rows)
        n_done += len(rows)
        computed += len(rows)
        if progress is not None:
            progress(n_done, total - len(skipped) if n_done >= total - len(skipped) else total)

    try:
        if ray:
            from admf.research.ray_backend import run_on_ray

            run_on_ray(cfg, tl, eng, _chunks(todo(), chunk), take, address=ray)
        elif n_workers == 1:
            runner = _Runner(cfg, tl, eng)
            for ch in _chunks(todo(), chunk):
                take(runner.rows(ch))
        else:
            _run_pool(cfg, tl, eng, _chunks(todo(), chunk), take, n_workers)
    finally:
        writer.flush()
    table = read_results(folder)
    keys = {c.key for c in plan}
    if len(table):
        table = table[table["key"].isin(keys)].drop_duplicates("key").sort_values("combination")
        table = table.reset_index(drop=True)
    result = SweepResult(cfg.name, table, run_dir, skipped, engine=eng, computed=computed)
    _keep_top(result, plan, tl, eng, top, list(labels), report)
    (run_dir / "summary.json").write_text(json.dumps({
        "combinations": total, "valid": len(table), "skipped": len(skipped), "computed": computed,
        "skipped_list": [{"label": lb, "reason": r} for lb, r in skipped], "engine": eng,
        "results": "results.parquet", "top": list(result.top)}, indent=2))
    final_dir = run_dir.parent / run_dir.name[1:].removesuffix(".partial")
    os.replace(run_dir, final_dir)
    result.run_dir = final_dir
    result.elapsed_s = time.perf_counter() - t0
    return result


def _run_pool(cfg: Config, tl: Timeline, eng: str, chunks: Iterator[list[Combination]],
              take: Callable[[list[dict[str, Any]]], None], n_workers: int) -> None:
    spec, blocks = _share(tl)
    try:
        ctx = get_context("fork") if "fork" in __import__("multiprocessing").get_all_start_methods() else None
        with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(cfg, spec, tl.symbols, tl.timeframe, tl.rows, eng)) as pool:
            pending: set[Future[list[dict[str, Any]]]] = set()
            for ch in chunks:
                pending.add(pool.submit(_work, ch))
                if len(pending) >= 2 * n_workers:  # bounded: memory stays flat however many combinations
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        take(f.result())
            for f in pending:
                take(f.result())
    finally:
        for b in blocks:
            b.close()
            b.unlink()


def _keep_top(result: SweepResult, plan: GridPlan, tl: Timeline, eng: str, top: int, labels: list[str],
              report: bool) -> None:
    """Re-run the top N by Sharpe and the asked-for labels in full; write their files under top/."""
    from admf.runtime.backtest import run_engine
    from admf.runtime.rundir import RunWriter

    t = result.table
    if not len(t) or result.run_dir is None:
        return
    ranked = t.sort_values("sharpe", ascending=False, na_position="last", kind="stable")
    wanted = list(dict.fromkeys(ranked["label"].head(top).tolist() + labels))
    unknown = [lb for lb in labels if lb not in set(t["label"])]
    if unknown:
        raise UserError("no such combination", field="--label", value=unknown[0],
                        accepted="a label from the results table, e.g. " + str(t["label"].iloc[0]))
    by_label = {c.label: c for c in plan if c.label in set(wanted)}
    from admf.analytics.metrics import metrics_to_json

    def as_dict(m: Mapping[str, Any]) -> dict[str, Any]:
        return {str(k): v for k, v in m.items()}

    md = None
    index = None
    for rank, label in enumerate(wanted, 1):
        cfg = plan.config_of(by_label[label])
        if eng == "compiled":
            from admf.research.compiled import MarketData, run_compiled

            md = md or MarketData(tl)  # features shared by the N runs
            r = run_compiled(cfg, tl, label=label, md=md, records=False)
        else:
            r = run_engine(cfg, tl, eng, label=label)
        # kept in memory: metrics, trades and equity (fills, orders and signals of a million bars would
        # multiply the sweep's memory by N; `admf backtest` on that combination gives them), the N
        # equity curves on one index
        index = r.equity.index if index is None else index
        r.equity = pd.Series(r.equity.to_numpy(), index=index, name=r.equity.name)
        r.fills, r.orders, r.signals = r.fills.iloc[:0], r.orders.iloc[:0], None
        r.books = {bid: {"metrics": b["metrics"]} for bid, b in r.books.items()}
        result.top[label] = r
        w = RunWriter(result.run_dir / "top" / f"{rank:03d}")
        try:  # trades and equity (the full result is in SweepResult.top)
            w.text("label.txt", label + "\n")
            w.text("metrics.json", metrics_to_json(as_dict(r.metrics)))
            w.frame("trades.csv", r.trades)
            w.frame("equity.parquet", r.equity)
            if report:
                from admf.analytics.report import write_html_report

                write_html_report(w.path("report.html"), name=label, metrics=as_dict(r.metrics), equity=r.equity,
                                  trades=r.trades)
            w.commit()
        except BaseException:
            w.abort()
            raise


__all__ = ["SweepResult", "sweep"]
