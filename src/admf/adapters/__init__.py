"""admf adapters layer: one package per broker, each exposing `ADAPTER` (see admf.execution.venue)."""

from __future__ import annotations

import importlib
from typing import Any

# the live broker `admf live` and the legacy live flag use when a config names none
DEFAULT_LIVE = "alpaca"


def find_adapter(name: str) -> Any:
    """The ADAPTER of the package admf.adapters.<name> (the caller checks the name first)."""
    return importlib.import_module(f"{__name__}.{name}").ADAPTER
