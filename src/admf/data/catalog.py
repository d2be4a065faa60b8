"""Finding the file behind a data spec ("SPY_5m") in a data directory, and loading it.

"SPY_5m" is looked up as SPY_5m.parquet, SPY_5m.csv, SPY_5m.csv.gz (in that order of
preference; the symbol's letter case is ignored). When no 5m file exists but a finer one
does (SPY_1m.parquet), the finer file is loaded and resampled; the coarsest usable finer
file is chosen because it has the fewest rows to read. An explicit file path is used as is.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np

from admf.core.errors import ConfigError, DataError
from admf.data.frame import BarFrame, format_ts
from admf.data.loaders import SUFFIXES, file_kind, load_bars, spec_stem, symbol_timeframe_of
from admf.data.resample import resample
from admf.data.timeframe import (
    ACCEPTED_SPECS,
    NS_PER_DAY,
    canonical_timeframe,
    format_timeframe,
    parse_symbol_spec,
    timeframe_ns,
)

_SUFFIX_RANK = {".parquet": 0, ".pq": 0, ".csv": 1, ".csv.gz": 2}
_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")

TimeBound = str | int | dt.datetime | dt.date | None


def _suffix_rank(p: Path) -> int:
    name = p.name.lower()
    for suffix, rank in sorted(_SUFFIX_RANK.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return rank
    return 9


def looks_like_path(spec: str) -> bool:
    return "/" in spec or "\\" in spec or file_kind(Path(spec)) is not None


def _data_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.iterdir() if p.is_file() and file_kind(p) is not None)


def _files_for_symbol(data_dir: Path, symbol: str) -> list[tuple[Path, str]]:
    out = []
    for p in _data_files(data_dir):
        sym, tf = symbol_timeframe_of(p)
        if tf and sym.lower() == symbol.lower():
            out.append((p, tf))
    return out


def _not_found(what: str, data_dir: Path, symbol: str | None) -> DataError:
    if not data_dir.is_dir():
        return DataError(f"{what}; the data directory {data_dir.resolve()} does not exist", file=str(data_dir))
    files = _data_files(data_dir)
    mine = [p.name for p, _ in _files_for_symbol(data_dir, symbol)] if symbol else []
    if mine:
        there = f"files for {symbol} there: {', '.join(mine)}"
    else:
        names = [p.name for p in files]
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        lead = f"no files for {symbol} there" if symbol else "files there"
        there = f"{lead}; data files there: {shown}" if names else f"{lead}; it holds no data files"
    return DataError(f"{what} in data directory {data_dir.resolve()}; {there}", file=str(data_dir))


def resolve(spec: str | Path, data_dir: str | Path, base_dir: str | Path | None = None) -> Path:
    """The file to load for `spec`: an exact SYMBOL_TF file, else a finer one, else a path.

    A relative file path is looked up beside the config (`base_dir`), then in the working
    directory, then in the data directory: the first that exists is used.
    Raises DataError naming the directory searched and the files there for the symbol, or
    ConfigError when `spec` is neither a path nor SYMBOL_TIMEFRAME.
    """
    data_dir = Path(data_dir)
    if isinstance(spec, Path) or looks_like_path(str(spec)):
        p = Path(spec)
        near = (Path(base_dir) / p,) if base_dir else ()
        for cand in (*near, p, data_dir / p) if not p.is_absolute() else (p,):
            if cand.is_file():
                return cand
        sym, tf = symbol_timeframe_of(p)
        raise _not_found(f"file {p} not found", data_dir, sym if tf else None)

    symbol, tf = parse_symbol_spec(spec)
    if not data_dir.is_dir():
        raise _not_found(f"no file for {spec}", data_dir, symbol)
    target = timeframe_ns(tf)
    exact: list[Path] = []
    finer: list[tuple[int, Path]] = []
    for p, ftf in _files_for_symbol(data_dir, symbol):
        f_ns = timeframe_ns(ftf)
        if f_ns == target:
            exact.append(p)
        elif f_ns < target and (target >= NS_PER_DAY or target % f_ns == 0):
            finer.append((f_ns, p))

    def pref(p: Path) -> tuple[int, int]:
        # Exact letter case of the symbol first, then parquet > csv > csv.gz.
        return (0 if spec_stem(p).startswith(symbol) else 1, _suffix_rank(p))

    if exact:
        return min(exact, key=pref)
    if finer:
        coarsest = max(ns for ns, _ in finer)
        return min((p for ns, p in finer if ns == coarsest), key=pref)
    names = "/".join(f"{symbol}_{tf}{s}" for s in SUFFIXES)
    raise _not_found(f"no file {names} (nor a finer {symbol} file to resample)", data_dir, symbol)


def time_bound(value: TimeBound, field: str, end: bool = False) -> int | None:
    """Int ns UTC from a bound. Naive times are UTC; an end given as a bare date includes that day."""
    if value is None:
        return None
    import pandas as pd

    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(
            "not a date/time", field=field, value=value, accepted="YYYY-MM-DD, ISO 8601 date-time, or int ns"
        ) from None
    if ts is pd.NaT:
        raise ConfigError("not a date/time", field=field, value=value, accepted="YYYY-MM-DD or ISO 8601")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    ns = int(ts.as_unit("ns").value)
    bare_date = (isinstance(value, str) and _DATE_ONLY.match(value)) or (
        isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    )
    if end and bare_date:
        ns += NS_PER_DAY
    return ns


def infer_timeframe(frame: BarFrame) -> str:
    """The bars' timeframe from their spacing: the median positive gap ("5m" for 5-minute bars with nights)."""
    gaps = np.diff(frame.ts)
    gaps = gaps[gaps > 0]
    if gaps.size == 0:
        raise DataError("cannot tell the timeframe of a single bar", file=frame.source, field="timeframe",
                        accepted="data: {file: ..., timeframe: 5m}")
    med = int(np.median(gaps))
    try:
        return format_timeframe(med)
    except ConfigError:
        raise DataError(f"bars are {med / 6e10:g} minutes apart, not a whole timeframe", file=frame.source,
                        field="timeframe", accepted="data: {file: ..., timeframe: 5m}") from None


