"""The factory: builds the execution side a config asks for.

`execution.broker: simulated` is a backtest. Any other name is a broker adapter, the package
`admf.adapters.<name>` (found by that name, see `get_adapter`): with `execution.execution_mode:
async` it is a live session on the AsyncExecutionEngine; without it the config runs on the
simulated broker with a warning. The adapter's settings are the config's `broker:` section, plus
the older `live_trading` fields (api_key, secret_key, paper_trading, base_url, data_url,
stream_url, data_stream_url, feed) and the CLI's URL flags, which the adapter validates. No
broker is named here; adapters are imported by name only, so the core never depends on one.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from admf.config.interpolate import Unresolved
from admf.config.schema import Config, broker_names
from admf.core.errors import ConfigError, UserError
from admf.data.timeframe import parse_symbol_spec
from admf.execution.inbox import Inbox
from admf.execution.venue import BrokerAdapter, Venue
from admf.runtime.live import LiveSession

log = logging.getLogger("admf.factory")

LIVE_SWITCH_INTERVAL = 0.0005  # seconds
MARKET_CLOCK_EVERY = 30.0  # seconds between two looks at the broker's clock (market open?)
# `live_trading` fields of configs written before the `broker:` section; mapped into it
LEGACY_BROKER_FIELDS = ("api_key", "secret_key", "paper_trading", "base_url", "data_url", "stream_url",
                        "data_stream_url", "feed")


def get_adapter(name: str, *, file: str | None = None) -> BrokerAdapter:
    """The broker adapter registered under `name`: the package admf.adapters.<name>, its ADAPTER."""
    known = broker_names()
    if name not in known:
        raise ConfigError("unknown broker", file=file, field="execution.broker", value=name,
                          accepted=", ".join(["simulated", *known]))
    from admf.adapters import find_adapter

    adapter: BrokerAdapter = find_adapter(name)
    return adapter


def switch_broker(cfg: Config, name: str) -> tuple[Config, str | None]:
    """The config with `execution.broker: name`; a warning when execution is not async."""
    ex = cfg.execution.model_copy(update={"broker": name})
    cfg = cfg.model_copy(update={"execution": ex})
    if ex.execution_mode != "async":
        return cfg, (f"--{name} needs execution.execution_mode: async; this config uses "
                     f"{ex.execution_mode!r}, so it runs on the simulated broker instead (a backtest)")
    return cfg, None


def live_broker(cfg: Config, name: str | None = None) -> str:
    """The broker a live session of `cfg` uses: `name`, else the config's when it names an
    adapter, else the default live adapter."""
    from admf.adapters import DEFAULT_LIVE

    if name is not None:
        return name
    return cfg.execution.broker if cfg.execution.broker != "simulated" else DEFAULT_LIVE


@dataclass(frozen=True)
class Endpoints:
    """URL overrides from the command line; they are broker settings (base_url, data_url,
    stream_url, data_stream_url) and win over the config's."""

    trading_url: str | None = None
    data_url: str | None = None
    stream_url: str | None = None
    data_stream_url: str | None = None

    def section(self) -> dict[str, str]:
        given = {"base_url": self.trading_url, "data_url": self.data_url, "stream_url": self.stream_url,
                 "data_stream_url": self.data_stream_url}
        return {k: v for k, v in given.items() if v}


