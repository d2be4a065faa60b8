"""Deterministic synthetic US equity bars for demos and tests (no network).

Regular sessions only, from the exchange calendar (holidays skipped; an early close ends
its day at 13:00: the minutes after it are generated, so every other day's prices stay the
same, and dropped). Minute prices are a random-walk level plus a
mean-reverting (Ornstein-Uhlenbeck) deviation, so bands get crossed and revisited; minute
volatility and volume are U-shaped over the session. Minute bars are built first and then
resampled, so every timeframe is consistent with every other. Prices are in cents.

    python -m admf.data.sample --out data/

rewrites the shipped files byte for byte.
"""

from __future__ import annotations

import argparse
import datetime as dt
import zlib
from pathlib import Path

import numpy as np

from admf.core import calendar
from admf.data.frame import BarFrame
from admf.data.loaders import save_bars
from admf.data.resample import resample
from admf.data.timeframe import NS_PER_MINUTE, canonical_timeframe, timeframe_ns

SESSION_MINUTES = 390
START = "2024-01-02"
DAYS = 126  # about six months of sessions
SHIPPED = (("SPY", "5m"), ("QQQ", "5m"))
START_PRICES = {"SPY": 472.65, "QQQ": 405.50, "IWM": 198.0, "AAPL": 187.0, "MSFT": 373.0}
BASE_VOLUME = {"SPY": 90_000.0, "QQQ": 55_000.0}  # shares per minute at midday

# Per-minute log-price parameters.
# Chosen so 5m returns have about SPY's spread (0.1%) and daily closes move about 0.85%.
LEVEL_SIGMA = 0.00033  # random-walk part
DEV_SIGMA = 0.0002  # mean-reverting part
DEV_KAPPA = 1.0 / 30.0  # reversion per minute: half-life about 20 minutes
GAP_SIGMA = 0.004  # overnight gap
WICK_SIGMA = 0.00025  # high/low excursion beyond open/close


def trading_days(start: str | dt.date, count: int) -> list[dt.date]:
    """The first `count` NYSE sessions on or after `start` (the exchange calendar)."""
    d = dt.date.fromisoformat(start) if isinstance(start, str) else start
    return [s.day for s in calendar.sessions_from(d, count)]


def session_open_ns(day: dt.date) -> int:
    """09:30 New York on `day`, as ns UTC (DST handled by zoneinfo)."""
    return calendar.ny_ns(day, calendar.OPEN)


