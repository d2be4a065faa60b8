"""`admf live`, the legacy live flag and `admf demo live`: a live session with a status line."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from admf.core.errors import BrokerError, UserError
from admf.runtime.live_run import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EquityHistory,
    drive,
)

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
    add_dashboard_arguments(p)


def add_dashboard_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dashboard", type=int, nargs="?", const=8050, metavar="PORT",
                   help="serve a live dashboard on PORT (default 8050; 0 picks a free one)")
    p.add_argument("--dashboard-host", default="127.0.0.1",
                   help="address the dashboard binds to (anything but loopback needs the printed token)")


def run_live(cfg: Config, args: Any, console: Console, *, settings: Any = None) -> int:
    from admf.runtime.factory import Endpoints, start_live_runner

    if getattr(args, "live", False) and not getattr(args, "confirm_live", False):
        raise UserError("live trading with real money needs --live --i-understand-this-is-real", field="--live")
    max_bars, duration = getattr(args, "max_bars", None), getattr(args, "duration", None)  # checked by cli.main
    endpoints = Endpoints(getattr(args, "base_url", None), getattr(args, "data_url", None),
                          getattr(args, "stream_url", None), getattr(args, "data_stream_url", None))
    paper = not getattr(args, "live", False)
    dashboard = _dashboard(args)  # a port in use is one line, before anything is sent
    mode = "paper" if paper else "LIVE"
    console.print(f"{cfg.name}: {mode} session on {', '.join(cfg.data.specs)} (Ctrl-C stops)")
    started = time.time()
    # bad input (keys, URLs, journal) raises a UserError here, before anything is sent; a broker
    # that fails to start otherwise is one line and exit 1 (nothing sent, the journal closed)
    try:
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
        if dashboard is not None:
            # the URL once, to the person at the terminal (it carries the token off loopback)
            console.print(f"dashboard: {dashboard.url}", highlight=False, soft_wrap=True)
        status = StatusLine(console)
        try:
            code, stopped_by, out = drive(session, runner, cfg, started, history=EquityHistory(),
                                          on_tick=lambda: status.update(session.status_line()),
                                          dashboard=dashboard, max_bars=max_bars, duration=duration)
        finally:
            status.close(session.status_line())
    finally:
        if dashboard is not None:
            dashboard.stop()
    if code == EXIT_INTERRUPTED:
        console.print("stopped by Ctrl-C" + (": open orders cancelled" if cfg.live_trading.cancel_on_stop else ""))
    elif stopped_by == "dashboard":
        console.print("stopped from the dashboard" +
                      (": open orders cancelled" if cfg.live_trading.cancel_on_stop else ""))
    if code == EXIT_ERROR:
        console.print(f"[bold red]live session ended by an error:[/] {stopped_by}", markup=True, highlight=False)
    console.print(f"equity {session.equity():,.2f}  fills {session.stats.fills}  run directory: {out}")
    return code


def _dashboard(args: Any) -> Any:
    port = getattr(args, "dashboard", None)
    if port is None:
        return None
    from admf.runtime.dashboard import Dashboard

    if not 0 <= port <= 65535:
        raise UserError("--dashboard must be a port from 0 to 65535", field="--dashboard", value=port)
    d = Dashboard(getattr(args, "dashboard_host", None) or "127.0.0.1", port)
    d.start()
    return d


class StatusLine:
    """The session's one status line: redrawn in place on a terminal; elsewhere (a pipe, a log
    file) printed as whole lines now and then, never with carriage returns."""

    EVERY = 30.0  # seconds between two status lines when output is not a terminal

    def __init__(self, console: Console) -> None:
        self.console = console
        self.view: Any = None
        self.last = 0.0
        if console.is_terminal:
            from rich.live import Live
            from rich.text import Text

            self.view = Live(Text(""), console=console, refresh_per_second=4, transient=False,
                             redirect_stdout=False, redirect_stderr=False)
            self.view.start()

    def update(self, line: str) -> None:
        if self.view is not None:
            from rich.text import Text

            self.view.update(Text(line))
        elif time.monotonic() - self.last >= self.EVERY:
            self.last = time.monotonic()
            self.console.print(line, highlight=False, soft_wrap=True)

    def close(self, line: str) -> None:
        if self.view is not None:
            self.update(line)
            self.view.stop()
            self.view = None
        else:
            self.console.print(line, highlight=False, soft_wrap=True)


def run_demo(args: Any, console: Console) -> int:
    """A whole live session against the in-process emulator: no keys, no network."""
    import tempfile

    from admf.emulator import run_emulator
    from admf.runtime.handle import demo_config

    speed = getattr(args, "speed", None)
    speed = 600.0 if speed is None else speed
    bars = getattr(args, "bars", None)
    bars = 120 if bars is None else bars
    with tempfile.TemporaryDirectory(prefix="admf-demo-") as tmp:  # the journal; removed at the end
        cfg, raw = demo_config(getattr(args, "out", None), tmp)
        with run_emulator(symbols=["SPY"], speed=speed, api_key=raw["live_trading"]["api_key"],
                          secret_key=raw["live_trading"]["secret_key"]) as emu:
            console.print(f"emulator on {emu.trading_url} replaying a synthetic walk of SPY minutes at {speed:g}x")
            ns = argparse.Namespace(base_url=emu.trading_url, data_url=emu.data_url, stream_url=emu.stream_url,
                                    data_stream_url=emu.data_stream_url("iex"), journal=None, duration=None,
                                    max_bars=bars, live=False, confirm_live=False,
                                    dashboard=getattr(args, "dashboard", None),
                                    dashboard_host=getattr(args, "dashboard_host", None))
            return run_live(cfg, ns, console)
