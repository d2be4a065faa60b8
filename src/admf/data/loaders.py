"""Reading and writing bar files: .csv, .csv.gz and .parquet.

Columns: a time column (timestamp/datetime/time/date/ts, any case, or the parquet/pandas
index) and open, high, low, close, volume (any case). Naive times are taken to be UTC;
tz-aware times are converted to UTC; integer epochs in s, ms, us or ns are recognised by
their magnitude. Each timestamp marks the start of its bar.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from admf.core.errors import ConfigError, DataError
from admf.data.columns import table_to_arrays
from admf.data.frame import VALUE_COLUMNS, BarFrame
from admf.data.timeframe import parse_symbol_spec
from admf.data.validate import validate_bars

SUFFIXES = (".parquet", ".csv", ".csv.gz")


def file_kind(path: Path) -> str | None:
    """ "parquet", "csv" or None for a path's suffix (case-insensitive)."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    return None


def spec_stem(path: Path) -> str:
    """The file name without its data suffix: "SPY_5m.csv.gz" -> "SPY_5m"."""
    name = path.name
    for suffix in (".csv.gz", ".csv", ".parquet", ".pq"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def symbol_timeframe_of(path: Path) -> tuple[str, str]:
    """("SPY", "5m") from "…/SPY_5m.csv"; ("name", "") when the name holds no timeframe."""
    stem = spec_stem(path)
    try:
        return parse_symbol_spec(stem)
    except ConfigError:
        return stem, ""


def read_table(path: Path) -> pa.Table:
    """The raw table of a bar file, or a DataError that says why it can't be read."""
    kind = file_kind(path)
    if kind is None:
        raise DataError("unknown file type", file=str(path), value=path.suffix, accepted=", ".join(SUFFIXES))
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        import pyarrow.csv as pcsv

        # read_csv infers each column's type over the whole file, so an odd value far down
        # turns the column into text and the column parsers below name its row.
        return pcsv.read_csv(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"cannot read {kind} file: {e}", file=str(path)) from None


def load_bars(
    path: str | Path,
    symbol: str | None = None,
    timeframe: str | None = None,
    validate: bool = True,
) -> BarFrame:
    """Read one bar file into a BarFrame (validated unless `validate=False`).

    Symbol and timeframe default to what the file name says ("SPY_5m.csv" -> SPY, 5m).
    """
    p = Path(path)
    table = read_table(p)
    ts, o, h, l, c, v = table_to_arrays(table, str(p))
    name_sym, name_tf = symbol_timeframe_of(p)
    frame = BarFrame(
        ts,
        o,
        h,
        l,
        c,
        v,
        symbol=symbol if symbol is not None else name_sym,
        timeframe=timeframe if timeframe is not None else name_tf,
        source=str(p),
    )
    return validate_bars(frame) if validate else frame


def _ts_strings(ts: np.ndarray) -> np.ndarray:
    # Same text as pandas writes for a UTC index: "2024-03-26 13:30:00+00:00".
    s = np.datetime_as_string(ts.astype("datetime64[ns]"), unit="s")
    return np.char.add(np.char.replace(s, "T", " "), "+00:00")


def save_bars(frame: BarFrame, path: str | Path, price_decimals: int | None = None) -> Path:
    """Write a frame as .csv / .csv.gz (timestamp,open,high,low,close,volume) or .parquet.

    CSV text is deterministic: times as "YYYY-MM-DD HH:MM:SS+00:00" (whole seconds), prices with
    `price_decimals` digits when given (else shortest round-trip repr), whole volumes as integers.
    """
    p = Path(path)
    kind = file_kind(p)
    if kind is None:
        raise DataError("unknown file type", file=str(p), value=p.suffix, accepted=", ".join(SUFFIXES))
    p.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        import pyarrow.parquet as pq

        cols = {"timestamp": pa.array(frame.ts, type=pa.timestamp("ns", tz="UTC"))}
        cols.update({c: pa.array(frame.column(c)) for c in VALUE_COLUMNS})
        pq.write_table(pa.table(cols), p)
        return p

    fmt = (lambda x: f"{x:.{price_decimals}f}") if price_decimals is not None else repr
    vol = frame.volume
    whole = bool(np.all(vol == np.round(vol)))
    vfmt = (lambda x: str(int(x))) if whole else repr
    lines = ["timestamp,open,high,low,close,volume"]
    for t, o, h, l, c, v in zip(
        _ts_strings(frame.ts).tolist(),
        frame.open.tolist(),
        frame.high.tolist(),
        frame.low.tolist(),
        frame.close.tolist(),
        vol.tolist(),
        strict=True,
    ):
        lines.append(f"{t},{fmt(o)},{fmt(h)},{fmt(l)},{fmt(c)},{vfmt(v)}")
    data = ("\n".join(lines) + "\n").encode()
    if p.name.lower().endswith(".gz"):
        import gzip

        # mtime=0 keeps the bytes identical from run to run.
        data = gzip.compress(data, mtime=0)
    p.write_bytes(data)
    return p