def generate_minutes(
    symbol: str,
    start: str | dt.date = START,
    days: int = DAYS,
    seed: int | None = None,
    start_price: float | None = None,
) -> BarFrame:
    """One-minute regular-session bars (see module doc)."""
    if seed is None:
        seed = zlib.crc32(symbol.upper().encode())
    price0 = start_price if start_price is not None else START_PRICES.get(symbol.upper(), 100.0)
    base_vol = BASE_VOLUME.get(symbol.upper(), 20_000.0)
    rng = np.random.default_rng(seed)
    d0 = dt.date.fromisoformat(start) if isinstance(start, str) else start
    sessions = calendar.sessions_from(d0, days)
    nd, m = len(sessions), SESSION_MINUTES

    minute = np.arange(m, dtype=np.float64)
    # Busier and more volatile near the open and the close.
    vol_shape = 1.0 + 1.2 * np.exp(-minute / 25.0) + 0.5 * np.exp(-(m - 1 - minute) / 25.0)
    volu_shape = 0.55 + 2.8 * np.exp(-minute / 20.0) + 1.6 * np.exp(-(m - 1 - minute) / 20.0)

    z_level = rng.standard_normal((nd, m))
    z_dev = rng.standard_normal((nd, m))
    z_gap = rng.standard_normal(nd)
    z_hi = np.abs(rng.standard_normal((nd, m)))
    z_lo = np.abs(rng.standard_normal((nd, m)))
    z_vol = rng.standard_normal((nd, m))
    z_dayvol = rng.standard_normal(nd)

    level_steps = LEVEL_SIGMA * vol_shape * z_level
    level_steps[:, 0] += GAP_SIGMA * z_gap
    level_steps[0, 0] = 0.0
    level = np.log(price0) + np.cumsum(level_steps.ravel())

    # The deviation's recursion can't be vectorised without scipy; 50k steps take milliseconds.
    shocks = (DEV_SIGMA * vol_shape * z_dev).ravel().tolist()
    keep = 1.0 - DEV_KAPPA
    dev = np.empty(nd * m)
    x = 0.0
    for i, s in enumerate(shocks):
        x = x * keep + s
        dev[i] = x

    close = np.round(np.exp(level + dev), 2)
    open_ = np.empty_like(close)
    open_[1:] = close[:-1]
    open_[0] = round(price0, 2)
    day_first = np.arange(nd) * m
    # A session opens at its own first print, after the overnight gap.
    open_[day_first[1:]] = np.round(close[day_first[1:]] * np.exp(-LEVEL_SIGMA * z_level[1:, 0]), 2)
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = np.maximum(np.round(top * np.exp(WICK_SIGMA * vol_shape * z_hi).ravel(), 2), top)
    low = np.minimum(np.round(bottom * np.exp(-WICK_SIGMA * vol_shape * z_lo).ravel(), 2), bottom)

    day_factor = np.exp(0.25 * z_dayvol)[:, None]
    volume = np.round(base_vol * volu_shape * day_factor * np.exp(0.35 * z_vol - 0.06125)).ravel()
    volume = np.maximum(volume, 100.0)

    opens = np.array([s.open_ns for s in sessions], dtype=np.int64)
    ts = (opens[:, None] + np.arange(m, dtype=np.int64) * NS_PER_MINUTE).ravel()
    closes = np.repeat(np.array([s.close_ns for s in sessions], dtype=np.int64), m)
    in_session = ts < closes
    if in_session.all():
        return BarFrame(ts, open_, high, low, close, volume, symbol=symbol, timeframe="1m")
    k = in_session
    return BarFrame(ts[k], open_[k], high[k], low[k], close[k], volume[k], symbol=symbol,
                    timeframe="1m")


def generate_sample(
    symbol: str,
    timeframe: str = "5m",
    start: str | dt.date = START,
    days: int = DAYS,
    seed: int | None = None,
    start_price: float | None = None,
) -> BarFrame:
    """Deterministic sample bars of `symbol` at `timeframe` (1m or coarser).

    The same arguments always give the same bars; `seed` defaults to a hash of the symbol.
    """
    tf = canonical_timeframe(timeframe)
    minutes = generate_minutes(symbol, start, days, seed, start_price)
    if timeframe_ns(tf) == NS_PER_MINUTE:
        return minutes
    return resample(minutes, tf)


def write_samples(out: str | Path, specs: tuple[tuple[str, str], ...] = SHIPPED) -> list[Path]:
    """Write SYMBOL_TF.csv files for `specs` into `out`."""
    out = Path(out)
    written = []
    for symbol, tf in specs:
        frame = generate_sample(symbol, tf)
        written.append(save_bars(frame, out / f"{symbol}_{tf}.csv", price_decimals=2))
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m admf.data.sample", description="Write the deterministic sample bar files."
    )
    ap.add_argument("--out", default="data", help="directory to write into (default: data)")
    ap.add_argument(
        "--spec",
        action="append",
        help="SYMBOL_TF to write, repeatable (default: the shipped SPY_5m and QQQ_5m)",
    )
    args = ap.parse_args(argv)
    specs: tuple[tuple[str, str], ...] = SHIPPED
    if args.spec:
        from admf.data.timeframe import parse_symbol_spec

        specs = tuple(parse_symbol_spec(s) for s in args.spec)
    for p in write_samples(args.out, specs):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
