"""The paper adapter's settings and venue.

Settings (the config's `broker:` section):

    data           the adapter whose market data the paper broker trades on (required), e.g.
                   the name of the broker your data subscription is with
    fill           next_open (default) or close: the backtest's fill rules
    initial_cash   the account's cash (default 100000)
    slippage_bps   slippage in basis points on market and stop fills (default 0)
    ...            every other key is a setting of the data adapter (keys, URLs, feed), which
                   validates it
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from admf.adapters import find_adapter
from admf.adapters.paper.broker import PaperBroker
from admf.core.errors import ConfigError
from admf.core.events import Bar
from admf.execution.async_engine import AsyncBroker, Emit, LiveService
from admf.execution.costs import Slippage
from admf.execution.venue import DataFeed

__all__ = ["ADAPTER", "PaperAdapter", "PaperSettings", "PaperVenue"]

OWN = ("data", "fill", "initial_cash", "slippage_bps")


@dataclass(frozen=True)
class PaperSettings:
    data: str
    data_settings: Any
    fill: str = "next_open"
    initial_cash: float = 100_000.0
    slippage_bps: float = 0.0


class _Tee:
    """The data feed, with every bar handed to the paper broker before the session gets it."""

    def __init__(self, feed: DataFeed, paper: PaperBroker) -> None:
        self.feed = feed
        self.paper = paper

    @property
    def stream(self) -> Any:  # the data feed's connection, for diagnostics
        return self.feed.stream  # type: ignore[attr-defined]

    async def start(self, emit: Emit) -> None:
        on_bar = self.paper.on_bar

        def tee(ev: Any) -> None:
            if type(ev) is Bar:
                on_bar(ev)  # fills first (and on the inbox first), as in a backtest
            emit(ev)

        await self.feed.start(tee)

    async def close(self) -> None:
        await self.feed.close()


class PaperVenue:
    def __init__(self, s: PaperSettings, feed: DataFeed, *, symbols: list[str], journal: Any) -> None:
        self.paper = PaperBroker(symbols, fill=s.fill, journal=journal,
                                 slippage=Slippage("bps", s.slippage_bps) if s.slippage_bps else None)
        self.feed = feed
        self.cash = s.initial_cash
        self.broker: AsyncBroker = self.paper
        self.services: Sequence[LiveService] = [_Tee(feed, self.paper)]

    async def account_cash(self) -> float:
        return self.cash

    async def clock_ns(self) -> int:
        return await self.feed.clock_ns()

    async def market_open(self) -> bool:
        return await self.feed.market_open()

    async def history(self, symbol: str, timeframe: str, start_ns: int) -> list[Bar]:
        return await self.feed.history(symbol, timeframe, start_ns)


class PaperAdapter:
    name = "paper"
    demo_config: str | None = None
    credential_env: Mapping[str, tuple[str, ...]] = {}

    def settings(self, section: Mapping[str, Any], *, file: str | None = None) -> PaperSettings:
        import importlib.util

        data = section.get("data")
        if not isinstance(data, str) or data == self.name or importlib.util.find_spec(f"admf.adapters.{data}") is None:
            raise ConfigError("names the broker adapter whose market data the paper broker trades on", file=file,
                              field="broker.data", value=data, accepted="an installed broker adapter with market data")
        fill = section.get("fill", "next_open")
        if fill not in ("next_open", "close"):
            raise ConfigError("unknown fill rule", file=file, field="broker.fill", value=fill,
                              accepted="next_open, close")
        cash = section.get("initial_cash", 100_000.0)
        if not isinstance(cash, int | float) or cash <= 0:
            raise ConfigError("must be a positive amount", file=file, field="broker.initial_cash", value=cash)
        bps = section.get("slippage_bps", 0.0)
        if not isinstance(bps, int | float) or bps < 0:
            raise ConfigError("must be >= 0", file=file, field="broker.slippage_bps", value=bps)
        rest = {k: v for k, v in section.items() if k not in OWN}
        rest.pop("paper_trading", None)  # always paper
        data_settings = find_adapter(data).settings(rest, file=file)
        return PaperSettings(data, data_settings, fill, float(cash), float(bps))

    def is_paper(self, settings: PaperSettings) -> bool:
        return True

    def venue(self, settings: PaperSettings, *, symbols: list[str], timeframe: str, journal: Any,
              tuning: Any = None) -> PaperVenue:
        feed = find_adapter(settings.data).data_feed(settings.data_settings, symbols=symbols, timeframe=timeframe,
                                                    tuning=tuning)
        if feed is None:
            raise ConfigError("has no market data", field="broker.data", value=settings.data)
        return PaperVenue(settings, feed, symbols=symbols, journal=journal)

    def data_feed(self, settings: PaperSettings, *, symbols: list[str], timeframe: str,
                  tuning: Any = None) -> DataFeed | None:
        return None


ADAPTER = PaperAdapter()
