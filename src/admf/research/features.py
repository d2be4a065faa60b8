"""Feature arrays for the compiled engine, equal bit for bit to the incremental indicators.

A strategy's decision compares prices with indicator values, so a difference in the last bit
can move a trade; the compiled engine therefore needs the incremental indicators' exact
numbers, not the fast twins of `admf.features.vectorized` (equal only within ~1e-12). The
kernels below follow `admf.features` step for step (running sums rebuilt with `fsum` at the
same bars, the same operation order); every other indicator is computed by running the
incremental indicator itself over the arrays once. Either way each (symbol, indicator,
parameters) is computed once per data set and shared by every combination of a sweep; the
Bollinger core keeps the mean and the deviation, so one period serves every multiplier.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

from admf.features.registry import make_indicator, normalize_params
from admf.research.numeric import exact_sum, frozen

Arrays = dict[str, np.ndarray]


# The compiled loops write into arrays their Python callers allocate: a numpy allocation
# routine called in compiled code is one more function to compile on a cold cache.


@njit(cache=True, nogil=True)
def _sma(c: np.ndarray, out: np.ndarray, buf: np.ndarray, scratch: np.ndarray) -> None:  # pragma: no cover
    """admf.features.SMA: running total, rebuilt with fsum whenever the ring index wraps."""
    n = len(c)
    p = len(buf)
    i = 0
    total = 0.0
    for t in range(n):
        x = c[t]
        if t >= p:
            total = total - buf[i] + x
            buf[i] = x
            i += 1
            if i == p:
                i = 0
                total = exact_sum(buf, scratch)
            out[t] = total / p
        else:
            buf[i] = x
            i += 1
            total += x
            if t + 1 == p:
                i = 0
                total = exact_sum(buf, scratch)
                out[t] = total / p


def sma_kernel(c: np.ndarray, p: int) -> np.ndarray:
    """admf.features.SMA (see _sma)."""
    out = np.full(len(c), np.nan)
    _sma(frozen(c, np.float64), out, np.zeros(p), np.empty(p + 2))
    return out


@njit(cache=True, nogil=True, inline="always")
def _resum(buf: np.ndarray, dev: np.ndarray, scratch: np.ndarray) -> tuple[float, float, float]:  # pragma: no cover
    """The window's mean and its deviations' sum and sum of squares, each summed exactly."""
    p = len(buf)
    a = exact_sum(buf, scratch) / p
    for j in range(p):
        dev[j] = buf[j] - a
    s1 = exact_sum(dev, scratch)
    for j in range(p):
        dev[j] = dev[j] * dev[j]
    s2 = exact_sum(dev, scratch)
    return a, s1, s2


@njit(cache=True, nogil=True)
def _bollinger(c: np.ndarray, mid: np.ndarray, sd: np.ndarray, buf: np.ndarray, dev: np.ndarray,
               scratch: np.ndarray) -> None:  # pragma: no cover - compiled
    n = len(c)
    p = len(buf)
    i = 0
    a = 0.0
    s1 = 0.0
    s2 = 0.0
    for t in range(n):
        x = c[t]
        if t >= p:
            old = buf[i] - a
            buf[i] = x
            i += 1
            if i != p:
                d = x - a
                s1 = s1 + (d - old)
                s2 = s2 + (d * d - old * old)
            else:
                i = 0
                a, s1, s2 = _resum(buf, dev, scratch)
        else:
            buf[t] = x
            if t + 1 < p:
                continue
            a, s1, s2 = _resum(buf, dev, scratch)
        m = s1 / p
        var = s2 / p - m * m
        mid[t] = a + m
        sd[t] = math.sqrt(var) if var > 0.0 else 0.0


def bollinger_kernel(c: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """admf.features.Bollinger's middle and sqrt(variance) (0 where the variance is not > 0)."""
    mid = np.full(len(c), np.nan)
    sd = np.full(len(c), np.nan)
    _bollinger(frozen(c, np.float64), mid, sd, np.zeros(p), np.zeros(p), np.empty(p + 2))
    return mid, sd


