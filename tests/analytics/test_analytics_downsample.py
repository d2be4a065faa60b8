"""minmax_indices keeps every bucket's extremes."""

from __future__ import annotations

import numpy as np

from admf.analytics.downsample import minmax_indices


def test_short_series_is_kept_whole():
    assert minmax_indices(np.arange(10.0), max_points=100).tolist() == list(range(10))


def test_each_bucket_min_and_max_survive():
    rng = np.random.default_rng(1)
    y = np.cumsum(rng.normal(size=10_007))
    max_points = 100
    keep = minmax_indices(y, max_points)
    assert len(keep) <= max_points
    assert np.all(np.diff(keep) > 0)
    assert keep[0] == 0 and keep[-1] == len(y) - 1
    # Brute force over the same buckets: 49 buckets of ceil(10007 / 49) points.
    buckets = (max_points - 2) // 2
    size = -(-len(y) // buckets)
    kept = set(keep.tolist())
    for start in range(0, len(y), size):
        chunk = y[start : start + size]
        assert np.flatnonzero(chunk == chunk.min())[0] + start in kept
        assert np.flatnonzero(chunk == chunk.max())[0] + start in kept


def test_spike_in_a_million_points_is_kept():
    n = 1_000_000
    y = np.linspace(100.0, 200.0, n)
    y[123_457] = 10.0  # a one-bar crash
    y[987_653] = 900.0
    keep = minmax_indices(y, 4000)
    assert len(keep) <= 4000
    assert y[keep].min() == 10.0 and y[keep].max() == 900.0
