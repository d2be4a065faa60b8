"""Live sessions from Python: `admf.live(config)` and `admf.demo()` return a `LiveHandle`.

The session's core loop (LiveSession.run, which must stay on one thread) runs on a thread of
the handle's own, so a notebook cell returns at once and the notebook's event loop is never
touched; the async engine has its own loop thread as in the CLI. `status` is a snapshot the
session thread refreshes on every tick (the same dict the dashboard shows), `stop()` ends the
session the way Ctrl-C ends `admf live` (open orders cancelled when configured, journal closed)
and writes the run directory.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from admf.config.schema import Config
from admf.core.errors import UserError
from admf.runtime.live import LiveSession

__all__ = ["EquityHistory", "LiveHandle", "StopRequested", "demo", "demo_config", "live", "session_state"]

RECENT_FILLS = 50


class StopRequested(Exception):  # noqa: N818 - a request, not an error
    """Raised from a tick callback to end LiveSession.run the way Ctrl-C does."""


def session_state(session: LiveSession, *, name: str = "", stopping: bool = False) -> dict[str, Any]:
    """A JSON-ready snapshot of a session (the dashboard's `/api/state`, a handle's `status`)."""
    last = session.stats.last_bar
    orders = []
    for bo in list(session.broker.book_orders.values()):
        if bo.settled:
            continue
        r = bo.request
        orders.append({"client_order_id": r.client_order_id, "symbol": r.symbol, "side": r.side.value,
                       "qty": r.qty, "filled": bo.filled_qty, "type": r.order_type.value,
                       "status": bo.parts[-1].status.value})
    fills = sorted((f for b in session.books.values() for f in b.fills[-RECENT_FILLS:]), key=lambda f: f.ts)
    return {
        "name": name or session.cfg.name, "ts": last.ts if last is not None else time.time_ns(),
        "equity": session.equity(), "cash": session.cash(), "bars": session.stats.bars,
        "positions": session.positions(), "orders": orders,
        "fills": [{"ts": f.ts, "symbol": f.symbol, "side": f.side.value, "qty": f.qty, "price": f.price,
                   "client_order_id": f.client_order_id} for f in fills[-RECENT_FILLS:]],
        "connections": dict(session.stats.connections), "kill_switch": session.guard.kill_reason or None,
        "stopping": stopping,
    }


class EquityHistory:
    """Equity at each new last-bar time, sampled on the session's ticks (for the live report)."""

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.equity: list[float] = []

    def sample(self, session: LiveSession) -> None:
        last = session.stats.last_bar
        if last is None:
            return
        if self.ts and last.ts <= self.ts[-1]:
            self.equity[-1] = session.equity()  # fills since: the same bar, a newer value
            return
        self.ts.append(last.ts)
        self.equity.append(session.equity())


