"""The paper adapter: trade on live market data with no broker account (`execution.broker: paper`).

from admf.adapters.paper import ADAPTER, PaperBroker
"""

from admf.adapters.paper.broker import PaperBroker, PaperRefused
from admf.adapters.paper.venue import ADAPTER, PaperAdapter, PaperSettings

__all__ = ["ADAPTER", "PaperAdapter", "PaperBroker", "PaperRefused", "PaperSettings"]
