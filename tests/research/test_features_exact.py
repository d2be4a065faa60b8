"""The compiled features equal the incremental indicators bit for bit; exact_sum equals math.fsum."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from research_support import SAMPLE

from admf.research.features import _compiled, _run_incremental
from admf.research.numeric import exact_sum, fsum


def _cols() -> tuple[np.ndarray, ...]:
    import pandas as pd

    df = pd.read_csv(SAMPLE / "SPY_5m.csv")
    ts = pd.to_datetime(df["timestamp"], utc=True).astype("int64").to_numpy()
    return (ts, *(df[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close", "volume")))


@pytest.mark.parametrize(("name", "params"), [("sma", {"period": 7}), ("sma", {"period": 50}), ("ema", {"period": 12}),
                                              ("rsi", {"period": 14}), ("atr", {"period": 10})])
def test_compiled_single_output_features(name: str, params: dict) -> None:
    cols = _cols()
    got, ref = _compiled(name, params, cols), _run_incremental(name, params, cols)
    assert got is not None
    assert np.array_equal(got["value"], ref["value"], equal_nan=True)
    assert np.array_equal(got["ready"], ref["ready"])


@pytest.mark.parametrize("period", [2, 13, 20, 64])
def test_bollinger_core_gives_every_multiplier_exactly(period: int) -> None:
    cols = _cols()
    core = _compiled("bb_core", {"period": period}, cols)
    assert core is not None
    for k in (0.5, 1.5, 2.0, 3.0):
        ref = _run_incremental("bollinger", {"period": period, "std_dev": k}, cols)
        assert np.array_equal(core["middle"], ref["middle"], equal_nan=True)
        assert np.array_equal(core["middle"] + k * core["sd"], ref["upper"], equal_nan=True)
        assert np.array_equal(core["middle"] - k * core["sd"], ref["lower"], equal_nan=True)


floats = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=400, deadline=None)
@given(st.lists(floats, min_size=1, max_size=80))
def test_exact_sum_and_fsum_are_math_fsum(xs: list[float]) -> None:
    a = np.array(xs)
    assert exact_sum(a, np.empty(len(a) + 2)) == math.fsum(xs) == fsum(a)


def test_exact_sum_on_price_windows() -> None:
    rng = np.random.default_rng(3)
    scratch = np.empty(70)
    for i in range(20_000):
        x = np.round(rng.normal(100, 5, rng.integers(2, 64)), 4)
        if i % 2:
            x = (x - x.mean()) ** 2
        assert exact_sum(x, scratch) == math.fsum(x.tolist())
