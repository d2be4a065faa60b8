"""The research commands: `admf signals`, `query`, `replay` and `walkforward`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from admf.cli.main import _add_run_options, _console
from admf.core.errors import UserError

COMMANDS = ("signals", "query", "replay", "walkforward")
DEFAULT_STORE = "signals"


def _window_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", help="first date or time to use (UTC), e.g. 2024-06-01")
    p.add_argument("--end", help="last date to use; a bare date includes that whole day")
    p.add_argument("--symbols", help="comma-separated subset of the config's symbols")
    p.add_argument("--bars", type=int, help="use only the first N bars")


def add_research_commands(sub: Any, argv: Sequence[str] | None = None) -> None:
    """Register the research subcommands on the `admf` parser's subparsers.

    Given the command line, only the command it names gets its options (which import the
    research engine): every other command starts without that cost.
    """
    if argv is not None and not set(COMMANDS) & set(argv):
        for name, help_ in (("signals", "generate and store the signals of every variant of a config"),
                            ("query", "SQL (DuckDB) over a signal store: views strategies, signals, runs"),
                            ("replay", "backtest a config on its stored signals (no features computed)"),
                            ("walkforward", "walk-forward: choose on each train window, trade the next test window")):
            sub.add_parser(name, help=help_)
        return
    from admf.research.replay import SWEEP_KEYS
    from admf.research.search import OBJECTIVES, add_search_arguments

    s = sub.add_parser("signals", help="generate and store the signals of every variant of a config")
    s.add_argument("config", help="YAML config file (a grid stores every combination)")
    s.add_argument("--store", default=DEFAULT_STORE, help=f"signal store directory (default: {DEFAULT_STORE})")
    s.add_argument("--workers", type=int, help="processes (default: every core)")
    _window_options(s)

    q = sub.add_parser("query", help="SQL (DuckDB) over a signal store: views strategies, signals, runs")
    q.add_argument("sql", help='e.g. "SELECT strategy, count(*) FROM strategies GROUP BY 1"')
    q.add_argument("--store", default=DEFAULT_STORE, help=f"signal store directory (default: {DEFAULT_STORE})")
    q.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    q.add_argument("--limit", type=int, default=100, help="rows shown in the table (default 100; CSV: all)")

    r = sub.add_parser("replay", help="backtest a config on its stored signals (no features computed)")
    r.add_argument("config", help="YAML config file")
    r.add_argument("--store", default=DEFAULT_STORE, help=f"signal store directory (default: {DEFAULT_STORE})")
    r.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2",
                   help="vary a risk or cost parameter on the fixed signals (repeatable); "
                        f"KEY: {', '.join(SWEEP_KEYS)}")
    from admf.cli.sweep import add_engine_argument

    add_engine_argument(r)
    _add_run_options(r)

    w = sub.add_parser("walkforward", help="walk-forward: choose on each train window, trade the next test window",
                       epilog="Windows are calendar days (60d) or weeks (8w) on New York session dates.")
    w.add_argument("config", help="YAML config file with a parameter grid")
    w.add_argument("--train", default="60d", help="train window length (default 60d)")
    w.add_argument("--test", default="20d", help="test window length (default 20d)")
    w.add_argument("--step", help="how far windows move (default: the test length)")
    w.add_argument("--anchored", action="store_true", help="every train window starts at the first date")
    w.add_argument("--split", type=float, help="one window: this fraction of the dates trains, the rest tests")
    w.add_argument("--objective", default="sharpe", help=f"what the choice maximises: {', '.join(OBJECTIVES)}")
    w.add_argument("--min-trades", type=int, default=0, help="a combination needs this many train trades")
    add_search_arguments(w)
    add_engine_argument(w)
    _add_run_options(w)


def _symbols(args: argparse.Namespace) -> list[str] | None:
    return [s.strip() for s in args.symbols.split(",")] if getattr(args, "symbols", None) else None


def _load(args: argparse.Namespace) -> Any:
    from admf.cli.main import check_data
    from admf.config.loader import load_config

    cfg = load_config(args.config)
    check_data(cfg, args.start, args.end)
    return cfg


def run_research(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "signals":
        return cmd_signals(args)
    if cmd == "query":
        return cmd_query(args)
    if cmd == "replay":
        return cmd_replay(args)
    return cmd_walkforward(args)


def run_legacy(args: argparse.Namespace) -> int:
    """`main.py --config X --signal-generation` / `--signal-replay` (both: generate, then replay)."""
    ns = argparse.Namespace(config=args.legacy_config, store=DEFAULT_STORE, start=None, end=None, symbols=None,
                            bars=args.legacy_bars, workers=None, sweep=[], out=None, no_report=False, quiet=False)
    if args.signal_generation:
        cmd_signals(ns)
    return cmd_replay(ns) if args.signal_replay else 0


def cmd_signals(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from admf.research.signal_gen import signals

    cfg = _load(args)
    if args.workers is not None and args.workers < 1:
        raise UserError("must be at least 1", field="--workers", value=args.workers)
    con = _console()
    with Progress(TextColumn("signals"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=con,
                  disable=not con.is_terminal, transient=True) as prog:
        task = prog.add_task("signals", total=None)

        def progress(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        res = signals(cfg, store=args.store, start=args.start, end=args.end, symbols=_symbols(args), bars=args.bars,
                      workers=args.workers, progress=progress)
    n = len(res.variants)
    con.print(f"{cfg.name}: {n:,} variant{'s' if n != 1 else ''}, {res.generated:,} generated, "
              f"{res.skipped:,} already in the store, in {res.elapsed_s:.1f} s")
    con.print(f"store: {res.store} (run {res.run_id})")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    import math

    from rich.table import Table

    from admf.research.signal_store import query

    df = query(args.store, args.sql)
    con = _console()
    if args.csv:
        print(df.to_csv(index=False), end="")
        return 0
    t = Table(show_header=True, header_style="bold")
    for col in df.columns:
        t.add_column(str(col), justify="right" if df[col].dtype.kind in "iuf" else "left")
    for row in df.head(args.limit).itertuples(index=False):
        t.add_row(*("" if v is None or (isinstance(v, float) and math.isnan(v)) else
                    f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    con.print(t)
    if len(df) > args.limit:
        con.print(f"{args.limit} of {len(df):,} rows shown (--limit N, or --csv for all)")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from admf.analytics.tables import format_metrics_table, rank_table
    from admf.research.replay import parse_sweep, replay, replay_sweep
    from admf.research.search import runner_for, write_table_run
    from admf.research.signal_store import SignalStore

    cfg = _load(args)
    SignalStore(args.store)  # an unknown store fails before any data is read
    out = args.out or cfg.output.dir
    con = _console()
    if args.sweep:
        table = replay_sweep(cfg, store=args.store, sweep=parse_sweep(args.sweep), start=args.start, end=args.end,
                             symbols=_symbols(args), bars=args.bars, runner=runner_for(getattr(args, "engine", None)))
        run_dir = write_table_run(table, cfg, out, name=f"{cfg.name}-replay-sweep",
                                  report=cfg.output.report and not args.no_report)
        if not args.quiet:
            rows = [{str(k): v for k, v in r.items()} for r in table.to_dict(orient="records")]
            con.print(rank_table(rows, sort_by="sharpe", top=20,
                                 title=f"{cfg.name}: {len(table)} combinations on stored signals"))
            con.print(f"all rows: {run_dir / 'results.parquet'}")
    else:
        from admf.runtime.rundir import write_run

        res = replay(cfg, store=args.store, start=args.start, end=args.end, symbols=_symbols(args), bars=args.bars,
                     engine=getattr(args, "engine", None) or "auto")
        results = res if isinstance(res, list) else [res]
        run_cfg = cfg.model_copy(update={"name": f"{cfg.name}-replay"})
        run_dir = write_run(results, run_cfg, out, report=cfg.output.report and not args.no_report)
        if not args.quiet:
            if len(results) == 1:
                metrics = {str(k): v for k, v in results[0].metrics.items()}
                con.print(format_metrics_table(metrics, title=f"{cfg.name} (replay)"))
            else:
                rows = [{"label": r.label, **{str(k): v for k, v in r.metrics.items()}} for r in results]
                con.print(rank_table(rows, sort_by="sharpe", top=20, title=f"{cfg.name}: {len(rows)} combinations"))
    con.print(f"run directory: {run_dir}" if not args.quiet else str(run_dir))
    return 0


def cmd_walkforward(args: argparse.Namespace) -> int:
    from rich.table import Table

    from admf.analytics.tables import format_metric, format_metrics_table
    from admf.research.search import runner_for
    from admf.research.walkforward import walkforward

    cfg = _load(args)
    res = walkforward(cfg, train=args.train, test=args.test, step=args.step, anchored=args.anchored,
                      split=args.split, objective=args.objective, min_trades=args.min_trades, method=args.search,
                      trials=args.trials, seed=args.seed, out=args.out or cfg.output.dir,
                      runner=runner_for(getattr(args, "engine", None)), start=args.start,
                      end=args.end, symbols=_symbols(args), bars=args.bars,
                      report=cfg.output.report and not args.no_report)
    con = _console()
    if args.quiet:
        con.print(str(res.run_dir))
        return 0
    obj = args.objective
    t = Table(title=f"{cfg.name}: walk-forward, {len(res.windows)} windows", header_style="bold")
    for col in ("window", "test start", "test end", "chosen", f"in-sample {obj}", f"out-of-sample {obj}",
                "OOS trades"):
        t.add_column(col)
    for _, r in res.windows.iterrows():
        t.add_row(str(r["window"]), str(r["test_start"].tz_convert("America/New_York").date()),
                  str(r["test_end"].tz_convert("America/New_York").date()), r["label"] or "(none)",
                  format_metric(obj, r[f"is_{obj}"]), format_metric(obj, r[f"oos_{obj}"]),
                  format_metric("trade_count", r["oos_trade_count"]))
    con.print(t)
    if res.metrics:
        con.print(format_metrics_table(res.metrics, title="out of sample, stitched"))
    con.print(f"run directory: {res.run_dir}")
    return 0


__all__ = ["COMMANDS", "add_research_commands", "run_legacy", "run_research"]
