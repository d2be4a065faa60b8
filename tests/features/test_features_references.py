"""Indicators without a TA-Lib twin (Keltner, Supertrend, VWAP) against independent
pandas/numpy references and hand-computed cases; Bollinger against exact arithmetic."""

from __future__ import annotations

from decimal import Decimal, getcontext
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from admf.features import Bollinger, Keltner, Supertrend, make_indicator
from admf.features.volume import session_bounds


def _ema_ref(x: np.ndarray, p: int) -> np.ndarray:
    """EMA seeded with the SMA of the first p values, via pandas ewm on [seed, x[p:]]."""
    out = np.full(len(x), np.nan)
    seed = x[:p].mean()
    s = pd.Series(np.concatenate([[seed], x[p:]]))
    out[p - 1 :] = s.ewm(alpha=2.0 / (p + 1), adjust=False).mean().to_numpy()
    return out


def _atr_ref(h: np.ndarray, l: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    """Wilder ATR: mean of the first n true ranges, then ewm(alpha=1/n)."""
    pc = np.concatenate([[np.nan], c[:-1]])
    tr = np.nanmax(np.vstack([h - l, np.abs(h - pc), np.abs(l - pc)]), axis=0)
    out = np.full(len(c), np.nan)
    seed = tr[1 : n + 1].mean()
    s = pd.Series(np.concatenate([[seed], tr[n + 1 :]]))
    out[n:] = s.ewm(alpha=1.0 / n, adjust=False).mean().to_numpy()
    return out


def _supertrend_ref(h, l, c, period: int, mult: float) -> tuple[np.ndarray, np.ndarray]:
    """Straightforward loop after TradingView's ta.supertrend (direction sign flipped)."""
    atr = _atr_ref(h, l, c, period)
    hl2 = (h + l) / 2.0
    n = len(c)
    line = np.full(n, np.nan)
    direction = np.zeros(n)
    up_f = np.full(n, np.nan)
    lo_f = np.full(n, np.nan)
    for i in range(n):
        if np.isnan(atr[i]):
            continue
        up = hl2[i] + mult * atr[i]
        lo = hl2[i] - mult * atr[i]
        if np.isnan(atr[i - 1]) if i > 0 else True:
            up_f[i], lo_f[i], direction[i], line[i] = up, lo, -1, up
            continue
        up_f[i] = up if (up < up_f[i - 1] or c[i - 1] > up_f[i - 1]) else up_f[i - 1]
        lo_f[i] = lo if (lo > lo_f[i - 1] or c[i - 1] < lo_f[i - 1]) else lo_f[i - 1]
        if line[i - 1] == up_f[i - 1]:
            direction[i] = 1 if c[i] > up_f[i] else -1
        else:
            direction[i] = -1 if c[i] < lo_f[i] else 1
        line[i] = lo_f[i] if direction[i] == 1 else up_f[i]
    return line, direction


def test_keltner_matches_pandas_reference(bars, feed) -> None:
    h, l, c = bars["high"], bars["low"], bars["close"]
    for period, atr_period, mult in [(20, 10, 2.0), (5, 14, 1.5)]:
        got, ready = feed(Keltner(period, atr_period, mult), bars, ("upper", "middle", "lower"))
        mid = _ema_ref(c, period)
        atr = _atr_ref(h, l, c, atr_period)
        first = max(period, atr_period + 1) - 1
        assert not ready[:first].any() and ready[first:].all()
        np.testing.assert_allclose(got["middle"][first:], mid[first:], rtol=1e-11)
        np.testing.assert_allclose(got["upper"][first:], (mid + mult * atr)[first:], rtol=1e-11)
        np.testing.assert_allclose(got["lower"][first:], (mid - mult * atr)[first:], rtol=1e-11)


def test_keltner_hand_case() -> None:
    # EMA(2): k = 2/3, seed (10+11)/2; ATR(2): TRs 2, 2 -> 2, then TR 1 -> (2*1+1)/2 = 1.5.
    k = Keltner(period=2, atr_period=2, multiplier=1.0)
    rows = [(11, 9, 10), (12, 10, 11), (13, 11, 12.5), (12.5, 11.5, 12)]
    seen = []
    for h, l, c in rows:
        k.update(0, c, h, l, c, 0.0)
        seen.append((k.ready, k.middle, k.upper, k.lower))
    assert [r[0] for r in seen] == [False, False, True, True]
    assert np.isnan(seen[1][1])
    assert seen[2][1:] == pytest.approx((71 / 6, 71 / 6 + 2, 71 / 6 - 2), rel=1e-15)
    assert seen[3][1:] == pytest.approx((215 / 18, 215 / 18 + 1.5, 215 / 18 - 1.5), rel=1e-15)


def test_supertrend_matches_loop_reference(bars, feed) -> None:
    h, l, c = bars["high"], bars["low"], bars["close"]
    for period, mult in [(10, 3.0), (7, 1.0)]:
        got, ready = feed(Supertrend(period, mult), bars, ("value", "direction"))
        line, direction = _supertrend_ref(h, l, c, period, mult)
        first = period
        assert not ready[:first].any() and ready[first:].all()
        assert np.isnan(got["value"][:first]).all()
        np.testing.assert_array_equal(got["direction"][first:], direction[first:])
        np.testing.assert_allclose(got["value"][first:], line[first:], rtol=1e-11)
        assert (direction[first:] == 1).sum() > 10 and (direction[first:] == -1).sum() > 10


def test_supertrend_hand_case() -> None:
    # ATR(2): TR 1, 1 -> 1; then TR 2 -> 1.5; TR 1.2 -> 1.35; TR 1.8 -> 1.575.
    st = Supertrend(period=2, multiplier=1.0)
    rows = [(10.5, 9.5, 10), (11, 10, 10.5), (11.5, 10.5, 11), (13, 12, 12.8), (12.6, 11.6, 11.8), (11.5, 10, 10.2)]
    lines, dirs = [], []
    for h, l, c in rows:
        st.update(0, c, h, l, c, 0.0)
        lines.append(st.value)
        dirs.append(st.direction)
    assert np.isnan(lines[:2]).all()
    # bar 2: first ready, down, upper band 11 + 1 = 12
    # bar 3: upper stays 12 (14 is not lower, prev close 11 not above 12); close 12.8 > 12 -> up, line = lower 11
    # bar 4: lower stays 11 (10.75 not higher); close 11.8 >= 11 -> still up
    # bar 5: close 10.2 < 11 -> down, line = upper min(12.325, 13.45) = 12.325
    assert lines[2:] == pytest.approx([12.0, 11.0, 11.0, 12.325], rel=1e-14)
    assert dirs[2:] == [-1, 1, 1, -1]


def _vwap_ref(b, tz: str | None) -> np.ndarray:
    tp = (b["high"] + b["low"] + b["close"]) / 3.0
    t = pd.to_datetime(b["ts"], utc=True)
    key = np.zeros(len(tp)) if tz is None else t.tz_convert(tz).date
    df = pd.DataFrame({"pv": tp * b["volume"], "v": b["volume"], "k": key})
    cpv = df.groupby("k", sort=False)["pv"].cumsum().to_numpy()
    cv = df.groupby("k", sort=False)["v"].cumsum().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cv > 0, cpv / cv, tp)


