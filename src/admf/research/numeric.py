"""Compiled numeric building blocks shared by the research kernels.

`fsum` is CPython's `math.fsum` (Shewchuk's exact partials with the final half-way
correction), step for step, so a compiled indicator that rebuilds a sum with it gives the
incremental indicator's value bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import DTypeLike


@njit(cache=True, nogil=True)
def fsum(x: np.ndarray) -> float:  # pragma: no cover - compiled
    """Correctly rounded sum of a 1-d float array (CPython's algorithm, finite inputs)."""
    return fsum_into(x, np.empty(len(x) + 2))


@njit(cache=True, nogil=True, inline="always")
def fsum_into(x: np.ndarray, partials: np.ndarray) -> float:  # pragma: no cover - compiled
    """fsum with a scratch array of at least len(x) + 2 (no allocation in a hot loop)."""
    n = 0
    for k in range(len(x)):
        v = x[k]
        i = 0
        for j in range(n):
            y = partials[j]
            if abs(v) < abs(y):
                v, y = y, v
            hi = v + y
            lo = y - (hi - v)
            if lo != 0.0:
                partials[i] = lo
                i += 1
            v = hi
        n = i
        if v != 0.0:
            partials[n] = v
            n += 1
    hi = 0.0
    if n > 0:
        n -= 1
        hi = partials[n]
        lo = 0.0
        while n > 0:
            v = hi
            n -= 1
            y = partials[n]
            hi = v + y
            yr = hi - v
            lo = y - yr
            if lo != 0.0:
                break
        if n > 0 and ((lo < 0.0 and partials[n - 1] < 0.0) or (lo > 0.0 and partials[n - 1] > 0.0)):
            y = lo * 2.0
            v = hi + y
            yr = v - hi
            if y == yr:
                hi = v
    return hi


@njit(cache=True, nogil=True)
def exact_sum(x: np.ndarray, partials: np.ndarray) -> float:  # pragma: no cover - compiled
    """fsum(x), usually without fsum's partials: a compensated sum whose rounding is provably
    the correctly rounded one, else fsum_into.

    s accumulates x with each step's error e_k kept exactly (TwoSum); c = the float sum of the
    e_k is within d = 2 n u sum|e_k| of their exact sum (u = 2^-53). With r + rr = s + c exactly
    (TwoSum again), the exact total lies within |rr| + d of r; when that is below half the spacing
    of doubles around r, r is the correctly rounded total, which is what fsum returns.
    """
    n = len(x)
    s = 0.0
    c = 0.0
    mag = 0.0
    for k in range(n):
        v = x[k]
        t = s + v
        z = t - s
        e = (s - (t - z)) + (v - z)
        s = t
        c += e
        mag += abs(e)
    r = s + c
    z = r - s
    rr = (s - (r - z)) + (c - z)
    if r != 0.0 and math.isfinite(r):
        m, ex = math.frexp(r)
        if abs(m) != 0.5:
            half = math.ldexp(1.0, ex - 54)
            if abs(rr) + 2.0 * (n + 1) * 1.1102230246251565e-16 * mag < half:
                return r
    return fsum_into(x, partials)


def frozen(a: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """`a` as a C-contiguous read-only array of `dtype` (a view when it already is one).

    A compiled function is specialized per argument type, and numba's array type includes the
    layout and the writeable flag: inputs passed in one canonical form compile once, whichever
    path (a loaded Parquet file, shared memory, a fresh array) made them.
    """
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a
