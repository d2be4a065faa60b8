"""Resampling bars to a coarser timeframe.

Intraday buckets are aligned to multiples of the timeframe since the Unix epoch in UTC
(so 15m buckets start at :00, :15, :30, :45 and 1h buckets on the UTC hour).

A "1d" bar is one XNYS regular session (core.calendar): the bars that overlap it (start before
its real close and end after its open), so a half day's bar ends at the 13:00 early close and
the bars after it, and every extended-hours bar, are left out; a holiday or weekend has no
session and no bar. The bar is labelled with New York midnight of the session's date expressed
in UTC, as Alpaca labels daily bars. Data that trades round the clock (core.calendar.
round_the_clock: crypto) has no exchange session: its daily bar is the New York calendar day.

Each bucket is labelled by its start: open=first, high=max, low=min, close=last,
volume=sum. Buckets with no bars are left out.
"""

from __future__ import annotations

import numpy as np

from admf.core import calendar
from admf.core.errors import DataError
from admf.data.frame import BarFrame
from admf.data.timeframe import NS_PER_DAY, canonical_timeframe, format_timeframe, timeframe_ns


def bucket_starts(ts: np.ndarray, tf: str) -> np.ndarray:
    """The start (UTC ns) of the intraday bucket each time falls in (daily bars: see session_days)."""
    step = timeframe_ns(tf)
    if step >= NS_PER_DAY:
        raise DataError(
            "resampling to more than one day is not supported",
            field="timeframe",
            value=tf,
            accepted="up to 1d",
        )
    return ts - np.mod(ts, step)


def session_days(ts: np.ndarray, bar_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """(which bars go into a daily bar, its label) for bars of `bar_ns` starting at `ts` (sorted).

    Exchange data: the bars overlapping a regular session, labelled New York midnight of its
    date. Round-the-clock data: every bar, by its New York calendar day."""
    if calendar.round_the_clock(ts, bar_ns):
        return np.ones(len(ts), dtype=bool), calendar.session_day_start(ts)
    # a bar belongs to the first session that closes after its start, if it ends after its open
    _, op, _ = calendar.locate(ts)
    keep = ts + max(bar_ns, 1) > op
    return keep, calendar.session_day_start(ts)  # a kept bar starts on its session's date


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
    if tgt_ns == NS_PER_DAY:
        keep, keys = session_days(frame.ts, src_ns)
        if not keep.all():
            frame = frame.take(np.flatnonzero(keep))
            keys = keys[keep]
            n = len(frame)
            if n == 0:
                return frame.replace(timeframe=target)
    else:
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