@pytest.mark.parametrize(("session", "tz"), [("ny", "America/New_York"), ("utc", "UTC"), ("none", None)])
def test_vwap_matches_groupby_reference(bars, feed, session: str, tz: str | None) -> None:
    got, ready = feed(make_indicator("vwap", session=session), bars, ("value",))
    assert ready.all()
    np.testing.assert_allclose(got["value"], _vwap_ref(bars, tz), rtol=1e-12)


def test_vwap_resets_at_new_york_midnight_across_dst() -> None:
    # 2024-03-10 is the spring-forward day: that NY session lasts 23 hours.
    start, end = session_bounds(pd.Timestamp("2024-03-10 12:00", tz="UTC").value, "ny")
    assert start == pd.Timestamp("2024-03-10 05:00", tz="UTC").value
    assert end == pd.Timestamp("2024-03-11 04:00", tz="UTC").value
    v = make_indicator("vwap")
    ts = [pd.Timestamp(s, tz="UTC").value for s in ("2024-03-11 03:50", "2024-03-11 03:55", "2024-03-11 04:05")]
    v.update(ts[0], 9, 10, 8, 9, 100)  # tp 9
    assert v.value == 9.0
    v.update(ts[1], 11, 12, 10, 11, 300)  # tp 11 -> (900 + 3300) / 400
    assert v.value == 10.5
    v.update(ts[2], 6, 6, 6, 6, 50)  # 00:05 New York: new session
    assert v.value == 6.0
    u = make_indicator("vwap", session="utc")  # 03:50-04:05 UTC is one UTC day
    for t, row in zip(ts, [(9, 10, 8, 9, 100), (11, 12, 10, 11, 300), (6, 6, 6, 6, 50)], strict=True):
        u.update(t, *row)
    assert u.value == pytest.approx((900 + 3300 + 300) / 450)


