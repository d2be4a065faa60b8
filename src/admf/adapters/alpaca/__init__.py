"""Alpaca adapter: REST client, trade-updates stream, market data and the AlpacaBroker.

from admf.adapters.alpaca import AlpacaBroker, AlpacaMarketData, AlpacaSettings
"""

from admf.adapters.alpaca.broker import AlpacaBroker
from admf.adapters.alpaca.errors import (
    AlpacaError,
    AuthError,
    BrokerTimeout,
    BrokerUnavailable,
    DuplicateClientOrderId,
    InsufficientBuyingPower,
    NotFound,
    OrderRejected,
    RateLimited,
    StreamError,
)
from admf.adapters.alpaca.market_data import AlpacaMarketData
from admf.adapters.alpaca.rest import AlpacaRest
from admf.adapters.alpaca.settings import DATA_URL, LIVE_URL, PAPER_URL, AlpacaSettings
from admf.adapters.alpaca.venue import ADAPTER

__all__ = [
    "ADAPTER",
    "DATA_URL",
    "LIVE_URL",
    "PAPER_URL",
    "AlpacaBroker",
    "AlpacaError",
    "AlpacaMarketData",
    "AlpacaRest",
    "AlpacaSettings",
    "AuthError",
    "BrokerTimeout",
    "BrokerUnavailable",
    "DuplicateClientOrderId",
    "InsufficientBuyingPower",
    "NotFound",
    "OrderRejected",
    "RateLimited",
    "StreamError",
]
