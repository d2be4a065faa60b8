"""The Alpaca adapter as the registry sees it: its settings section, and the venue of a session.

Settings (the config's `broker:` section; the older `live_trading` fields of the same names are
accepted and mapped, the `broker:` section wins):

    api_key, secret_key   required; use ${ALPACA_API_KEY} / ${ALPACA_API_SECRET}
    paper_trading         true (default): the paper API; false is real money
    base_url              trading API (default: Alpaca's paper or live URL)
    data_url              market data REST (default https://data.alpaca.markets)
    stream_url            trade-updates websocket (default: from base_url)
    data_stream_url       market data websocket (default: Alpaca's, for the feed)
    feed                  iex (default), sip or test
    stale_after           seconds an order may wait for the rate limiter before it is dropped
                          as stale instead of sent late (default 30)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from admf.adapters.alpaca.broker import AlpacaBroker
from admf.adapters.alpaca.market_data import AlpacaMarketData
from admf.adapters.alpaca.rest import AlpacaRest
from admf.adapters.alpaca.settings import DATA_URL, LIVE_URL, PAPER_URL, AlpacaSettings
from admf.core.errors import ConfigError
from admf.core.events import Bar
from admf.execution.async_engine import AsyncBroker, Emit, LiveService

__all__ = ["ADAPTER", "AlpacaAdapter", "AlpacaVenue", "AlpacaVenueSettings"]

log = logging.getLogger("admf.alpaca")
FEEDS = ("iex", "sip", "test")


@dataclass(frozen=True)
class AlpacaVenueSettings:
    api_key: str
    secret_key: str
    paper_trading: bool = True
    base_url: str | None = None
    data_url: str | None = None
    stream_url: str | None = None
    data_stream_url: str | None = None
    feed: str = "iex"
    stale_after: float = 30.0

    def __repr__(self) -> str:  # never the keys
        return (f"AlpacaVenueSettings(paper_trading={self.paper_trading}, base_url={self.base_url!r}, "
                f"feed={self.feed!r})")

    __str__ = __repr__

    @property
    def trading_url(self) -> str:
        return (self.base_url or (PAPER_URL if self.paper_trading else LIVE_URL)).rstrip("/")


_FIELDS = {f.name for f in fields(AlpacaVenueSettings)}


class AlpacaVenue:
    """AlpacaBroker + AlpacaMarketData for one session."""

    def __init__(self, s: AlpacaVenueSettings, *, symbols: list[str], timeframe: str, journal: Any,
                 tuning: AlpacaSettings | None = None) -> None:
        kw: dict[str, Any] = {"settings": tuning} if tuning is not None else {}
        self.alpaca = AlpacaBroker(s.api_key, s.secret_key, paper=s.paper_trading, trading_url=s.trading_url,
                                   stream_url=s.stream_url, data_url=s.data_url or DATA_URL, journal=journal,
                                   stale_after=s.stale_after, **kw)
        md_kw = dict(kw)
        if s.data_stream_url:
            md_kw["stream_url"] = s.data_stream_url
        self.market_data = AlpacaMarketData(s.api_key, s.secret_key, symbols, timeframe=timeframe, feed=s.feed,
                                            data_url=s.data_url or DATA_URL, **md_kw)
        self.broker: AsyncBroker = self.alpaca
        self.services: list[LiveService] = [self.market_data]
        if not s.paper_trading:
            log.warning("LIVE trading with real money on %s", s.trading_url)

    async def account_cash(self) -> float:
        return float((await self.alpaca.account()).cash)

    async def clock_ns(self) -> int:
        import pandas as pd

        clock = await self.alpaca.rest.get_clock()
        return int(pd.Timestamp(clock.timestamp).as_unit("ns").value)

    async def market_open(self) -> bool:
        return bool((await self.alpaca.rest.get_clock()).is_open)

    async def history(self, symbol: str, timeframe: str, start_ns: int) -> list[Bar]:
        return await self.market_data.fetch_bars(symbol, timeframe, start_ns, None)


# `admf demo live`: a session against admf's emulator (which speaks Alpaca's protocol)
DEMO_CONFIG = """
name: demo
data: SPY_1m
strategy:
  - bollinger_bands: {period: 20, std_dev: 2.0}
    sizing: {type: fixed_shares, shares: 10}
execution: {broker: alpaca, execution_mode: async}
live_trading:
  api_key: ${ADMF_DEMO_KEY:-demo-key}
  secret_key: ${ADMF_DEMO_SECRET:-demo-secret}
  paper_trading: true
  feed: iex
  warmup_bars: 60
  max_order_notional: 100000
