"""Bars for the feature tests: a seeded synthetic series and real SPY 5m bars."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

Bars = dict[str, np.ndarray]


def make_synthetic(n: int = 4000, seed: int = 11) -> Bars:
    """GBM-like 5m bars with a flat stretch (h = l = c, zero volume) and repeated closes,
    so the zero-range and equal-close branches run too."""
    rng = np.random.default_rng(seed)
    close = 400.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0015, n)))
    close = np.round(close, 2)
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.round(np.abs(rng.normal(0.0, 0.001, n)) * close, 2)
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.integers(0, 50_000, n).astype(float)
    flat = slice(n // 2, n // 2 + 60)
    level = close[n // 2]
    open_[flat] = high[flat] = low[flat] = close[flat] = level
    volume[flat] = 0.0
    close[n // 4 : n // 4 + 5] = close[n // 4]  # equal closes: OBV/RSI zero-change branches
    ts = np.datetime64("2024-01-02T14:30", "ns").astype(np.int64) + np.arange(n, dtype=np.int64) * 300 * 10**9
    return {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}


@pytest.fixture(scope="session")
def synthetic() -> Bars:
    return make_synthetic()


@pytest.fixture(scope="session")
def spy(shared_data: Path) -> Bars:
    import pandas as pd

    df = pd.read_csv(shared_data / "SPY_5m.csv")
    ts = pd.to_datetime(df["timestamp"], utc=True).astype("int64").to_numpy()
    out = {k: df[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close", "volume")}
    out["ts"] = ts
    return out


@pytest.fixture(params=["synthetic", "spy"])
def bars(request: pytest.FixtureRequest) -> Bars:
    """Both data sets; the SPY case skips cleanly when ../shared/data is absent."""
    return request.getfixturevalue(request.param)


def run(ind: Any, b: Bars, attrs: tuple[str, ...]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Feed every bar; return each output attribute per bar and the ready flags."""
    n = len(b["close"])
    out = {a: np.empty(n) for a in attrs}
    ready = np.zeros(n, dtype=bool)
    cols = [b[k].tolist() for k in ("ts", "open", "high", "low", "close", "volume")]
    upd = ind.update
    for i, (ts, o, h, l, c, v) in enumerate(zip(*cols, strict=True)):
        upd(ts, o, h, l, c, v)
        ready[i] = ind.ready
        for a in attrs:
            out[a][i] = getattr(ind, a)
    return out, ready


@pytest.fixture(scope="session")
def feed() -> Callable[..., tuple[dict[str, np.ndarray], np.ndarray]]:
    return run
