"""Helpers for the research-workflow tests: configs on the shipped sample bars or the real SPY bars."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data"
SHARED = Path(os.environ.get("ADMF_SHARED_DATA", REPO / ".." / "shared" / "data")).resolve()
BUILTINS = ("bollinger_bands", "bollinger_breakout", "donchian_breakout", "ema_crossover", "keltner_bands",
            "keltner_breakout", "macd_crossover", "roc_momentum", "rsi_bands", "rsi_threshold", "sma_crossover",
            "stochastic_crossover", "supertrend", "vwap_deviation")


def cfg(*entries: dict[str, Any], data: str = "SPY_5m", data_dir: Path = SAMPLE, **top: Any) -> dict[str, Any]:
    """A config dict; each entry is a compact strategy entry such as {"sma_crossover": {"fast": 5}}."""
    raw: dict[str, Any] = {"name": "wf", "data": data, "data_dir": str(data_dir), "strategy": list(entries),
                           "portfolio": {"initial_capital": 100_000}}
    raw.update(top)
    return raw