class LiveHandle:
    """A live session on a thread of its own; `start()`, `wait()`, `status`, `books`, `stop()`."""

    def __init__(self, cfg: Config, *, endpoints: Any = None, journal: str | Path | None = None,
                 settings: Any = None, cleanup: Callable[[], None] | None = None, dashboard: Any = None) -> None:
        self.cfg = cfg
        self._endpoints = endpoints
        self._journal = journal
        self._settings = settings
        self._cleanup = cleanup
        self.dashboard = dashboard
        self.session: LiveSession | None = None
        self.run_dir: Path | None = None
        self.stopped_by: str | None = None
        self.exit_code: int | None = None  # as `admf live` would exit: 0, 1 (an error), 3 (kill switch)
        self.error: BaseException | None = None
        self.history = EquityHistory()
        self._status: dict[str, Any] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._runner: Any = None
        self._started = 0.0
        self.emulator: Any = None  # admf.demo's in-process emulator

    def __repr__(self) -> str:
        state = "running" if self.running else ("stopped" if self._thread is not None else "not started")
        return f"LiveHandle({self.cfg.name!r}, {state}, bars={self.status.get('bars', 0)})"

    def __enter__(self) -> LiveHandle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def status(self) -> dict[str, Any]:
        """The latest snapshot (equity, cash, bars, positions, orders, fills, connections, ...)."""
        return dict(self._status)

    @property
    def books(self) -> dict[str, Any]:
        return self.session.books if self.session is not None else {}

    def start(self, timeout: float = 60.0) -> LiveHandle:
        """Connect, warm up and start trading; returns once the session runs (errors raise here)."""
        if self._thread is not None:
            return self
        self._started = time.time()
        self._thread = threading.Thread(target=self._main, name=f"admf-live-{self.cfg.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"the live session did not start within {timeout:g}s")
        if self.error is not None and self.session is None:
            err, self.error = self.error, None
            self._thread.join(10)
            self._finish_cleanup()
            raise err
        return self

    def wait(self, bars: int | None = None, timeout: float | None = None) -> bool:
        """Block until `bars` live bars have been applied (or the session ended, or `timeout`
        seconds passed); True when the bars arrived."""
        deadline = time.monotonic() + timeout if timeout is not None else None
        while True:
            s = self.session
            if bars is not None and s is not None and s.stats.bars >= bars:
                return True
            if not self.running:
                return bars is None
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def stop(self, timeout: float = 30.0) -> Path | None:
        """Stop the session (cancel open orders when configured), write the run directory and
        return it; a second call returns the same directory."""
        self._stop.set()
        t = self._thread
        if t is not None:
            t.join(timeout)
        self._finish_cleanup()
        if self.error is not None:
            err, self.error = self.error, None
            raise err
        return self.run_dir

    # -- the session thread ------------------------------------------------------------------
    def _main(self) -> None:
        from admf.runtime.factory import start_live_runner

        try:
            self._runner = start_live_runner(self.cfg, endpoints=self._endpoints, journal_path=self._journal,
                                             settings=self._settings)
            self.session = self._runner.session
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            return
        session = self.session
        assert session is not None
        self._tick()
        self._ready.set()
        try:
            self.exit_code, self.stopped_by, self.run_dir = drive(
                session, self._runner, self.cfg, self._started, history=self.history, on_tick=self._tick,
                stop=self._stop, dashboard=self.dashboard)
        except BaseException as exc:  # the run directory could not be written: stop() raises it
            self.error = exc
        self._tick()

    def _tick(self) -> None:
        if self.session is not None:
            self._status = session_state(self.session, stopping=self._stop.is_set())

    def _finish_cleanup(self) -> None:
        cleanup, self._cleanup = self._cleanup, None
        if cleanup is not None:
            cleanup()


def drive(session: LiveSession, runner: Any, cfg: Config, started: float, *, history: EquityHistory,
          on_tick: Callable[[], None] | None = None, stop: threading.Event | None = None, dashboard: Any = None,
          max_bars: int | None = None, duration: float | None = None) -> tuple[int, str, Path]:
    """Run a started session until it ends or `stop`/the dashboard asks, stop the runner, write
    the run directory; (exit code, stopped_by, run directory). Ctrl-C is exit 130, the run
    directory written all the same."""
    import logging

    from admf.cli.live import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_KILLED, EXIT_OK, write_live_run

    events = [e for e in (stop, getattr(dashboard, "stop_requested", None)) if e is not None]

    def tick() -> None:
        history.sample(session)
        if dashboard is not None:
            dashboard.publish(session_state(session, stopping=any(e.is_set() for e in events)))
        if on_tick is not None:
            on_tick()
        for e in events:
            if e.is_set():
                raise StopRequested

    code, stopped_by = EXIT_OK, "end"
    try:
        try:
            stopped_by = session.run(max_bars=max_bars, duration=duration, on_tick=tick)
        except StopRequested:
            stopped_by = "dashboard" if dashboard is not None and dashboard.stop_requested.is_set() else "stop"
        except KeyboardInterrupt:
            code, stopped_by = EXIT_INTERRUPTED, "ctrl-c"
        except Exception as exc:  # a fatal runtime error: stop cleanly, say what it was
            logging.getLogger("admf.live").exception("live session failed")
            code, stopped_by = EXIT_ERROR, f"error: {type(exc).__name__}: {exc}"
    finally:
        try:
            runner.stop()
        except Exception as exc:
            logging.getLogger("admf.live").exception("stopping the live session failed")
            code, stopped_by = EXIT_ERROR, f"error while stopping: {type(exc).__name__}: {exc}"
    history.sample(session)
    if stopped_by == "no-data":
        code, stopped_by = EXIT_ERROR, session.stalled
    if code == EXIT_OK and session.killed:
        code, stopped_by = EXIT_KILLED, f"kill switch: {session.guard.kill_reason}"
    out = write_live_run(cfg, session, started, stopped_by=stopped_by, exit_code=code, history=history)
    if dashboard is not None:
        with contextlib.suppress(Exception):
            dashboard.publish({**session_state(session, stopping=True), "stopped": True})
    return code, stopped_by, out


# -- entry points ------------------------------------------------------------------------------

def demo_config(out: str | Path | None, journal_dir: str | Path) -> tuple[Config, dict[str, Any]]:
    """The demo's config (the first broker adapter that offers one) and its raw dict."""
    import yaml

    from admf.config.interpolate import interpolate
    from admf.config.loader import config_from_dict
    from admf.config.schema import broker_names
    from admf.runtime.factory import get_adapter

    text = next(c for c in (get_adapter(n).demo_config for n in broker_names()) if c)
    raw = interpolate(yaml.safe_load(text))
    raw["output"] = {"dir": str(out or "runs")}
    raw["live_trading"]["journal"] = str(Path(journal_dir) / "journal.sqlite")
    return config_from_dict(raw), raw


def _serve(dashboard: int | None, host: str) -> Any:
    if dashboard is None:
        return None
    from admf.runtime.dashboard import Dashboard

    d = Dashboard(host, dashboard)
    d.start()
    return d


def live(config: Any, *, broker: str | None = None, start: bool = True, dashboard: int | None = None,
         dashboard_host: str = "127.0.0.1", base_url: str | None = None, data_url: str | None = None,
         stream_url: str | None = None, data_stream_url: str | None = None, journal: str | Path | None = None,
         **overrides: Any) -> LiveHandle:
    """A paper session of `config` (path, dict or Config) on its `execution.broker` (or `broker`)
    as a started `LiveHandle` (with the
    dashboard on port `dashboard` if given; `handle.dashboard.url`). Keyword
    overrides replace config sections, merged key by key (e.g. `live_trading={"max_position": 5}`)."""
    from admf.config.schema import broker_names
    from admf.runtime.backtest import _as_config
    from admf.runtime.factory import Endpoints, switch_broker

    cfg = _as_config(config)
    for key, value in overrides.items():
        section = getattr(cfg, key, None)
        if isinstance(section, BaseModel) and isinstance(value, dict):
            value = type(section).model_validate({**section.model_dump(), **value})
        elif section is None and key not in type(cfg).model_fields:
            raise UserError(f"admf.live: no config section {key!r}", field=key,
                            accepted=", ".join(type(cfg).model_fields))
        cfg = cfg.model_copy(update={key: value})
    if broker is not None:
        cfg, _ = switch_broker(cfg, broker)
    if cfg.execution.broker not in broker_names():
        raise UserError("admf.live needs a live broker: set execution.broker in the config or pass broker=",
                        field="execution.broker", value=cfg.execution.broker, accepted=", ".join(broker_names()))
    cfg = cfg.model_copy(update={"execution": cfg.execution.model_copy(update={"execution_mode": "async"})})
    dash = _serve(dashboard, dashboard_host)
    h = LiveHandle(cfg, endpoints=Endpoints(base_url, data_url, stream_url, data_stream_url), journal=journal,
                   dashboard=dash, cleanup=dash.stop if dash is not None else None)
    return h.start() if start else h


def demo(*, speed: float = 600.0, out: str | Path | None = None, start: bool = True, data: str | None = None,
         dashboard: int | None = None, dashboard_host: str = "127.0.0.1", **emulator: Any) -> LiveHandle:
    """A paper session of the demo config against an in-process emulator replaying a synthetic
    walk (or the bars file `data`); stopping the handle stops the emulator and removes its temp
    folder. `dashboard` (a port, 0 for a free one) serves the live dashboard: `handle.dashboard.url`."""
    from admf.emulator import run_emulator
    from admf.runtime.factory import Endpoints

    stack = contextlib.ExitStack()
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="admf-demo-"))
    try:
        cfg, raw = demo_config(out, tmp)
        emu = stack.enter_context(run_emulator(data=data, symbols=["SPY"], speed=speed,
                                               api_key=raw["live_trading"]["api_key"],
                                               secret_key=raw["live_trading"]["secret_key"], **emulator))
        ep = Endpoints(emu.trading_url, emu.data_url, emu.stream_url, emu.data_stream_url("iex"))
        dash = _serve(dashboard, dashboard_host)
        if dash is not None:
            stack.callback(dash.stop)
        h = LiveHandle(cfg, endpoints=ep, cleanup=stack.close, dashboard=dash)
        h.emulator = emu
    except BaseException:
        stack.close()
        raise
    return h.start() if start else h
