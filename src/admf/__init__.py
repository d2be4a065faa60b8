"""admf: a config-driven, event-driven trading system."""

from __future__ import annotations

__version__ = "0.1.0"
