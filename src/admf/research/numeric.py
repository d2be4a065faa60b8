"""Compiled numeric building blocks shared by the research kernels.

`fsum` is CPython's `math.fsum` (Shewchuk's exact partials with the final half-way
correction), step for step, so a compiled indicator that rebuilds a sum with it gives the
incremental indicator's value bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def fsum(x: np.ndarray) -> float:  # pragma: no cover - compiled
    """Correctly rounded sum of a 1-d float array (CPython's algorithm, finite inputs)."""
    partials = np.empty(len(x) + 2)
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
