"""The vectorized twins equal the incremental indicators bar for bar."""

from __future__ import annotations

import numpy as np
import pytest

from admf.features import Bollinger, Donchian, make_indicator
from admf.features import vectorized as vz


def _same(got: np.ndarray, want: np.ndarray, rtol: float) -> None:
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    m = ~np.isnan(want)
    np.testing.assert_allclose(got[m], want[m], rtol=rtol)


@pytest.mark.parametrize("period", [2, 5, 20, 50])
def test_sma_and_ema_twins(bars, feed, period: int) -> None:
    c = bars["close"]
    sma, _ = feed(make_indicator("sma", period=period), bars, ("value",))
    ema, _ = feed(make_indicator("ema", period=period), bars, ("value",))
    _same(vz.sma(c, period), sma["value"], 1e-13)
    _same(vz.ema(c, period), ema["value"], 1e-13)


@pytest.mark.parametrize(("period", "k"), [(20, 2.0), (5, 1.0)])
def test_bollinger_twin(bars, feed, period: int, k: float) -> None:
    got, _ = feed(Bollinger(period, k), bars, ("upper", "middle", "lower"))
    up, mid, lo = vz.bollinger(bars["close"], period, k)
    _same(mid, got["middle"], 1e-14)
    _same(up, got["upper"], 1e-13)
    _same(lo, got["lower"], 1e-13)


def test_donchian_twin(bars, feed) -> None:
    got, _ = feed(Donchian(20), bars, ("upper", "middle", "lower"))
    up, mid, lo = vz.donchian(bars["high"], bars["low"], 20)
    _same(up, got["upper"], 0)
    _same(mid, got["middle"], 0)
    _same(lo, got["lower"], 0)


def test_short_inputs_are_all_nan() -> None:
    x = np.arange(4.0)
    assert np.isnan(vz.sma(x, 5)).all() and np.isnan(vz.ema(x, 5)).all()
    assert all(np.isnan(a).all() for a in vz.bollinger(x, 5))
    assert vz.ema(x, 4)[-1] == 1.5  # seed only: mean of the first 4
