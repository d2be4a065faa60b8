"""The built-in strategies' decision rules on arrays: the raw signal after every bar.

Each rule is the strategy's `on_bar` as a compiled loop over feature arrays (stateful rules,
such as "hold until the close crosses the middle band", keep their state in the loop). Ties
follow the event engine: every comparison is the same strict or non-strict comparison of
the same floats, and the features are equal bit for bit (see features.py), so an exact tie
(a close equal to the band) is decided the same way in both engines: no signal on equality
where the strategy compares strictly.

`ARRAY_FORMS` maps a strategy name to the function that builds its signal array; a strategy
without an entry (a user strategy) has no array form and runs on the event engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

from admf.research.features import FeatureStore
from admf.research.numeric import frozen

# Each rule writes the signal into `out` (int8 zeros, allocated by its caller: a numpy
# allocation in compiled code is one more function to compile on a cold cache).


@njit(cache=True, nogil=True, inline="always")
def _band_step(s: int, x: float, mid: float, lo: float, up: float, breakout: bool,
               strict: bool) -> int:  # pragma: no cover - compiled
    """One bar of a band rule in state s (1 long, -1 short, 0 flat): a position is held until x
    crosses `mid` (reaches it, when not `strict`), and entered when x leaves the band [lo, up]:
    in the direction it left (breakout) or against it (reversion)."""
    if breakout:
        if s == 1:
            if x < mid:
                s = 0
        elif s == -1 and x > mid:
            s = 0
        if s == 0:
            if x > up:
                s = 1
            elif x < lo:
                s = -1
        return s
    if s == 1:
        if x > mid or (not strict and x == mid):
            s = 0
    elif s == -1 and (x < mid or (not strict and x == mid)):
        s = 0
    if s == 0:
        if x < lo:
            s = 1
        elif x > up:
            s = -1
    return s


@njit(cache=True, nogil=True)
def band_rule(c: np.ndarray, mid: np.ndarray, unit: np.ndarray, k: float, ready: np.ndarray, breakout: bool,
              out: np.ndarray) -> None:  # pragma: no cover - compiled
    """BandReversionStrategy / BandBreakoutStrategy with bands mid +/- k*unit (Bollinger, Keltner)."""
    s = 0
    for t in range(len(c)):
        if not ready[t]:
            continue  # the strategy returns 0 and keeps its state
        m = mid[t]
        w = k * unit[t]
        s = _band_step(s, c[t], m, m - w, m + w, breakout, True)
        out[t] = s


@njit(cache=True, nogil=True)
def cross_rule(f: np.ndarray, sl: np.ndarray, ready: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """CrossoverStrategy: +1 when f - s turns > 0 from <= 0, -1 when it turns < 0 from >= 0."""
    s = 0
    have_prev = False
    prev = 0.0
    for t in range(len(f)):
        if ready[t]:
            d = f[t] - sl[t]
            if have_prev:
                if d > 0.0 and prev <= 0.0:
                    s = 1
                elif d < 0.0 and prev >= 0.0:
                    s = -1
            prev = d
            have_prev = True
        out[t] = s


@njit(cache=True, nogil=True)
def level_rule(x: np.ndarray, ready: np.ndarray, lo: float, hi: float, exit_level: float, kind: int,
               out: np.ndarray) -> None:  # pragma: no cover - compiled
    """kind 0 rsi_bands, 1 rsi_threshold (lo = threshold), 2 roc_momentum (lo = threshold)."""
    s = 0
    for t in range(len(x)):
        if not ready[t]:
            if kind != 0:
                out[t] = s
            continue
        v = x[t]
        if kind == 0:
            s = _band_step(s, v, exit_level, lo, hi, False, False)
        elif kind == 1:
            if v > lo:
                s = 1
            elif v < lo:
                s = -1
        else:
            s = 1 if v > lo else (-1 if v < -lo else 0)
        out[t] = s


@njit(cache=True, nogil=True)
def vwap_rule(c: np.ndarray, vw: np.ndarray, ready: np.ndarray, thr: float,
              out: np.ndarray) -> None:  # pragma: no cover - compiled
    s = 0
    for t in range(len(c)):
        if not ready[t]:
            continue
        w = vw[t]
        s = _band_step(s, c[t], w, w * (1.0 - thr), w * (1.0 + thr), False, False)
        out[t] = s


@njit(cache=True, nogil=True)
def donchian_rule(c: np.ndarray, up: np.ndarray, lo: np.ndarray, mid: np.ndarray, ready: np.ndarray,
                  out: np.ndarray) -> None:  # pragma: no cover - compiled
    """DonchianBreakout: compares the close with the channel of the previous ready bar."""
    s = 0
    have = False
    pu = 0.0
    pl = 0.0
    pm = 0.0
    for t in range(len(c)):
        u0 = pu
        l0 = pl
        m0 = pm
        h0 = have
        if ready[t]:
            pu = up[t]
            pl = lo[t]
            pm = mid[t]
            have = True
        if h0:
            s = _band_step(s, c[t], m0, l0, u0, True, True)
        out[t] = s


def _ready_sign(direction: np.ndarray, ready: np.ndarray) -> np.ndarray:
    """Supertrend: 1 in an up trend, -1 in a down trend, held from the last ready bar."""
    raw = np.where(ready, np.where(direction > 0, 1, -1), 0).astype(np.int8)
    idx = np.where(ready, np.arange(len(ready)), -1)
    np.maximum.accumulate(idx, out=idx)
    return np.where(idx >= 0, raw[np.maximum(idx, 0)], 0).astype(np.int8)


SignalFn = Callable[[FeatureStore, int, dict[str, Any], np.ndarray], np.ndarray]


def _signal(rule: Any, *args: Any) -> np.ndarray:
    """rule(*args, out) with the arrays read-only and C-contiguous (one specialization per rule)."""
    out = np.zeros(len(args[0]), dtype=np.int8)
    rule(*(frozen(a, a.dtype) if isinstance(a, np.ndarray) else a for a in args), out)
    return out


def _bb(breakout: bool) -> SignalFn:
    def fn(store: FeatureStore, k: int, p: dict[str, Any], c: np.ndarray) -> np.ndarray:
        f = store.get(k, "bb_core", period=p["period"])
        return _signal(band_rule, c, f["middle"], f["sd"], float(p["std_dev"]), f["ready"], breakout)
    return fn


def _keltner(breakout: bool) -> SignalFn:
    def fn(store: FeatureStore, k: int, p: dict[str, Any], c: np.ndarray) -> np.ndarray:
        f = store.get(k, "keltner_core", period=p["period"], atr_period=p["atr_period"])
        return _signal(band_rule, c, f["middle"], f["atr"], float(p["multiplier"]), f["ready"], breakout)
    return fn


def _ma_cross(kind: str) -> SignalFn:
    def fn(store: FeatureStore, k: int, p: dict[str, Any], c: np.ndarray) -> np.ndarray:
        f = store.get(k, kind, period=p["fast"])
        s = store.get(k, kind, period=p["slow"])
        return _signal(cross_rule, f["value"], s["value"], s["ready"])
    return fn


def _macd(store: FeatureStore, k: int, p: dict[str, Any], c: np.ndarray) -> np.ndarray:
    m = store.get(k, "macd", fast=p["fast"], slow=p["slow"], signal=p["signal"])
    return _signal(cross_rule, m["macd"], m["signal"], m["ready"])


def _stoch(store: FeatureStore, k: int, p: dict[str, Any], c: np.ndarray) -> np.ndarray:
    st = store.get(k, "stochastic", k_period=p["k_period"], k_smooth=p["k_smooth"], d_period=p["d_period"])
    return _signal(cross_rule, st["k"], st["d"], st["ready"])


def _rsi_bands(store: FeatureStore, k: int, p: dict[str, Any], c: np.ndarray) -> np.ndarray:
    r = store.get(k, "rsi", period=p["period"])
    return _signal(level_rule, r["value"], r["ready"], float(p["oversold"]), float(p["overbought"]),
                   float(p["exit_level"]), 0)


def _rsi_threshold(store: FeatureStore, k: int, p: dict[str, Any], c: np.ndarray) -> np.ndarray:
    r = store.get(k, "rsi", period=p["period"])
    return _signal(level_rule, r["value"], r["ready"], float(p["threshold"]), 0.0, 0.0, 1)


def _roc(store: FeatureStore, k: int, p: dict[str, Any], c: np.ndarray) -> np.ndarray:
    r = store.get(k, "roc", period=p["period"])
    return _signal(level_rule, r["value"], r["ready"], float(p["threshold"]), 0.0, 0.0, 2)


def _vwap(store: FeatureStore, k: int, p: dict[str, Any], c: np.ndarray) -> np.ndarray:
    w = store.get(k, "vwap")
    return _signal(vwap_rule, c, w["value"], w["ready"], float(p["threshold"]))


def _donchian(store: FeatureStore, k: int, p: dict[str, Any], c: np.ndarray) -> np.ndarray:
    ch = store.get(k, "donchian", period=p["period"])
    return _signal(donchian_rule, c, ch["upper"], ch["lower"], ch["middle"], ch["ready"])


def _supertrend(store: FeatureStore, k: int, p: dict[str, Any], c: np.ndarray) -> np.ndarray:
    st = store.get(k, "supertrend", period=p["period"], multiplier=p["multiplier"])
    return _ready_sign(st["direction"], st["ready"])


ARRAY_FORMS: dict[str, SignalFn] = {
    "bollinger_bands": _bb(False),
    "bollinger_breakout": _bb(True),
    "keltner_bands": _keltner(False),
    "keltner_breakout": _keltner(True),
    "vwap_deviation": _vwap,
    "sma_crossover": _ma_cross("sma"),
    "ema_crossover": _ma_cross("ema"),
    "macd_crossover": _macd,
    "stochastic_crossover": _stoch,
    "rsi_bands": _rsi_bands,
    "rsi_threshold": _rsi_threshold,
    "roc_momentum": _roc,
    "donchian_breakout": _donchian,
    "supertrend": _supertrend,
}


def has_array_form(strategy: str) -> bool:
    return strategy in ARRAY_FORMS


def signal_array(store: FeatureStore, k: int, strategy: str, params: dict[str, Any], close: np.ndarray) -> np.ndarray:
    """The raw signal (int8: 1, 0, -1) of `strategy` after each bar of symbol k."""
    return ARRAY_FORMS[strategy](store, k, params, np.ascontiguousarray(close, dtype=np.float64))


__all__ = ["ARRAY_FORMS", "has_array_form", "signal_array"]
