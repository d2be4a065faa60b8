"""Whole-array twins of some incremental indicators, for research.

Each returns float64 arrays as long as the input, nan where the incremental indicator is
not ready yet, and equal to it after warm-up (within ~1e-12 relative).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_CHUNK = 1 << 16  # rows per block, so windowed temporaries stay a few MB


def _as_array(x: np.ndarray | list[float]) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def sma(close: np.ndarray | list[float], period: int) -> np.ndarray:
    """Simple moving average; nan for the first period-1 values."""
    x = _as_array(close)
    out = np.full(x.shape, np.nan)
    if len(x) >= period:
        out[period - 1 :] = sliding_window_view(x, period).mean(axis=1)
    return out


def ema(close: np.ndarray | list[float], period: int, block: int = 64) -> np.ndarray:
    """EMA with k = 2/(period+1) seeded by the mean of the first ``period`` values (TA-Lib).

    The recursion y[t] = a*y[t-1] + k*x[t] (a = 1-k) is solved ``block`` values at a time:
    inside a block the inputs' contribution is one matrix product with the Toeplitz
    matrix k*a^(j-i); only the block-boundary states are carried in a short loop.
    """
    x = _as_array(close)
    n = len(x)
    out = np.full(x.shape, np.nan)
    if n < period:
        return out
    k = 2.0 / (period + 1)
    a = 1.0 - k
    y0 = float(np.sum(x[:period])) / period
    out[period - 1] = y0
    rest = x[period:]
    m = len(rest)
    if m == 0:
        return out
    nb = -(-m // block)
    padded = np.zeros(nb * block)
    padded[:m] = rest
    blocks = padded.reshape(nb, block)
    j = np.arange(block)
    lag = j[:, None] - j[None, :]
    toeplitz = np.where(lag >= 0, k * a ** np.maximum(lag, 0), 0.0)
    partial = blocks @ toeplitz.T
    carry = a ** (j + 1)
    a_block = a**block
    states = np.empty(nb)
    s = y0
    last = partial[:, -1].tolist()
    for b in range(nb):
        states[b] = s
        s = last[b] + a_block * s
    out[period:] = (partial + states[:, None] * carry[None, :]).ravel()[:m]
    return out


def bollinger(
    close: np.ndarray | list[float], period: int = 20, std_dev: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower): rolling mean +/- std_dev * two-pass population std."""
    x = _as_array(close)
    n = len(x)
    upper = np.full(x.shape, np.nan)
    middle = np.full(x.shape, np.nan)
    lower = np.full(x.shape, np.nan)
    if n < period:
        return upper, middle, lower
    win = sliding_window_view(x, period)
    for start in range(0, len(win), _CHUNK):
        w = win[start : start + _CHUNK]
        mean = w.mean(axis=1)
        dev = w - mean[:, None]
        sd = np.sqrt(np.einsum("ij,ij->i", dev, dev) / period)
        sl = slice(period - 1 + start, period - 1 + start + len(w))
        middle[sl] = mean
        upper[sl] = mean + std_dev * sd
        lower[sl] = mean - std_dev * sd
    return upper, middle, lower


def donchian(
    high: np.ndarray | list[float], low: np.ndarray | list[float], period: int = 20
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower): highest high / lowest low of the last ``period`` bars."""
    h = _as_array(high)
    lo = _as_array(low)
    upper = np.full(h.shape, np.nan)
    lower = np.full(h.shape, np.nan)
    if len(h) >= period:
        upper[period - 1 :] = sliding_window_view(h, period).max(axis=1)
        lower[period - 1 :] = sliding_window_view(lo, period).min(axis=1)
    return upper, (upper + lower) / 2.0, lower