def load_spec(
    spec: str | Path,
    data_dir: str | Path,
    start: TimeBound = None,
    end: TimeBound = None,
    *,
    symbol: str | None = None,
    timeframe: str | None = None,
    base_dir: str | Path | None = None,
) -> BarFrame:
    """Load, validate, resample if needed, and cut to start <= ts < end.

    `end` given as a bare date ("2024-06-28") includes that whole UTC day. For a file path,
    `symbol` and `timeframe` override what its name says; a file whose name holds no
    timeframe gets the one its bars' spacing shows.
    """
    path = resolve(spec, data_dir, base_dir)
    if isinstance(spec, Path) or looks_like_path(str(spec)):
        frame = load_bars(path, symbol=symbol, timeframe=canonical_timeframe(timeframe) if timeframe else None)
        if not frame.timeframe:
            frame = frame.replace(timeframe=infer_timeframe(frame))
    else:
        symbol, tf = parse_symbol_spec(spec)
        frame = load_bars(path, symbol=symbol)
        file_tf = symbol_timeframe_of(path)[1]
        if timeframe_ns(file_tf) != timeframe_ns(tf):
            frame = resample(frame, tf)
        else:
            frame = frame.replace(timeframe=tf)
    lo = time_bound(start, "start")
    hi = time_bound(end, "end", end=True)
    if lo is None and hi is None:
        return frame
    if lo is not None and hi is not None and hi <= lo:
        raise ConfigError("end is not after start", field="end", value=end, accepted=f"after {start}")
    cut = frame.slice_time(lo, hi)
    if len(cut) == 0:
        raise DataError(
            f"no bars between {start} and {end}; the file covers {format_ts(int(frame.ts[0]))} "
            f"to {format_ts(int(frame.ts[-1]))}",
            file=frame.name,
            field="start/end",
        )
    return cut


__all__ = ["ACCEPTED_SPECS", "infer_timeframe", "load_spec", "resolve", "time_bound"]