@njit(cache=True, nogil=True)
def _ema(c: np.ndarray, p: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    n = len(c)
    k = 2.0 / (p + 1)
    total = 0.0
    v = np.nan
    for t in range(n):
        x = c[t]
        if t >= p:
            v = (x - v) * k + v
            out[t] = v
        else:
            total += x
            if t + 1 == p:
                v = total / p
                out[t] = v


def ema_kernel(c: np.ndarray, p: int) -> np.ndarray:
    """admf.features.EMA (and EmaCore): seeded with the plain running sum of the first p values."""
    out = np.full(len(c), np.nan)
    _ema(frozen(c, np.float64), int(p), out)
    return out


@njit(cache=True, nogil=True)
def _rsi(c: np.ndarray, p: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    n = len(c)
    gain = 0.0
    loss = 0.0
    prev = np.nan
    for t in range(n):
        x = c[t]
        d = x - prev
        prev = x
        if t > p:
            g = gain * (p - 1)
            lo = loss * (p - 1)
            if d < 0.0:
                lo -= d
            else:
                g += d
            gain = g / p
            loss = lo / p
        else:
            if t == 0:
                continue
            if d < 0.0:
                loss -= d
            else:
                gain += d
            if t < p:
                continue
            gain = gain / p
            loss = loss / p
        s = gain + loss
        out[t] = 100.0 * (gain / s) if s != 0.0 else 0.0


def rsi_kernel(c: np.ndarray, p: int) -> np.ndarray:
    """admf.features.RSI (Wilder, TA-Lib seeding)."""
    out = np.full(len(c), np.nan)
    _rsi(frozen(c, np.float64), int(p), out)
    return out


@njit(cache=True, nogil=True)
def _atr(h: np.ndarray, l: np.ndarray, c: np.ndarray, p: int, out: np.ndarray) -> None:  # pragma: no cover
    n = len(c)
    total = 0.0
    v = np.nan
    pc = np.nan
    for t in range(n):
        prev = pc
        pc = c[t]
        if t == 0:
            continue
        tr = h[t] - l[t]
        x = abs(prev - h[t])
        if x > tr:
            tr = x
        x = abs(l[t] - prev)
        if x > tr:
            tr = x
        if t > p:
            v = (v * (p - 1) + tr) / p
            out[t] = v
        else:
            total += tr
            if t == p:
                v = total / p
                out[t] = v


def atr_kernel(h: np.ndarray, l: np.ndarray, c: np.ndarray, p: int) -> np.ndarray:
    """admf.features.cores.AtrCore (Wilder, TA-Lib seeding; ready at bar p+1)."""
    out = np.full(len(c), np.nan)
    _atr(frozen(h, np.float64), frozen(l, np.float64), frozen(c, np.float64), int(p), out)
    return out


def _run_incremental(name: str, params: dict[str, Any], cols: tuple[np.ndarray, ...]) -> Arrays:
    """Outputs (and `ready`) of the incremental indicator after each bar: exact by construction."""
    ind = make_indicator(name, **params)
    outputs = ("value", *[o for o in type(ind).outputs if o != "value"])
    ts, o, h, l, c, v = (x.tolist() for x in cols)
    n = len(ts)
    rec: Arrays = {k: np.empty(n) for k in outputs}
    ready = np.zeros(n, dtype=np.bool_)
    recs = [rec[k] for k in outputs]
    upd = ind.update
    for t in range(n):
        upd(ts[t], o[t], h[t], l[t], c[t], v[t])
        for k, r in zip(outputs, recs, strict=True):
            r[t] = getattr(ind, k)
        ready[t] = ind.ready
    rec["ready"] = ready
    return rec


def _compiled(name: str, p: dict[str, Any], cols: tuple[np.ndarray, ...]) -> Arrays | None:
    _, _, h, l, c, _ = cols
    n = len(c)
    if name == "sma":
        v = sma_kernel(c, p["period"])
    elif name == "ema":
        v = ema_kernel(c, p["period"])
    elif name == "rsi":
        v = rsi_kernel(c, p["period"])
    elif name == "atr":
        v = atr_kernel(h, l, c, p["period"])
    elif name == "bb_core":
        mid, sd = bollinger_kernel(c, p["period"])
        ready = np.ones(n, dtype=np.bool_)
        ready[: p["period"] - 1] = False
        return {"middle": mid, "sd": sd, "ready": ready}
    elif name == "keltner_core":
        mid = ema_kernel(c, p["period"])
        atr = atr_kernel(h, l, c, p["atr_period"])
        return {"middle": mid, "atr": atr, "ready": _sticky((mid == mid) & (atr == atr))}
    else:
        return None
    return {"value": v, "ready": ~np.isnan(v)}


def _sticky(x: np.ndarray) -> np.ndarray:
    """True from the first True on (an indicator stays ready)."""
    return np.maximum.accumulate(x) if len(x) else x


class FeatureStore:
    """Feature arrays of one data set, computed on first request and kept for every combination.

    `cols(k)` gives symbol k's bar columns (ts, open, high, low, close, volume) in its own row
    order; every array the store returns is aligned to those rows. At most `max_bytes` of
    arrays are kept, least recently used dropped first (a sweep visits its combinations grouped
    by feature parameters, so a small cache serves it and memory stays bounded).
    """

    def __init__(self, cols: Callable[[int], tuple[np.ndarray, ...]], max_bytes: int = 128 << 20) -> None:
        self._cols = cols
        self.symbols: list[str] = []  # names of the symbols k (set by MarketData; stored signals name them)
        self._cache: dict[tuple[Any, ...], Arrays] = {}
        self.max_bytes = max_bytes
        self._bytes = 0

    def cols(self, k: int) -> tuple[np.ndarray, ...]:
        """Symbol k's bar columns (ts, open, high, low, close, volume)."""
        return self._cols(k)

    def get(self, k: int, name: str, **params: Any) -> Arrays:
        core = name in ("bb_core", "keltner_core")
        norm = dict(sorted(params.items())) if core else normalize_params(name, **params)
        key = (k, name, *norm.values())
        got = self._cache.pop(key, None)
        if got is None:
            cols = self._cols(k)
            got = _compiled(name, norm, cols)
            if got is None:
                got = _run_incremental(name, norm, cols)
            self._bytes += sum(a.nbytes for a in got.values())
            while self._cache and self._bytes > self.max_bytes:
                old = self._cache.pop(next(iter(self._cache)))
                self._bytes -= sum(a.nbytes for a in old.values())
        self._cache[key] = got  # most recently used last
        return got

    def clear(self) -> None:
        self._cache.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._cache)


__all__ = ["FeatureStore", "atr_kernel", "bollinger_kernel", "ema_kernel", "rsi_kernel", "sma_kernel"]