def broker_section(cfg: Config, endpoints: Endpoints | None = None, *, paper: bool = True,
                   env: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """The adapter's settings as written: legacy live_trading fields, then `broker:`, then the
    CLI's URLs; an environment variable that was not set is an error naming it.

    `env` (the adapter's `credential_env`) names, per setting, the environment variables read
    when the setting is left unset or names one of them that is unset.
    """
    env = env or {}
    lt = cfg.live_trading
    out: dict[str, Any] = {}
    for key in LEGACY_BROKER_FIELDS:
        if key in lt.unresolved or (key in lt.model_fields_set and getattr(lt, key) is not None):
            out[key] = lt.require(key, file=cfg.source, fallback=env.get(key, ()))
    out.update(cfg.broker)
    for key, names in env.items():
        value = out.get(key)
        if value is None or value == "" or (isinstance(value, Unresolved) and str(value) in names):
            found = next((os.environ[n] for n in names if os.environ.get(n, "").strip()), None)
            if found is not None:
                out[key] = found
    for key, value in out.items():
        if isinstance(value, Unresolved):
            raise ConfigError(f"environment variable {value} is not set", file=cfg.source, field=f"broker.{key}",
                              accepted=f"export {value}=...")
    if endpoints is not None:
        out.update(endpoints.section())
    if not paper:
        out["paper_trading"] = False
    return out


def live_symbols(cfg: Config) -> tuple[list[str], str]:
    symbols, tfs = [], set()
    for spec in cfg.data.specs:
        sym, tf = parse_symbol_spec(Path(spec).stem if spec.endswith((".csv", ".parquet")) else spec)
        symbols.append(sym.upper())
        tfs.add(tf)
    if len(tfs) != 1:
        raise ConfigError("a live session trades one timeframe", file=cfg.source, field="data",
                          value=cfg.data.specs, accepted="specs with the same timeframe, e.g. [SPY_5m, QQQ_5m]")
    return symbols, tfs.pop()


def session_tag() -> str:
    """A short tag unique to this session, put in every client_order_id it makes."""
    raw = int(time.time() * 1000).to_bytes(6, "big") + os.urandom(2)
    return base64.b32encode(raw).decode().rstrip("=").lower()[-8:] + "-"


class LiveRunner:
    """A started live session: the async engine, the broker adapter's venue, the journal and the
    LiveSession."""

    def __init__(self, cfg: Config, *, paper: bool, endpoints: Endpoints, journal_path: Path,
                 settings: Any = None, warmup: bool = True) -> None:
        """`settings` are the adapter's tunables (timeouts, backoffs), for tests and benchmarks."""
        from admf.execution.async_engine import AsyncExecutionEngine
        from admf.execution.journal import Journal

        self.cfg = cfg
        self.symbols, self.timeframe = live_symbols(cfg)
        self.adapter = get_adapter(cfg.execution.broker, file=cfg.source)
        self.broker_settings = self.adapter.settings(broker_section(cfg, endpoints, paper=paper,
                                                                  env=self.adapter.credential_env), file=cfg.source)
        self.journal = Journal(journal_path)
        try:
            self.venue: Venue = self.adapter.venue(self.broker_settings, symbols=self.symbols,
                                                   timeframe=self.timeframe, journal=self.journal, tuning=settings)
        except BaseException:
            self.journal.close()
            raise
        # the adapter's objects, for diagnostics and tests (counters, connection states)
        self.broker: Any = self.venue.broker
        self.market_data: Any = self.venue.services[0] if self.venue.services else None
        self.inbox = Inbox()
        self.engine = AsyncExecutionEngine(self.venue.broker, self.inbox, services=self.venue.services)
        self.warmup = warmup
        self.session: LiveSession | None = None
        self._switch = sys.getswitchinterval()
        self._open = False
        self._open_asked = -math.inf
        self._open_future: concurrent.futures.Future[bool] | None = None

    def _market_open(self) -> bool:
        """The broker's clock, asked every MARKET_CLOCK_EVERY seconds without blocking the main thread."""
        fut = self._open_future
        if fut is not None and fut.done():
            self._open_future = None
            if not fut.cancelled() and fut.exception() is None:
                self._open = fut.result()
        now = time.monotonic()
        if self._open_future is None and now - self._open_asked >= MARKET_CLOCK_EVERY and self.engine.running:
            self._open_asked = now
            self._open_future = self.engine.call(self.venue.market_open())
        return self._open

    def start(self) -> LiveSession:
        # What earlier sessions on this journal applied; read before the engine starts, since the
        # fills it recovers on start reach the session through the inbox.
        # A busy main thread (a backlog of bars) would hold the GIL for 5 ms slices and delay the
        # loop thread's order sends; shorter slices keep signal-to-wire latency under a few ms.
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(LIVE_SWITCH_INTERVAL)
        earlier = self.journal.fills()
        open_orders = [(i.request, i.filled_qty, i.sent) for i in self.journal.open_intents()
                       if i.request.qty - i.filled_qty > 1e-9]
        brackets = [i.request for i in self.journal.last_brackets()]
        self.engine.start()
        try:
            capital = _journal_capital(self.journal, self.engine.run(self.venue.account_cash()))
            self.session = LiveSession(self.cfg, self.symbols, self.timeframe, engine=self.engine, inbox=self.inbox,
                                       capital=capital, id_tag=session_tag())
            self.session.restore(earlier, open_orders, brackets)
            self.session.market_open = self._market_open
            if self.warmup and self.cfg.live_trading.warmup_bars:
                self._warm_up(self.session)
        except BaseException:
            self.engine.stop()
            self.journal.close()
            sys.setswitchinterval(self._switch)
            raise
        return self.session

    def _warm_up(self, session: LiveSession) -> None:
        from admf.data.timeframe import timeframe_ns

        n = self.cfg.live_trading.warmup_bars
        # nights, weekends and holidays lie between sessions: ask for at least a week back
        span_ns = max(timeframe_ns(self.timeframe) * n * 4, 7 * 86_400 * 1_000_000_000)
        end = self.engine.run(self.venue.clock_ns())  # the broker's now (an emulator's replay clock)
        bars = []
        for sym in self.symbols:
            got = self.engine.run(self.venue.history(sym, self.timeframe, end - span_ns), 60)
            bars.extend(got[-n:])
        session.warm_up(bars)

    def stop(self) -> None:
        """Cancel open orders if so configured, stop the engine, apply what is still arriving,
        close the journal: whatever fails on the way, the journal is closed."""
        cancel = self.cfg.live_trading.cancel_on_stop
        try:
            self.engine.stop(cancel_open_orders=cancel)
            if self.session is not None:
                self.session.drain(0.2)
        finally:
            self.journal.close()
            sys.setswitchinterval(self._switch)


def _journal_capital(journal: Any, account_cash: float) -> float:
    """Capital of the books: the account's cash when the journal first saw it (kept across restarts)."""
    seen = journal.get_meta("initial_cash")
    if seen is None:
        journal.set_meta("initial_cash", repr(account_cash))
        return account_cash
    return float(seen)


def start_live_runner(cfg: Config, *, paper: bool = True, confirm_live: bool = False,
                      endpoints: Endpoints | None = None, journal_path: str | Path | None = None,
                      settings: Any = None, warmup: bool = True) -> LiveRunner:
    """A started live session for `cfg`; the caller must stop() it. Bad input raises a UserError
    before anything is sent (the journal closed again)."""
    paper = paper and not confirm_live
    endpoints = endpoints or Endpoints()
    adapter = get_adapter(cfg.execution.broker, file=cfg.source)
    if not adapter.is_paper(adapter.settings(broker_section(cfg, endpoints, paper=paper,
                                             env=adapter.credential_env), file=cfg.source)):
        if not confirm_live:
            raise UserError("live trading with real money needs --live --i-understand-this-is-real",
                            field="paper_trading", value=False)
        paper = False
    path = Path(journal_path or cfg.live_trading.journal or Path(cfg.output.dir) / f"{cfg.name}.journal.sqlite")
    runner = LiveRunner(cfg, paper=paper, endpoints=endpoints, journal_path=path, settings=settings, warmup=warmup)
    runner.start()
    return runner


@contextlib.contextmanager
def live_runner(cfg: Config, *, paper: bool = True, confirm_live: bool = False, endpoints: Endpoints | None = None,
                journal_path: str | Path | None = None, settings: Any = None,
                warmup: bool = True) -> Iterator[LiveRunner]:
    """Start a live session for `cfg`; stop it cleanly (cancel open orders if so configured) on exit."""
    runner = start_live_runner(cfg, paper=paper, confirm_live=confirm_live, endpoints=endpoints,
                               journal_path=journal_path, settings=settings, warmup=warmup)
    try:
        yield runner
    finally:
        runner.stop()
