"""Every TA-Lib-backed indicator against TA-Lib, bar by bar, after warm-up.

Checks, per case and data set: ``ready`` flips exactly where TA-Lib's first value is,
and stays; every output is nan before; after, each output equals TA-Lib within 1e-9
relative (absolute 1e-9 of the series' scale near zero).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from admf.features import make_indicator

talib = pytest.importorskip("talib")

Ref = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def _bb(p: int, k: float) -> Ref:
    def f(b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        u, m, lo = talib.BBANDS(b["close"], p, k, k, 0)
        return {"middle": m, "upper": u, "lower": lo}

    return f


def _macd(fa: int, sl: int, sg: int) -> Ref:
    def f(b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        m, s, h = talib.MACD(b["close"], fa, sl, sg)
        return {"macd": m, "signal": s, "hist": h}

    return f


def _stoch(kp: int, ks: int, dp: int) -> Ref:
    def f(b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        k, d = talib.STOCH(b["high"], b["low"], b["close"], kp, ks, 0, dp, 0)
        return {"k": k, "d": d}

    return f


def _adx(p: int) -> Ref:
    def f(b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        hlc = (b["high"], b["low"], b["close"])
        return {"adx": talib.ADX(*hlc, p), "plus_di": talib.PLUS_DI(*hlc, p), "minus_di": talib.MINUS_DI(*hlc, p)}

    return f


def _aroon(p: int) -> Ref:
    def f(b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        down, up = talib.AROON(b["high"], b["low"], p)
        return {"osc": talib.AROONOSC(b["high"], b["low"], p), "up": up, "down": down}

    return f


def _donchian(p: int) -> Ref:
    def f(b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        up = talib.MAX(b["high"], p)
        lo = talib.MIN(b["low"], p)
        return {"middle": (up + lo) / 2.0, "upper": up, "lower": lo}

    return f


def _close(fn: Callable[..., np.ndarray], p: int) -> Ref:
    return lambda b: {"value": fn(b["close"], p)}


def _hlc(fn: Callable[..., np.ndarray], p: int) -> Ref:
    return lambda b: {"value": fn(b["high"], b["low"], b["close"], p)}


# (indicator, params, reference); the first reference output is the one ``ready`` follows.
CASES: list[tuple[str, dict[str, Any], Ref]] = [
    ("sma", {"period": 20}, _close(talib.SMA, 20)),
    ("sma", {"period": 2}, _close(talib.SMA, 2)),
    ("ema", {"period": 20}, _close(talib.EMA, 20)),
    ("ema", {"period": 3}, _close(talib.EMA, 3)),
    ("wma", {"period": 20}, _close(talib.WMA, 20)),
    ("wma", {"period": 7}, _close(talib.WMA, 7)),
    ("dema", {"period": 20}, _close(talib.DEMA, 20)),
    ("tema", {"period": 10}, _close(talib.TEMA, 10)),
    ("bollinger", {"period": 20, "std_dev": 2.0}, _bb(20, 2.0)),
    ("bollinger", {"period": 5, "std_dev": 1.5}, _bb(5, 1.5)),
    ("rsi", {"period": 14}, _close(talib.RSI, 14)),
    ("rsi", {"period": 2}, _close(talib.RSI, 2)),
    ("macd", {"fast": 12, "slow": 26, "signal": 9}, _macd(12, 26, 9)),
    ("macd", {"fast": 5, "slow": 8, "signal": 3}, _macd(5, 8, 3)),
    ("atr", {"period": 14}, _hlc(talib.ATR, 14)),
    ("atr", {"period": 1}, _hlc(talib.ATR, 1)),
    ("adx", {"period": 14}, _adx(14)),
    ("adx", {"period": 5}, _adx(5)),
    ("stochastic", {"k_period": 14, "k_smooth": 3, "d_period": 3}, _stoch(14, 3, 3)),
    ("stochastic", {"k_period": 5, "k_smooth": 1, "d_period": 4}, _stoch(5, 1, 4)),
    ("willr", {"period": 14}, _hlc(talib.WILLR, 14)),
    ("cci", {"period": 20}, _hlc(talib.CCI, 20)),
    ("cci", {"period": 14}, _hlc(talib.CCI, 14)),
    ("roc", {"period": 10}, _close(talib.ROC, 10)),
    ("roc", {"period": 1}, _close(talib.ROC, 1)),
    ("donchian", {"period": 20}, _donchian(20)),
    ("aroon", {"period": 14}, _aroon(14)),
    ("aroon", {"period": 25}, _aroon(25)),
    ("obv", {}, lambda b: {"value": talib.OBV(b["close"], b["volume"])}),
]


@pytest.mark.parametrize(
    ("name", "params", "ref"), CASES, ids=[f"{n}-{'-'.join(map(str, p.values()))}" for n, p, _ in CASES]
)
def test_matches_talib(name: str, params: dict[str, Any], ref: Ref, bars, feed) -> None:
    expected = ref(bars)
    ind = make_indicator(name, **params)
    got, ready = feed(ind, bars, tuple(expected))

    primary = next(iter(expected.values()))
    first = int(np.argmax(~np.isnan(primary)))
    assert ind.warmup == first + 1, "warmup must equal TA-Lib's lookback + 1"
    assert not ready[:first].any()
    assert ready[first:].all()

    for attr, want in expected.items():
        have = got[attr]
        assert np.isnan(have[:first]).all(), f"{attr} must be nan before ready"
        w = want[first:]
        h = have[first:]
        assert not np.isnan(w).any()
        scale = max(1.0, float(np.max(np.abs(w))))
        np.testing.assert_allclose(h, w, rtol=1e-9, atol=1e-9 * scale, err_msg=f"{name}.{attr}")


def test_value_aliases(synthetic, feed) -> None:
    """value is the documented primary output of each multi-output indicator."""
    primary = {"bollinger": "middle", "macd": "macd", "stochastic": "k", "adx": "adx",
               "keltner": "middle", "donchian": "middle", "aroon": "osc"}  # fmt: skip
    for name, attr in primary.items():
        ind = make_indicator(name)
        got, _ = feed(ind, synthetic, ("value", attr))
        np.testing.assert_array_equal(got["value"], got[attr], err_msg=name)
