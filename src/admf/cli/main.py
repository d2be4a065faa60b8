"""The `admf` command line. `main.py --config X` at the repository root is the same program."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from admf import __version__
from admf.cli.live import add_dashboard_arguments, add_live_arguments
from admf.core.errors import ConfigError, UserError

if TYPE_CHECKING:
    from admf.config.schema import Config

LEGACY_FLAGS = ("backtest", "signal_generation", "signal_replay", "optimize", "alpaca")


# `python main.py --config X` takes every option of `admf backtest X` (same help, `legacy_` dests)
LEGACY_RUN_OPTIONS = {
    "start": "first date or time to use (UTC)", "end": "last date to use; a bare date includes that whole day",
    "symbols": "comma-separated subset of the config's symbols", "out": "folder for run directories",
    "no-report": "do not write report.html", "quiet": "print only the run directory",
    "engine": "auto (default: compiled when every strategy has an array form), event or compiled",
}
# counts and durations that must be positive: argparse dest -> (flag, the commands it is checked for)
POSITIVE = {"bars": ("--bars", None), "legacy_bars": ("--bars", None), "max_bars": ("--max-bars", None),
            "duration": ("--duration", None), "speed": ("--speed", ("demo",))}  # emulator: --speed 0 = stepping


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", help="first date or time to use (UTC), e.g. 2024-06-01")
    p.add_argument("--end", help="last date to use; a bare date includes that whole day")
    p.add_argument("--symbols", help="comma-separated subset of the config's symbols")
    p.add_argument("--out", help="folder for run directories (default: output.dir of the config, runs/)")
    p.add_argument("--bars", type=int, help="use only the first N bars")
    p.add_argument("--no-report", action="store_true", help="do not write report.html")
    p.add_argument("--quiet", action="store_true", help="print only the run directory")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given `argv` without `emulator`, the emulator's options (and its half-second
    import of aiohttp and the server) are left out, which no other command needs."""
    p = argparse.ArgumentParser(
        prog="admf", description="Config-driven, event-driven trading: backtests, grids, live trading on Alpaca.",
        epilog="A list or range(a, b, step) in a strategy parameter makes a grid; range is inclusive of b.",
    )
    p.add_argument("--config", "-c", dest="legacy_config",
                   help="legacy form: run this config (same as `admf backtest CONFIG`)")
    p.add_argument("--backtest", "-bt", action="store_true", help="legacy: run a backtest (the default)")
    p.add_argument("--signal-generation", "-sg", action="store_true",
                   help="legacy: store the config's signals in signals/ (admf signals CONFIG)")
    p.add_argument("--signal-replay", "-sr", action="store_true",
                   help="legacy: backtest on the signals stored in signals/ (admf replay CONFIG)")
    p.add_argument("--optimize", "-opt", action="store_true",
                   help="legacy: run the parameter grid of the config and rank it (what a grid config does)")
    p.add_argument("--alpaca", "-a", action="store_true", help="legacy: trade the config live on Alpaca")
    p.add_argument("--bars", type=int, dest="legacy_bars", help="use only the first N bars")
    for flag, help_ in LEGACY_RUN_OPTIONS.items():
        kind = {"action": "store_true"} if flag in ("no-report", "quiet") else {}
        p.add_argument(f"--{flag}", dest=f"legacy_{flag.replace('-', '_')}", help=f"with --config: {help_}",
                       **kind)  # type: ignore[arg-type]
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    p.add_argument("--version", action="version", version=f"admf {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    b = sub.add_parser("backtest", help="run a backtest (a grid config runs every combination)")
    b.add_argument("config", help="YAML config file")
    _add_run_options(b)
    from admf.cli.sweep import add_engine_argument, add_sweep_arguments

    add_engine_argument(b)
    sw = sub.add_parser("sweep", help="run every combination of a grid config on every core (or Ray), resumable")
    sw.add_argument("config", help="YAML config file")
    _add_run_options(sw)
    add_engine_argument(sw)
    if argv is None or "sweep" in argv:  # its search options import the research engine
        add_sweep_arguments(sw)

    v = sub.add_parser("validate", help="check a config without running it")
    v.add_argument("config", help="YAML config file")

    sub.add_parser("strategies", help="list the strategies and their parameters")

    e = sub.add_parser("emulator", help="run the loopback Alpaca emulator")
    if argv is None or "emulator" in argv:
        try:
            from admf.emulator.cli import add_arguments

            add_arguments(e)
        except ImportError:
            pass

    live = sub.add_parser("live", help="trade a config live (paper by default) on a broker")
    live.add_argument("config", help="YAML config file")
    from admf.adapters import DEFAULT_LIVE
    from admf.config.schema import broker_names

    live.add_argument("--broker", choices=broker_names(), default=None,
                      help=f"the broker adapter (default: the config's execution.broker, else {DEFAULT_LIVE})")
    add_live_arguments(live)

    d = sub.add_parser("demo", help="demos that need no account and no network")
    d.add_argument("what", choices=["live"], help="live: a whole live session against the emulator")
    d.add_argument("--bars", type=int, default=120, help="live bars to trade before stopping")
    d.add_argument("--speed", type=float, default=600.0, help="replay speed of the emulator's clock")
    d.add_argument("--out", help="folder for the run directory (default: runs)")
    add_dashboard_arguments(d)

    from admf.cli.research import add_research_commands

    add_research_commands(sub, argv)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its message
        return 0 if exc.code in (0, None) else 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        _check_positive(args)
        return _dispatch(args, parser)
    except UserError as exc:
        # escaped: a message quotes the user's values and code, and "[x]" in them is not markup
        _console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        _console(stderr=True).print("interrupted")
        return 130


def _check_positive(args: argparse.Namespace) -> None:
    for dest, (flag, commands) in POSITIVE.items():
        value = vars(args).get(dest)
        if commands is not None and args.command not in commands:
            continue
        if value is not None and not value > 0:
            raise UserError("must be positive", field=flag, value=value, accepted="a number above 0")


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    cmd = args.command
    if cmd is None:
        if not args.legacy_config:
            if any(getattr(args, f) for f in LEGACY_FLAGS):
                raise UserError("the legacy flags need a config", field="--config",
                                accepted="python main.py --config CONFIG [-bt|-opt|...]")
            parser.print_help()
            return 2
        return _legacy(args)
    given = [f"--{f.replace('_', '-')}" for f in LEGACY_FLAGS if getattr(args, f)]
    given += ["--config"] * bool(args.legacy_config) + ["--bars"] * (args.legacy_bars is not None)
    given += [f"--{f}" for f in LEGACY_RUN_OPTIONS if vars(args)[f"legacy_{f.replace('-', '_')}"] not in (None, False)]
    if given:
        # `admf -a backtest X` would otherwise drop -a without a word
        raise UserError(f"legacy options go without a command, not with `{cmd}`", field=", ".join(given),
                        accepted=f"python main.py --config CONFIG {' '.join(given)}, or `admf {cmd} ...` "
                                 "with its own options (see `admf " + cmd + " --help`)")
    if cmd == "backtest":
        return cmd_backtest(args.config, args)
    if cmd == "sweep":
        from admf.cli.sweep import cmd_sweep

        return cmd_sweep(args.config, args)
    if cmd == "validate":
        return cmd_validate(args.config)
    if cmd == "strategies":
        return cmd_strategies()
    if cmd == "emulator":
        from admf.emulator.cli import run

        return run(args)
    if cmd == "live":
        from admf.cli.live import run_live
        from admf.config.loader import load_config
        from admf.runtime.factory import live_broker, switch_broker

        cfg = load_config(args.config)
        cfg, _ = switch_broker(cfg, live_broker(cfg, args.broker))
        cfg = cfg.model_copy(update={"execution": cfg.execution.model_copy(update={"execution_mode": "async"})})
        return run_live(cfg, args, _console())
    if cmd == "demo":
        from admf.cli.live import run_demo

        return run_demo(args, _console())
    if cmd in ("signals", "query", "replay", "walkforward"):
        from admf.cli.research import run_research

        return run_research(args)
    parser.print_help()
    return 2


def _legacy(args: argparse.Namespace) -> int:
    if args.signal_generation or args.signal_replay:
        from admf.cli.research import run_legacy

        return run_legacy(args)
    if args.alpaca:
        from admf.cli.live import run_live
        from admf.config.loader import load_config
        from admf.runtime.factory import switch_broker

        cfg, warning = switch_broker(load_config(args.legacy_config), "alpaca")
        if warning is None:
            return run_live(cfg, args, _console())
        _console(stderr=True).print(f"[bold yellow]warning:[/] {warning}", markup=True, highlight=False)
    ns = argparse.Namespace(bars=args.legacy_bars, optimize=args.optimize,
                            **{f.replace("-", "_"): vars(args)[f"legacy_{f.replace('-', '_')}"]
                               for f in LEGACY_RUN_OPTIONS})
    return cmd_backtest(args.legacy_config, ns)


def cmd_validate(path: str) -> int:
    from admf.config.loader import expand, load_config

    cfg = load_config(path)
    variants = expand(cfg)
    check_data(cfg)
    con = _console()
    from admf.research.grid import GridPlan

    valid, bad = GridPlan(cfg).count_valid()
    note = f", {valid} valid, {len(bad)} skipped (e.g. {bad[0][0]}: {bad[0][1]})" if bad else ""
    con.print(f"{path}: ok ({len(cfg.strategies)} strategies, {len(variants)} combination"
              f"{'s' if len(variants) != 1 else ''}{note}, data: {', '.join(cfg.data.specs)})")
    return 0


def check_data(cfg: Config, start: str | None = None, end: str | None = None) -> None:
    """Resolve each data spec and time bound up front, so an error names the config file and field."""
    from admf.data.catalog import resolve, time_bound
    from admf.runtime.backtest import resolve_data_dir

    data_dir = resolve_data_dir(cfg)
    specs = cfg.data.specs
    for i, spec in enumerate(specs):
        try:
            resolve(spec, data_dir, cfg.base_dir)
        except UserError as exc:
            raise type(exc)(exc.detail, file=cfg.source, field="data" if len(specs) == 1 else f"data[{i}]",
                            value=spec, accepted=exc.accepted) from None
    bounds = []
    for key, flag in (("start", start), ("end", end)):
        value = flag if flag is not None else getattr(cfg.data, key)
        file, field = (None, f"--{key}") if flag is not None else (cfg.source, key)
        try:
            bounds.append((time_bound(value, field, end=key == "end"), value, file, field))
        except UserError as exc:
            raise ConfigError(exc.detail, file=file, field=field, value=value, accepted=exc.accepted) from None
    (lo, first, _, _), (hi, last, file, field) = bounds
    if lo is not None and hi is not None and hi <= lo:
        raise ConfigError("end is not after start", file=file, field=field, value=last, accepted=f"after {first}")


def cmd_strategies() -> int:
    from rich.table import Table

    from admf.strategies.registry import all_strategies

    t = Table(title="Strategies", show_lines=False)
    t.add_column("name", style="bold")
    t.add_column("parameters (default, accepted)")
    t.add_column("rule")
    for name, cls in all_strategies().items():
        params = "\n".join(f"{k}={p.default} ({p.describe()})" for k, p in cls.params.items())
        t.add_row(name, params, cls.describe())
    _console().print(t)
    return 0


def cmd_backtest(path: str, args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from admf.analytics.tables import format_metrics_table, rank_table
    from admf.config.loader import expand, load_config
    from admf.runtime.backtest import choose_engine, load_timeline, run_engine, spec_symbol
    from admf.runtime.rundir import check_out_dir, write_run

    cfg = load_config(path)
    check_out_dir(args.out, "--out") if args.out else check_out_dir(cfg.output.dir, "output.dir")
    check_data(cfg, args.start, args.end)
    variants = expand(cfg)
    if len(variants) > 1:  # a grid runs as a sweep
        from admf.cli.sweep import cmd_sweep

        return cmd_sweep(path, args)
    symbols = [s.strip() for s in args.symbols.split(",")] if args.symbols else None
    tl = load_timeline(cfg, start=args.start, end=args.end, symbols=symbols, bars=args.bars)
    engine = choose_engine(cfg, getattr(args, "engine", None))
    con = _console()
    if getattr(args, "optimize", False) and len(variants) == 1:
        _console(stderr=True).print("note: --optimize runs the grid a config declares with a list or "
                                    "range(a, b, step) in a strategy parameter; this config has none, "
                                    "so this is a single backtest")
    total = len(tl) * len(variants)
    results = []
    show = not args.quiet and total >= 200_000 and con.is_terminal
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=con, disable=not show, transient=True) as prog:
        task = prog.add_task(f"backtest {cfg.name}", total=total)
        for v in variants:
            results.append(run_engine(v.config, tl, engine, label=v.label, progress=lambda n: prog.advance(task, n)))
    out = args.out or cfg.output.dir
    # the run directory's config.yaml is what ran: the command line's start, end and symbols included
    kept = [i for i in range(len(cfg.data.specs)) if spec_symbol(cfg, i) in tl.symbols]
    data = cfg.data.model_copy(update={
        "start": args.start or cfg.data.start, "end": args.end or cfg.data.end,
        "specs": [cfg.data.specs[i] for i in kept] if symbols else cfg.data.specs,
        "symbols": [cfg.data.symbols[i] for i in kept] if symbols and cfg.data.symbols else cfg.data.symbols,
    })
    run_cfg = cfg.model_copy(update={"data": data})
    run_dir = write_run(results, run_cfg, out, report=cfg.output.report and not args.no_report)
    if args.quiet:
        con.print(str(run_dir))
        return 0
    if len(results) == 1:
        r = results[0]
        title = f"{cfg.name}: {len(tl):,} bars, {', '.join(tl.symbols)} ({engine} engine)"
        con.print(format_metrics_table(r.metrics.to_dict(), title=title))
        if len(r.books) > 1:
            con.print(rank_table([{"book": b, **d["metrics"]} for b, d in r.books.items()], sort_by="total_return",
                                 top=len(r.books), title="Books"))
    else:
        rows = [{"label": r.label, **r.metrics.to_dict()} for r in results]
        con.print(rank_table(rows, sort_by="sharpe", top=20, title=f"{cfg.name}: {len(results)} combinations"))
    con.print(f"run directory: {run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
