"""The factory: builds the execution side a config asks for.

`execution.broker: simulated` is a backtest. `execution.broker: alpaca` with
`execution.execution_mode: async` is a live session on the AsyncExecutionEngine and the Alpaca
adapter; `alpaca` without async execution falls back to the simulated broker with a warning.
The adapter is imported here only, so the core never depends on it.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from admf.config.schema import Config
from admf.core.errors import ConfigError, UserError
from admf.data.timeframe import parse_symbol_spec
from admf.execution.inbox import Inbox
from admf.runtime.live import LiveSession

log = logging.getLogger("admf.factory")

LIVE_URL = "https://api.alpaca.markets"
LIVE_SWITCH_INTERVAL = 0.0005  # seconds


def switch_to_alpaca(cfg: Config) -> tuple[Config, str | None]:
    """`--alpaca`: the config with broker alpaca; a warning when execution is not async."""
    ex = cfg.execution.model_copy(update={"broker": "alpaca"})
    cfg = cfg.model_copy(update={"execution": ex})
    if ex.execution_mode != "async":
        return cfg, ("--alpaca needs execution.execution_mode: async; this config uses "
                     f"{ex.execution_mode!r}, so it runs on the simulated broker instead (a backtest)")
    return cfg, None


@dataclass(frozen=True)
class Endpoints:
    trading_url: str | None = None
    data_url: str | None = None
    stream_url: str | None = None
    data_stream_url: str | None = None


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
    """A started live session: the async engine, the adapter, the journal and the LiveSession."""

    def __init__(self, cfg: Config, *, paper: bool, endpoints: Endpoints, journal_path: Path,
                 settings: Any = None, warmup: bool = True) -> None:
        from admf.execution.journal import Journal

        lt = cfg.live_trading
        key = lt.require("api_key", file=cfg.source)
        secret = lt.require("secret_key", file=cfg.source)
        self.cfg = cfg
        self.symbols, self.timeframe = live_symbols(cfg)
        self.journal = Journal(journal_path)
        try:
            self._build(cfg, key, secret, paper, endpoints, settings)
        except BaseException:
            self.journal.close()
            raise
        self.warmup = warmup
        self.session: LiveSession | None = None
        self._switch = sys.getswitchinterval()

    def _build(self, cfg: Config, key: str, secret: str, paper: bool, endpoints: Endpoints, settings: Any) -> None:
        from admf.adapters.alpaca.broker import AlpacaBroker
        from admf.adapters.alpaca.market_data import AlpacaMarketData
        from admf.execution.async_engine import AsyncExecutionEngine

        lt = cfg.live_trading
        trading_url = endpoints.trading_url or lt.base_url
        data_url = endpoints.data_url or lt.data_url
        kw: dict[str, Any] = {"settings": settings} if settings is not None else {}
        if data_url:
            kw["data_url"] = data_url
        self.broker = AlpacaBroker(key, secret, paper=paper, trading_url=trading_url,
                                   stream_url=endpoints.stream_url or lt.stream_url, journal=self.journal, **kw)
        md_kw = dict(kw)
        stream = endpoints.data_stream_url or lt.data_stream_url
        if stream:
            md_kw["stream_url"] = stream
        self.market_data = AlpacaMarketData(key, secret, self.symbols, timeframe=self.timeframe, feed=lt.feed,
                                            **md_kw)
        self.inbox = Inbox()
        self.engine = AsyncExecutionEngine(self.broker, self.inbox, services=[self.market_data])

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
        self.engine.start()
        try:
            account = self.engine.run(self.broker.account())
            capital = _journal_capital(self.journal, float(account.cash))
            self.session = LiveSession(self.cfg, self.symbols, self.timeframe, engine=self.engine, inbox=self.inbox,
                                       capital=capital, id_tag=session_tag())
            self.session.restore(earlier, open_orders)
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
        clock = self.engine.run(self.broker.rest.get_clock())
        end = _iso_ns(clock.timestamp)  # the broker's now (an emulator's replay clock)
        bars = []
        for sym in self.symbols:
            got = self.engine.run(self.market_data.fetch_bars(sym, self.timeframe, end - span_ns, None), 60)
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


def _iso_ns(text: str) -> int:
    import pandas as pd

    return int(pd.Timestamp(text).as_unit("ns").value)


def _journal_capital(journal: Any, account_cash: float) -> float:
    """Capital of the books: the account's cash when the journal first saw it (kept across restarts)."""
    get = getattr(journal, "get_meta", None)
    if get is None:
        return account_cash
    seen = get("initial_cash")
    if seen is None:
        journal.set_meta("initial_cash", repr(account_cash))
        return account_cash
    return float(seen)


def start_live_runner(cfg: Config, *, paper: bool = True, confirm_live: bool = False,
                      endpoints: Endpoints | None = None, journal_path: str | Path | None = None,
                      settings: Any = None, warmup: bool = True) -> LiveRunner:
    """A started live session for `cfg`; the caller must stop() it. Bad input raises a UserError
    before anything is sent (the journal closed again)."""
    paper = paper and cfg.live_trading.paper_trading if not confirm_live else False
    endpoints = endpoints or Endpoints()
    if not paper:
        if not confirm_live:
            raise UserError("live trading with real money needs --live --i-understand-this-is-real",
                            field="live_trading.paper_trading", value=False)
        url = endpoints.trading_url or cfg.live_trading.base_url or LIVE_URL
        log.warning("LIVE trading with real money on %s", url)
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
