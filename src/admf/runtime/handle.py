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
from admf.runtime.live_run import EquityHistory, drive, session_state

__all__ = ["LiveHandle", "demo", "demo_config", "live"]

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
