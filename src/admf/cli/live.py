"""`admf live`, the legacy live flag and `admf demo live`: a live session with a status line."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from admf.core.errors import BrokerError, UserError

if TYPE_CHECKING:
    from rich.console import Console

    from admf.config.schema import Config


def add_live_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--live", action="store_true", help="real money: also needs --i-understand-this-is-real")
    p.add_argument("--i-understand-this-is-real", action="store_true", dest="confirm_live")
    p.add_argument("--base-url", help="broker setting base_url: the trading API (e.g. the emulator)")
    p.add_argument("--data-url", help="broker setting data_url: market data REST")
    p.add_argument("--stream-url", help="broker setting stream_url: the order-updates websocket")
    p.add_argument("--data-stream-url", help="broker setting data_stream_url: the market data websocket")
    p.add_argument("--journal", help="SQLite journal file (default: <output.dir>/<name>.journal.sqlite)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--max-bars", type=int, help="stop after this many live bars")


# Exit codes of `admf live` (README "Live trading"): every one of them ends with the journal
# closed and the run directory written, except 2, which sends nothing and writes nothing.
EXIT_OK = 0  # stopped as asked: --max-bars, --duration, Ctrl-C
EXIT_ERROR = 1  # a runtime failure ended the session (one line on stderr says which)
EXIT_KILLED = 3  # the kill switch (daily_loss_limit) tripped: open orders cancelled, no new ones


def run_live(cfg: Config, args: Any, console: Console, *, settings: Any = None) -> int:
    import logging

    from rich.live import Live
    from rich.text import Text

    from admf.runtime.factory import Endpoints, start_live_runner

    if getattr(args, "live", False) and not getattr(args, "confirm_live", False):
        raise UserError("live trading with real money needs --live --i-understand-this-is-real", field="--live")
    endpoints = Endpoints(getattr(args, "base_url", None), getattr(args, "data_url", None),
                          getattr(args, "stream_url", None), getattr(args, "data_stream_url", None))
    paper = not getattr(args, "live", False)
    mode = "paper" if paper else "LIVE"
    console.print(f"{cfg.name}: {mode} session on {', '.join(cfg.data.specs)} (Ctrl-C stops)")
    started = time.time()
    # bad input (keys, URLs, journal) raises a UserError here, before anything is sent; a broker
    # that fails to start otherwise is one line and exit 1 (nothing sent, the journal closed)
    try:
        runner = start_live_runner(cfg, paper=paper, confirm_live=getattr(args, "confirm_live", False),
                                   endpoints=endpoints, journal_path=getattr(args, "journal", None),
                                   settings=settings)
    except UserError:
        raise  # one line, exit 2 (by the CLI)
    except BrokerError as exc:
        console.print(f"[bold red]the live session could not start:[/] {exc}", markup=True, highlight=False)
        return EXIT_ERROR
    session = runner.session
    assert session is not None
    code, stopped_by = EXIT_OK, "end"
    try:
        status = Text(session.status_line())
        with Live(status, console=console, refresh_per_second=4, transient=False,
                  redirect_stdout=False, redirect_stderr=False) as view:
            def tick() -> None:
                view.update(Text(session.status_line()))

            try:
                stopped_by = session.run(max_bars=getattr(args, "max_bars", None),
                                         duration=getattr(args, "duration", None), on_tick=tick)
            except KeyboardInterrupt:
                stopped_by = "ctrl-c"
                console.print("stopping: cancelling open orders" if cfg.live_trading.cancel_on_stop else "stopping")
            except Exception as exc:  # a fatal runtime error: stop cleanly, say what it was
                logging.getLogger("admf.live").exception("live session failed")
                code, stopped_by = EXIT_ERROR, f"error: {type(exc).__name__}: {exc}"
            tick()
    finally:
        try:
            runner.stop()
        except Exception as exc:
            logging.getLogger("admf.live").exception("stopping the live session failed")
            code, stopped_by = EXIT_ERROR, f"error while stopping: {type(exc).__name__}: {exc}"
    if stopped_by == "no-data":
        code, stopped_by = EXIT_ERROR, session.stalled
    if code == EXIT_OK and session.killed:
        code, stopped_by = EXIT_KILLED, f"kill switch: {session.guard.kill_reason}"
    out = write_live_run(cfg, session, started, stopped_by=stopped_by, exit_code=code)
    if code == EXIT_ERROR:
        console.print(f"[bold red]live session ended by an error:[/] {stopped_by}", markup=True, highlight=False)
    console.print(f"equity {session.equity():,.2f}  fills {session.stats.fills}  run directory: {out}")
    return code


def write_live_run(cfg: Config, session: Any, started: float, *, stopped_by: str = "end", exit_code: int = 0) -> Path:
    """The live run directory: resolved config, fills, trades, the audit trail and a summary."""
    import pandas as pd
    import yaml

    from admf.runtime.backtest import _fills_frame, _trades_frame
    from admf.runtime.rundir import RunWriter, new_run_dir, resolved_config

    name = cfg.name if cfg.name.endswith("live") else f"{cfg.name}-live"
    w = RunWriter(new_run_dir(cfg.output.dir, name))
    try:
        w.text("config.yaml", yaml.safe_dump(resolved_config(cfg), sort_keys=False))
        w.frame("fills.csv", _fills_frame(session.books))
        w.frame("trades.csv", _trades_frame(session.books))
        audit = session.audit
        w.text("audit.log", "".join(audit.line(r) + "\n" for r in audit.records))
        if cfg.live_trading.audit_jsonl:
            w.text("audit.jsonl", "".join(json.dumps(r) + "\n" for r in audit.records))
        summary = {
            "started": pd.Timestamp(started, unit="s", tz="UTC").isoformat(), "bars": session.stats.bars,
            "fills": session.stats.fills, "duplicate_fills_ignored": session.stats.duplicate_fills,
            "equity": session.equity(), "cash": session.cash(), "positions": session.positions(),
            "refused_orders": [{"client_order_id": c, "reason": r} for c, r in session.broker.refused],
            "kill_switch": session.guard.kill_reason or None,
            "stopped_by": stopped_by, "exit_code": exit_code,
        }
        w.text("summary.json", json.dumps(summary, indent=2))
        return w.commit()
    except BaseException:
        w.abort()
        raise


def run_demo(args: Any, console: Console) -> int:
    """A whole live session against the in-process emulator: no keys, no network."""
    import tempfile

    import yaml

    from admf.config.interpolate import interpolate
    from admf.config.loader import config_from_dict
    from admf.config.schema import broker_names
    from admf.emulator import run_emulator
    from admf.runtime.factory import get_adapter

    # the broker whose protocol admf's emulator speaks offers the demo's config
    demo = next(c for c in (get_adapter(n).demo_config for n in broker_names()) if c)
    raw = interpolate(yaml.safe_load(demo))
    tmp = Path(tempfile.mkdtemp(prefix="admf-demo-"))
    raw["output"] = {"dir": str(getattr(args, "out", None) or "runs")}
    raw["live_trading"]["journal"] = str(tmp / "journal.sqlite")
    cfg = config_from_dict(raw)
    speed = getattr(args, "speed", None) or 600.0
    bars = getattr(args, "bars", None) or 120
    with run_emulator(symbols=["SPY"], speed=speed, api_key=raw["live_trading"]["api_key"],
                      secret_key=raw["live_trading"]["secret_key"]) as emu:
        console.print(f"emulator on {emu.trading_url} replaying SPY minutes at {speed:g}x")
        ns = argparse.Namespace(base_url=emu.trading_url, data_url=emu.data_url, stream_url=emu.stream_url,
                                data_stream_url=emu.data_stream_url("iex"), journal=None, duration=None,
                                max_bars=bars, live=False, confirm_live=False)
        return run_live(cfg, ns, console)