def test_vwap_zero_volume_session_start_gives_typical_price() -> None:
    v = make_indicator("vwap")
    v.update(pd.Timestamp("2024-01-02 15:00", tz="UTC").value, 1, 4, 1, 1, 0.0)
    assert v.ready and v.value == 2.0


def _exact_bollinger(c: np.ndarray, p: int, k: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and population std in exact arithmetic, each rounded once to float; the bands
    are then mean + k*std in float, the best any float implementation can return."""
    getcontext().prec = 60
    xs = [Fraction(x) for x in c]
    mid = np.full(len(c), np.nan)
    sd = np.full(len(c), np.nan)
    for i in range(p - 1, len(c)):
        w = xs[i - p + 1 : i + 1]
        m = sum(w) / p
        var = sum((x - m) ** 2 for x in w) / p
        mid[i] = float(m)
        sd[i] = float((Decimal(var.numerator) / Decimal(var.denominator)).sqrt())
    return mid + k * sd, mid, mid - k * sd


def test_bollinger_matches_exact_arithmetic(bars, feed) -> None:
    """The bands are within 2 ulp of the exact reference and nearly always bit-identical, so
    band-cross decisions agree with an exact-arithmetic backtest."""
    c = bars["close"][:2500]
    sub = {k: v[:2500] for k, v in bars.items()}
    got, _ = feed(Bollinger(20, 2.0), sub, ("upper", "middle", "lower"))
    want = _exact_bollinger(c, 20, 2.0)
    for g, w in zip((got["upper"], got["middle"], got["lower"]), want, strict=True):
        g, w = g[19:], w[19:]
        assert (np.abs(g - w) <= 2 * np.spacing(np.abs(w))).all()
        assert np.mean(g == w) > 0.98


def test_bollinger_matches_numpy_two_pass_without_drift() -> None:
    """A long series at a high price level with tiny moves (worst case for running sums):
    the last windows still match numpy's two-pass std."""
    rng = np.random.default_rng(5)
    n = 200_000
    c = np.round(50_000 + np.cumsum(rng.normal(0, 0.01, n)), 2)
    b = Bollinger(20, 2.0)
    upd = b.update
    for x in c.tolist():
        upd(0, x, x, x, x, 0.0)
    w = c[-20:]
    sd = w.std()
    assert b.middle == pytest.approx(w.mean(), rel=1e-15, abs=0)
    assert (b.upper - b.middle) / 2.0 == pytest.approx(sd, rel=1e-9)
    assert b.upper == pytest.approx(w.mean() + 2 * sd, rel=1e-15)
