"""Finding the bar columns in a table and turning them into numpy arrays.

Column names are matched case-insensitively, surrounding spaces ignored. Times become int64
ns UTC: tz-aware values are converted to UTC, naive values are taken to be UTC already,
integer epochs are scaled from s, ms, us or ns by their magnitude.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from admf.core.errors import DataError
from admf.core.units import MS_NS, NS, US_NS

# Checked in this order; the first present wins.
TIME_NAMES = ("timestamp", "datetime", "time", "date", "ts", "t")
VALUE_NAMES = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
}
_INDEX_PREFIX = "__index_level_"

_UNIT_NS = {"s": NS, "ms": MS_NS, "us": US_NS, "ns": 1}


def accepted_names() -> str:
    time = "/".join(TIME_NAMES) + " (or a datetime index)"
    values = ", ".join("/".join(v) for v in VALUE_NAMES.values())
    return f"time: {time}; {values} (any letter case)"


def _find(lower: dict[str, str], names: tuple[str, ...]) -> str | None:
    for n in names:
        if n in lower:
            return lower[n]
    return None


def table_to_arrays(table: pa.Table, source: str) -> tuple[np.ndarray, ...]:
    """(ts, open, high, low, close, volume) arrays from a table, or a DataError naming what is missing."""
    lower: dict[str, str] = {}
    for name in table.column_names:
        key = name.strip().lower()
        if key in lower and key in {n for names in VALUE_NAMES.values() for n in names} | set(TIME_NAMES):
            raise DataError(
                f"two columns are both named {key!r} when letter case is ignored",
                file=source,
                field="columns",
                value=[lower[key], name],
            )
        lower.setdefault(key, name)

    found = [c for c in table.column_names if not c.startswith(_INDEX_PREFIX)]
    time_col = _find(lower, TIME_NAMES)
    if time_col is None:
        # An unnamed pandas index survives in parquet as __index_level_0__.
        idx = [c for c in table.column_names if c.startswith(_INDEX_PREFIX)]
        if len(idx) == 1 and _is_timelike(table.schema.field(idx[0]).type):
            time_col = idx[0]
    missing = [k for k in VALUE_NAMES if _find(lower, VALUE_NAMES[k]) is None]
    if time_col is None:
        missing.insert(0, "timestamp")
    if missing:
        raise DataError(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; columns found: "
            f"{', '.join(found) if found else '(none)'}",
            file=source,
            field="columns",
            accepted=accepted_names(),
        )

    assert time_col is not None
    if table.num_rows == 0:
        empty = np.empty(0)
        return (np.empty(0, dtype=np.int64), empty, empty, empty, empty, empty)
    ts = to_ns(table.column(time_col), source, time_col)
    values = []
    for names in VALUE_NAMES.values():
        col = _find(lower, names)
        assert col is not None
        values.append(_to_float(table.column(col), source, col))
    return (ts, *values)


def _is_timelike(t: pa.DataType) -> bool:
    return pa.types.is_timestamp(t) or pa.types.is_date(t)


def _first_null(arr: pa.ChunkedArray) -> int:
    return int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])


def _to_float(arr: pa.ChunkedArray, source: str, name: str) -> np.ndarray:
    # Nulls become NaN here; validation reports them with their row.
    if pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type) or pa.types.is_decimal(arr.type):
        return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        try:
            return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            pass
        import pandas as pd

        raw = arr.to_pandas()
        num = pd.to_numeric(raw.str.strip(), errors="coerce")
        bad = np.flatnonzero(num.isna().to_numpy() & raw.notna().to_numpy())
        if len(bad):
            i = int(bad[0])
            raise DataError("not a number", file=source, field=f"row {i + 1}, column {name}", value=raw.iloc[i])
        return num.to_numpy(dtype=np.float64)
    if pa.types.is_null(arr.type):
        return np.full(len(arr), np.nan)
    raise DataError(f"column holds {arr.type}, not numbers", file=source, field=f"column {name}")


def epoch_unit(values: np.ndarray) -> str:
    """Guess s/ms/us/ns of integer epochs from their magnitude (dates 1973..5138 are unambiguous)."""
    if len(values) == 0:
        return "ns"
    m = float(np.max(np.abs(values)))
    if m < 1e11:
        return "s"
    if m < 1e14:
        return "ms"
    if m < 1e17:
        return "us"
    return "ns"


def to_ns(arr: pa.ChunkedArray, source: str, name: str) -> np.ndarray:
    """Int64 ns UTC from a timestamp, date, integer or string column."""
    if arr.null_count:
        i = _first_null(arr)
        raise DataError("time is missing", file=source, field=f"row {i + 1}, column {name}")
    t = arr.type
    if pa.types.is_timestamp(t):
        # Arrow stores tz-aware times as UTC already; naive ones are wall times we take as UTC.
        raw = pc.cast(arr, pa.timestamp(t.unit)).cast(pa.int64()).to_numpy(zero_copy_only=False)
        return raw.astype(np.int64) * _UNIT_NS[t.unit]
    if pa.types.is_date32(t):
        return arr.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64) * 86_400_000_000_000
    if pa.types.is_date64(t):
        return arr.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64) * 1_000_000
    if pa.types.is_integer(t):
        raw = arr.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64)
        return raw * _UNIT_NS[epoch_unit(raw)]
    if pa.types.is_floating(t):
        raw = arr.to_numpy(zero_copy_only=False)
        if not np.all(np.isfinite(raw)):
            i = int(np.flatnonzero(~np.isfinite(raw))[0])
            raise DataError(
                "time is not a number", file=source, field=f"row {i + 1}, column {name}", value=float(raw[i])
            )
        unit = epoch_unit(raw)
        return np.round(raw * _UNIT_NS[unit]).astype(np.int64)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _strings_to_ns(arr, source, name)
    raise DataError(f"time column holds {t}", file=source, field=f"column {name}", accepted="dates, times or epochs")


def _strings_to_ns(arr: pa.ChunkedArray, source: str, name: str) -> np.ndarray:
    import pandas as pd

    raw = arr.to_pandas()
    if raw.str.fullmatch(r"\s*-?\d+\s*").all():
        ints = raw.astype(np.int64).to_numpy()
        return ints * _UNIT_NS[epoch_unit(ints)]
    try:
        parsed = pd.to_datetime(raw, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        parsed = pd.to_datetime(raw, utc=True, format="mixed", errors="coerce")
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if len(bad):
            i = int(bad[0])
            raise DataError(
                "not a date/time", file=source, field=f"row {i + 1}, column {name}", value=raw.iloc[i]
            ) from None
    return pd.DatetimeIndex(parsed).as_unit("ns").asi8.copy()
