"""`admf sweep CONFIG`: every combination of a grid, on every core or on Ray, resumable.

A grid config given to `admf backtest` runs here too.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.console import Console

from admf.core.errors import UserError

BYTES_PER_ROW = 600  # results.parquet, measured on the sample grids (metrics and parameters)


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, help="processes (default: every core); 1 runs in this process")
    p.add_argument("--ray", nargs="?", const=True, default=None, metavar="ADDRESS",
                   help="run on Ray (pip install 'admf[ray]'): alone, a local cluster; or a cluster's address")
    p.add_argument("--resume", action="store_true", help="continue the last interrupted sweep of this config")
    p.add_argument("--top", type=int, default=10, help="keep trades and equity of the N best by Sharpe (default 10)")
    p.add_argument("--label", action="append", default=[], help="also keep this combination in full (repeatable)")
    p.add_argument("--yes", action="store_true", help="start a sweep of more than 100,000 combinations")
    from admf.research.search import add_search_arguments

    add_search_arguments(p)


def add_engine_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=["auto", "event", "compiled"],
                   help="auto (default): the compiled engine when every strategy has an array form")


def _estimate(cfg: Any, args: argparse.Namespace, total: int, workers: int) -> tuple[float, float]:
    """(seconds, bytes) for the whole sweep, from timing two combinations here."""
    from admf.research.grid import GridPlan
    from admf.research.sweep import _Runner
    from admf.runtime.backtest import choose_engine, load_timeline

    symbols = [s.strip() for s in args.symbols.split(",")] if getattr(args, "symbols", None) else None
    tl = load_timeline(cfg, start=args.start, end=args.end, symbols=symbols, bars=args.bars)
    runner = _Runner(cfg, tl, choose_engine(cfg, args.engine))
    combos = []
    for c in GridPlan(cfg):
        if runner.plan.invalid_reason(c) is None:
            combos.append(c)
        if len(combos) == 3:
            break
    runner.row(combos[0])  # warm-up: compilation and features
    t0 = time.perf_counter()
    for c in combos[1:]:
        runner.row(c)
    per = (time.perf_counter() - t0) / max(1, len(combos) - 1)
    return per * total / workers, float(BYTES_PER_ROW * total)


def cmd_sweep(path: str, args: argparse.Namespace, console: Console | None = None) -> int:
    import os

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from admf.analytics.tables import rank_table
    from admf.cli.main import check_data
    from admf.config.loader import load_config
    from admf.research.grid import GridPlan
    from admf.research.sweep import CONFIRM_ABOVE, sweep

    con = console or Console(highlight=False, soft_wrap=True)
    cfg = load_config(path)
    check_data(cfg, args.start, args.end)
    if getattr(args, "search", "grid") != "grid":
        return _cmd_search(cfg, args, con)
    total = len(GridPlan(cfg))
    workers = getattr(args, "workers", None) or os.cpu_count() or 1
    if total > CONFIRM_ABOVE and not getattr(args, "yes", False):
        secs, size = _estimate(cfg, args, total, workers)
        con.print(f"{total:,} combinations: about {secs / 60:,.1f} minutes on {workers} workers, "
                  f"about {size / 1e6:,.0f} MB of results")
        raise UserError(f"{total:,} combinations need --yes", field="--yes", value=total,
                        accepted=f"--yes to start, or a grid of at most {CONFIRM_ABOVE:,}")
    symbols = [s.strip() for s in args.symbols.split(",")] if getattr(args, "symbols", None) else None
    show = not args.quiet and con.is_terminal
    t0 = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}/s"), TimeRemainingColumn(), console=con, disable=not show,
                  transient=True) as prog:
        task = prog.add_task(f"sweep {cfg.name}", total=total, rate="0")

        def progress(done: int, of: int) -> None:
            rate = done / max(time.perf_counter() - t0, 1e-9)
            prog.update(task, completed=done, total=of, rate=f"{rate:,.1f}")

        r = sweep(cfg, workers=getattr(args, "workers", None), ray=getattr(args, "ray", None),
                  resume=getattr(args, "resume", False), top=getattr(args, "top", 10),
                  labels=getattr(args, "label", []), out=args.out or cfg.output.dir, start=args.start, end=args.end,
                  symbols=symbols, bars=args.bars, engine=getattr(args, "engine", None), yes=True,
                  report=cfg.output.report and not args.no_report, progress=progress)
    if args.quiet:
        con.print(str(r.run_dir))
        return 0
    # parameter columns instead of the label, so no label is cut
    rows = [{str(k): v for k, v in row.items()}
            for row in r.table.drop(columns=["combination", "key", "label"]).to_dict("records")]
    if rows:
        con.print(rank_table(rows, sort_by="sharpe", top=20,
                             title=f"{cfg.name}: {len(r.table):,} combinations ({r.engine} engine)"))
    if r.skipped:
        shown = ", ".join(f"{lb} ({why})" for lb, why in r.skipped[:5])
        more = f" and {len(r.skipped) - 5} more" if len(r.skipped) > 5 else ""
        con.print(f"skipped {len(r.skipped):,} invalid combinations: {shown}{more}")
    if r.computed < len(r.table):
        con.print(f"resumed: computed {r.computed:,}, {len(r.table) - r.computed:,} were already done")
    con.print(f"all {len(r.table):,} rows: {r.results_path} (pandas.read_parquet reads the folder)")
    con.print(f"run directory: {r.run_dir}")
    return 0


def _cmd_search(cfg: Any, args: argparse.Namespace, con: Console) -> int:
    """`admf sweep --search random|optuna`: the trials' rows in the results table of a sweep."""
    from admf.analytics.tables import rank_table
    from admf.research.search import runner_for, search, write_table_run
    from admf.runtime.backtest import load_timeline

    symbols = [s.strip() for s in args.symbols.split(",")] if getattr(args, "symbols", None) else None
    tl = load_timeline(cfg, start=args.start, end=args.end, symbols=symbols, bars=args.bars)
    table = search(cfg, tl, method=args.search, trials=args.trials, seed=args.seed,
                   runner=runner_for(getattr(args, "engine", None)))
    run_dir = write_table_run(table, cfg, args.out or cfg.output.dir, name=cfg.name,
                              report=cfg.output.report and not args.no_report)
    if args.quiet:
        con.print(str(run_dir))
        return 0
    rows = [{str(k): v for k, v in row.items()} for row in table.drop(columns=["label"]).to_dict("records")]
    if rows:
        con.print(rank_table(rows, sort_by="sharpe", top=20,
                             title=f"{cfg.name}: {len(table):,} combinations ({args.search} search, seed {args.seed})"))
    con.print(f"all {len(table):,} rows: {run_dir / 'results.parquet'}")
    con.print(f"run directory: {run_dir}")
    return 0


__all__ = ["add_engine_argument", "add_sweep_arguments", "cmd_sweep"]