"""


class AlpacaDataFeed:
    """Alpaca's market data alone (the live bars of a broker that trades elsewhere, e.g. paper)."""

    def __init__(self, s: AlpacaVenueSettings, *, symbols: list[str], timeframe: str,
                 tuning: AlpacaSettings | None = None) -> None:
        kw: dict[str, Any] = {"settings": tuning} if tuning is not None else {}
        self.rest = AlpacaRest(s.api_key, s.secret_key, trading_url=s.trading_url, data_url=s.data_url or DATA_URL,
                               **kw)
        if s.data_stream_url:
            kw["stream_url"] = s.data_stream_url
        self.market_data = AlpacaMarketData(s.api_key, s.secret_key, symbols, timeframe=timeframe, feed=s.feed,
                                            data_url=s.data_url or DATA_URL, rest=self.rest, **kw)

    @property
    def stream(self) -> Any:
        return self.market_data.stream

    async def start(self, emit: Emit) -> None:
        await self.rest.open()
        try:
            await self.rest.get_clock()  # the keys and the URL, checked before streaming
            await self.market_data.start(emit)
        except BaseException:
            await self.rest.close()
            raise

    async def close(self) -> None:
        try:
            await self.market_data.close()
        finally:
            await self.rest.close()

    async def clock_ns(self) -> int:
        import pandas as pd

        return int(pd.Timestamp((await self.rest.get_clock()).timestamp).as_unit("ns").value)

    async def market_open(self) -> bool:
        return bool((await self.rest.get_clock()).is_open)

    async def history(self, symbol: str, timeframe: str, start_ns: int) -> list[Bar]:
        return await self.market_data.fetch_bars(symbol, timeframe, start_ns, None)


class AlpacaAdapter:
    name = "alpaca"
    demo_config: str | None = DEMO_CONFIG
    # an unset key or secret is read from ours first, then Alpaca's own variable names
    credential_env: Mapping[str, tuple[str, ...]] = {
        "api_key": ("ALPACA_API_KEY", "APCA_API_KEY_ID"),
        "secret_key": ("ALPACA_API_SECRET", "APCA_API_SECRET_KEY"),
    }

    def settings(self, section: Mapping[str, Any], *, file: str | None = None) -> AlpacaVenueSettings:
        unknown = sorted(set(section) - _FIELDS)
        if unknown:
            raise ConfigError("not a setting of broker alpaca", file=file, field=f"broker.{unknown[0]}",
                              accepted=", ".join(sorted(_FIELDS)))
        values = dict(section)
        for key, var in (("api_key", "ALPACA_API_KEY"), ("secret_key", "ALPACA_API_SECRET")):
            v = values.get(key)
            if v is None or str(v) == "":
                alt = " or ".join(f"export {n}=..." for n in self.credential_env[key])
                raise ConfigError("missing (or empty)", file=file, field=f"broker.{key}",
                                  accepted=f"{alt}, and write {key}: ${{{var}}}")
            values[key] = str(v)
        feed = values.get("feed", "iex")
        if feed not in FEEDS:
            raise ConfigError("unknown feed", file=file, field="broker.feed", value=feed, accepted=", ".join(FEEDS))
        for key in ("base_url", "data_url", "stream_url", "data_stream_url"):
            v = values.get(key)
            if v is not None and not isinstance(v, str):
                raise ConfigError("must be a URL", file=file, field=f"broker.{key}", value=v)
        stale = values.get("stale_after", 30.0)
        if not isinstance(stale, int | float) or stale <= 0:
            raise ConfigError("must be a positive number of seconds", file=file, field="broker.stale_after",
                              value=stale)
        values["paper_trading"] = bool(values.get("paper_trading", True))
        return AlpacaVenueSettings(**values)

    def is_paper(self, settings: AlpacaVenueSettings) -> bool:
        return settings.paper_trading

    def venue(self, settings: AlpacaVenueSettings, *, symbols: list[str], timeframe: str, journal: Any,
              tuning: Any = None) -> AlpacaVenue:
        return AlpacaVenue(settings, symbols=symbols, timeframe=timeframe, journal=journal, tuning=tuning)

    def data_feed(self, settings: AlpacaVenueSettings, *, symbols: list[str], timeframe: str,
                  tuning: Any = None) -> AlpacaDataFeed:
        return AlpacaDataFeed(settings, symbols=symbols, timeframe=timeframe, tuning=tuning)


ADAPTER = AlpacaAdapter()
