"""Resampling bars to a coarser timeframe.

Intraday buckets are aligned to multiples of the timeframe since the Unix epoch in UTC
(so 15m buckets start at :00, :15, :30, :45 and 1h buckets on the UTC hour). A "1d" bucket
is the America/New_York calendar day, because a UTC day cuts US evening sessions in two;
the daily bar is labelled with New York midnight expressed in UTC, as Alpaca labels daily bars.
A half day (exchange calendar early close) is one daily bar like any other; a day without a
session (holiday, weekend) gets a bar only if the data has bars on it (extended hours).
Each bucket is labelled by its start: open=first, high=max, low=min, close=last,
volume=sum. Buckets with no bars are left out.
"""

from __future__ import annotations

import numpy as np

from admf.core.calendar import session_day_start
from admf.core.errors import DataError
from admf.data.frame import BarFrame
from admf.data.timeframe import NS_PER_DAY, canonical_timeframe, format_timeframe, timeframe_ns


def bucket_starts(ts: np.ndarray, tf: str) -> np.ndarray:
    """The start (UTC ns) of the bucket each time falls in."""
    step = timeframe_ns(tf)
    if step == NS_PER_DAY:
        return session_day_start(ts)
    if step > NS_PER_DAY:
        raise DataError(
            "resampling to more than one day is not supported",
            field="timeframe",
            value=tf,
            accepted="up to 1d",
        )
    return ts - np.mod(ts, step)


def infer_timeframe_ns(ts: np.ndarray) -> int:
    """The smallest positive gap between bars, 0 with fewer than two bars."""
    if len(ts) < 2:
        return 0
    d = np.diff(ts)
    d = d[d > 0]
    return int(d.min()) if len(d) else 0


def resample(frame: BarFrame, timeframe: str) -> BarFrame:
    """Aggregate sorted bars into `timeframe` buckets (see module doc). Coarser timeframes only."""
    target = canonical_timeframe(timeframe)
    tgt_ns = timeframe_ns(target)
    src_ns = frame.timeframe_ns or infer_timeframe_ns(frame.ts)
    src_name = frame.timeframe or (format_timeframe(src_ns) if src_ns else "unknown")
    if src_ns and tgt_ns < src_ns:
        raise DataError(
            f"cannot resample {src_name} bars to the finer timeframe {target}",
            file=frame.name,
            field="timeframe",
            value=timeframe,
            accepted=f"{src_name} or coarser",
        )
    if src_ns == tgt_ns:
        return frame.replace(timeframe=target)
    if src_ns and tgt_ns < NS_PER_DAY and tgt_ns % src_ns:
        raise DataError(
            f"{target} is not a whole multiple of the source timeframe {src_name}; bars would straddle buckets",
            file=frame.name,
            field="timeframe",
            value=timeframe,
        )
    n = len(frame)
    if n == 0:
        return frame.replace(timeframe=target)

    if n > 1 and not bool(np.all(frame.ts[1:] > frame.ts[:-1])):
        raise DataError("bars must be sorted by time before resampling", file=frame.name, field="timestamp")
    keys = bucket_starts(frame.ts, target)
    # Sorted input gives sorted keys, so a bucket is a run of equal keys.
    starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    ends = np.append(starts[1:], n)
    return BarFrame(
        keys[starts],
        frame.open[starts],
        np.maximum.reduceat(frame.high, starts),
        np.minimum.reduceat(frame.low, starts),
        frame.close[ends - 1],
        np.add.reduceat(frame.volume, starts),
        symbol=frame.symbol,
        timeframe=target,
        source=frame.source,
    )
