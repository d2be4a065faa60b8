"""What a broker adapter gives a live session, and how one is found from the config.

A broker adapter is a package `admf.adapters.<name>` with an attribute `ADAPTER` (a
BrokerAdapter); the runtime finds it by that name (admf.runtime.factory.get_adapter).
`execution.broker: <name>` in a config selects it; its settings live in the
config's `broker:` section (plus the older `live_trading` fields, mapped by the adapter), and the
adapter alone validates them. Nothing outside the adapter's folder names a broker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from admf.core.events import Bar
from admf.execution.async_engine import AsyncBroker, LiveService

__all__ = ["BrokerAdapter", "DataFeed", "Venue"]


class Venue(Protocol):
    """A broker and its market data, built for one session."""

    broker: AsyncBroker
    services: Sequence[LiveService]  # market data and anything else on the engine's loop

    async def account_cash(self) -> float:
        """The account's cash now (the books' capital on a journal's first session)."""
        ...

    async def clock_ns(self) -> int:
        """The broker's time now (an emulator's replay clock), for the warm-up's history."""
        ...

    async def market_open(self) -> bool:
        """Whether the broker's clock says the market is open now (the no-data watchdog counts
        only then)."""
        ...

    async def history(self, symbol: str, timeframe: str, start_ns: int) -> list[Bar]:
        """Bars of `symbol` from `start_ns` to now, oldest first (the warm-up)."""
        ...


class DataFeed(LiveService, Protocol):
    """Market data alone: live bars to the engine's inbox, the broker clock and history."""

    async def clock_ns(self) -> int: ...

    async def market_open(self) -> bool: ...

    async def history(self, symbol: str, timeframe: str, start_ns: int) -> list[Bar]: ...


class BrokerAdapter(Protocol):
    name: str
    demo_config: str | None  # a config for `admf demo live` on admf's emulator, if it speaks this protocol
    # per setting, the environment variables read when it is left unset (credentials)
    credential_env: Mapping[str, tuple[str, ...]]

    def settings(self, section: Mapping[str, Any], *, file: str | None = None) -> Any:
        """The adapter's settings from a config's broker section; ConfigError on a bad one."""
        ...

    def is_paper(self, settings: Any) -> bool:
        """False when orders would trade real money."""
        ...

    def venue(self, settings: Any, *, symbols: list[str], timeframe: str, journal: Any, tuning: Any = None) -> Venue:
        """The broker and its market data for one session (not started)."""
        ...

    def data_feed(self, settings: Any, *, symbols: list[str], timeframe: str, tuning: Any = None) -> DataFeed | None:
        """This adapter's market data alone, for a broker that trades elsewhere (paper); None
        when it has none."""
        ...
