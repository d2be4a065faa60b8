"""A live session's run to its end: the loop until something stops it, the exit code, the run
directory (with metrics and report), and the snapshot the dashboard and a handle show.

One implementation for `admf live` (cli/live.py) and the notebook handle (runtime/handle.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily: `admf --help` and `admf backtest` load this module's CLI
    from admf.config.schema import Config
    from admf.runtime.live import LiveSession
    from admf.runtime.rundir import RunWriter

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_KILLED", "EXIT_OK", "EquityHistory", "StopRequested", "drive",
           "session_state", "write_live_run"]

RECENT_FILLS = 50

# Exit codes of `admf live` (README "Live trading"): every one of them ends with the journal
# closed and the run directory written, except 2, which sends nothing and writes nothing.
EXIT_OK = 0  # stopped as asked: --max-bars, --duration, the dashboard's stop button
EXIT_ERROR = 1  # a runtime failure ended the session (one line on stderr says which)
EXIT_KILLED = 3  # the kill switch (daily_loss_limit) tripped: open orders cancelled, no new ones
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), as shells expect



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


def drive(session: LiveSession, runner: Any, cfg: Config, started: float, *, history: EquityHistory,
          on_tick: Callable[[], None] | None = None, stop: threading.Event | None = None, dashboard: Any = None,
          max_bars: int | None = None, duration: float | None = None) -> tuple[int, str, Path]:
    """Run a started session until it ends or `stop`/the dashboard asks, stop the runner, write
    the run directory; (exit code, stopped_by, run directory). Ctrl-C is exit 130, the run
    directory written all the same."""
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


def write_live_run(cfg: Config, session: Any, started: float, *, stopped_by: str = "end", exit_code: int = 0,
                   history: EquityHistory | None = None) -> Path:
    """The live run directory: resolved config, fills, trades, the audit trail, a summary and,
    with the session's equity `history`, metrics.json and report.html."""
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
        if history is not None:
            write_live_report(w, cfg, session, history, name)
        return w.commit()
    except BaseException:
        w.abort()
        raise


def write_live_report(w: RunWriter, cfg: Config, session: Any, history: EquityHistory, name: str) -> None:
    """metrics.json, equity.parquet and report.html of a live session, as a backtest has them."""
    import pandas as pd

    from admf.analytics.metrics import compute_metrics, metrics_to_json
    from admf.analytics.report import write_html_report
    from admf.runtime.backtest import _trades_frame

    initial = sum(b.initial_cash for b in session.books.values())
    equity = pd.Series(history.equity, index=pd.to_datetime(pd.Series(history.ts, dtype="int64"), utc=True),
                       name="equity", dtype="float64")
    if not len(equity):  # no live bar: one point at the start, so the files exist and say so
        equity = pd.Series([session.equity()], index=pd.DatetimeIndex([pd.Timestamp.now(tz="UTC")]),
                           name="equity")
    trades = _trades_frame(session.books)
    metrics = compute_metrics(equity, trades, initial_capital=initial or float(equity.iloc[0]))
    w.text("metrics.json", metrics_to_json(metrics))
    w.frame("equity.parquet", equity.to_frame())
    if cfg.output.report:
        write_html_report(w.path("report.html"), name=name, metrics=metrics, equity=equity, trades=trades)
