"""Checks that bars are usable; the first problem found is raised as a DataError.

Rows are numbered from 1 for the first data row (the CSV header is not counted), and each
message names the file, the row, its time, the column and the offending value.
"""

from __future__ import annotations

import numpy as np

from admf.core.errors import DataError
from admf.data.frame import PRICE_COLUMNS, BarFrame, format_ts


def _where(frame: BarFrame, i: int, column: str | None = None) -> str:
    head = f"row {i + 1} ({format_ts(int(frame.ts[i]))})"
    return f"{head}, column {column}" if column else head


def _first(mask: np.ndarray) -> int | None:
    # argmax stops at the first True without building an index array.
    if not len(mask):
        return None
    i = int(np.argmax(mask))
    return i if mask[i] else None


def validate_bars(frame: BarFrame) -> BarFrame:
    """Raise DataError on the first bad row; return the frame unchanged when all is well."""
    src = frame.name
    n = len(frame)
    if n == 0:
        raise DataError("no bars (the file has a header but no rows)", file=src)

    for col in PRICE_COLUMNS:
        a = frame.column(col)
        i = _first(~np.isfinite(a))
        if i is not None:
            raise DataError(f"{col} is not a finite number", file=src, field=_where(frame, i, col), value=float(a[i]))
        i = _first(a <= 0)
        if i is not None:
            raise DataError(f"{col} must be > 0", file=src, field=_where(frame, i, col), value=float(a[i]))

    v = frame.volume
    i = _first(~np.isfinite(v))
    if i is not None:
        raise DataError("volume is not a finite number", file=src, field=_where(frame, i, "volume"), value=float(v[i]))
    i = _first(v < 0)
    if i is not None:
        raise DataError("volume must be >= 0", file=src, field=_where(frame, i, "volume"), value=float(v[i]))

    ts = frame.ts
    if n > 1:
        d = np.diff(ts)
        i = _first(d <= 0)
        if i is not None:
            j = i + 1
            if d[i] == 0:
                msg = f"duplicate timestamp (same as row {j})"
            else:
                msg = f"timestamps not sorted (earlier than row {j}, {format_ts(int(ts[i]))})"
            raise DataError(msg, file=src, field=_where(frame, j))

    o, h, l, c = frame.open, frame.high, frame.low, frame.close
    i = _first(h < l)
    if i is not None:
        raise DataError(
            f"high is below low {float(l[i])!r}", file=src, field=_where(frame, i, "high"), value=float(h[i])
        )
    top = np.maximum(o, c)
    i = _first(h < top)
    if i is not None:
        raise DataError(
            f"high is below max(open, close) = {float(top[i])!r}",
            file=src,
            field=_where(frame, i, "high"),
            value=float(h[i]),
        )
    bottom = np.minimum(o, c)
    i = _first(l > bottom)
    if i is not None:
        raise DataError(
            f"low is above min(open, close) = {float(bottom[i])!r}",
            file=src,
            field=_where(frame, i, "low"),
            value=float(l[i]),
        )
    return frame
