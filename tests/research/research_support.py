"""Research test helpers: run a config on both engines and require equal results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from admf.config.loader import config_from_dict
from admf.config.schema import Config

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data"


def make_config(entries: list[dict[str, Any]] | dict[str, Any], *, data: Any = "SPY_5m", data_dir: Path = SAMPLE,
                **kw: Any) -> Config:
    raw = {"name": "parity", "data": data, "data_dir": str(data_dir),
           "strategy": entries if isinstance(entries, list) else [entries],
           "portfolio": {"initial_capital": 100_000}, **kw}
    return config_from_dict(raw)


def assert_same_results(a: Any, b: Any) -> None:
    """Trades (times, prices, quantities, P&L), fills, orders, signals, equity and metrics equal."""
    for name in ("trades", "fills", "signals"):
        pd.testing.assert_frame_equal(getattr(a, name).reset_index(drop=True), getattr(b, name).reset_index(drop=True),
                                      check_dtype=False, check_exact=True, obj=name)
    pd.testing.assert_frame_equal(a.orders.sort_values("client_order_id").reset_index(drop=True),
                                  b.orders.sort_values("client_order_id").reset_index(drop=True), check_dtype=False,
                                  obj="orders")
    assert np.array_equal(a.equity.to_numpy(), b.equity.to_numpy())
    assert a.equity.index.equals(b.equity.index)
    assert a.metrics.to_dict() == b.metrics.to_dict()
    assert set(a.books) == set(b.books)
