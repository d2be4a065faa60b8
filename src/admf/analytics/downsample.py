"""Shrinking a long curve for plotting without hiding its extremes."""

from __future__ import annotations

import numpy as np


def minmax_indices(values: np.ndarray, max_points: int = 4000) -> np.ndarray:
    """Sorted positions to plot: the first and last point, and each bucket's min and max.

    The series is cut into max_points // 2 equal buckets; keeping both extremes of every
    bucket means a drawdown's trough and a peak survive however long the series is.
    Values must be finite (drop NaN first).
    """
    y = np.asarray(values, dtype=float)
    n = y.size
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, (max_points - 2) // 2)
    size = -(-n // buckets)
    padded = np.empty(buckets * size)
    padded[:n] = y
    padded[n:] = y[-1]
    blocks = padded.reshape(buckets, size)
    base = np.arange(buckets) * size
    lo = base + blocks.argmin(axis=1)
    hi = base + blocks.argmax(axis=1)
    keep = np.concatenate(([0, n - 1], lo, hi))
    keep = keep[keep < n]
    return np.unique(keep)
