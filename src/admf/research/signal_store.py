"""A content-addressed Parquet store of sparse strategy signals.

Layout of a store directory:

    store.json                          marker: {"format": 1, "admf": "0.1.0"}
    signals/<h[:2]>/<h>.parquet         one file per stored variant, h = its key hash;
                                        columns ts (timestamp[ns, UTC]), bar (int32, row
                                        number within the symbol's bars), value (int8: 1, 0,
                                        -1), price (the close of the bar at the change:
                                        decimal(18, 4) when exact at 4 decimals, else float64)
    index/<run_id>.parquet              one row per variant a run generated or found: hash,
                                        strategy, symbol, timeframe, direction, constraints,
                                        filter, params (JSON), a column per parameter,
                                        signal_count, bars, days, first_ts, last_ts, ...
    runs/<run_id>.parquet               one row per run: when, config, variants, new, skipped

A variant's hash covers the canonical strategy name, its parameters typed through the
strategy's declared parameter types (20 and 20.0 are the same float), direction,
constraints, filter (as parsed, so spacing does not matter), symbol, timeframe, a
fingerprint of the symbol's bars, the admf version and the strategy class's source. Files
are written to a temporary name and renamed, so a store never holds half a file; a
variant already in the store is not generated again.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import inspect
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from admf.config.schema import StrategyEntry
from admf.core.errors import UserError
from admf.data.timeline import Timeline
from admf.strategies.params import validate_params
from admf.strategies.registry import get_strategy

STORE_FORMAT = 1
MARKER = "store.json"
PRICE_SCALE = 4  # prices exact at 4 decimals are stored as decimal(18, 4), others as float64


def _price_column(price: np.ndarray) -> tuple[pa.Array, bool]:
    """Prices as decimal(18, 4) when that is exact (it packs 2-3 times tighter), else float64."""
    p = np.asarray(price, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        k = np.round(p * 10**PRICE_SCALE)
        exact = bool(np.isfinite(k).all() and (np.abs(k) < 2**62).all() and (k / 10**PRICE_SCALE == p).all())
    if not exact:
        return pa.array(p, pa.float64()), False
    ints = k.astype(np.int64)
    words = np.empty((len(ints), 2), dtype=np.int64)  # decimal128: little-endian low and high words
    words[:, 0] = ints
    words[:, 1] = np.where(ints < 0, -1, 0)
    return pa.Array.from_buffers(pa.decimal128(18, PRICE_SCALE), len(ints), [None, pa.py_buffer(words.tobytes())]), True


def _version() -> str:
    from admf import __version__

    return __version__


def bars_fingerprint(tl: Timeline, k: int) -> str:
    """A hash of symbol k's bars (times and values, in order) and the timeline's timeframe."""
    h = hashlib.blake2b(digest_size=16)
    rows = tl.rows[k]
    h.update(tl.timeframe.encode())
    for col in (tl.ts, tl.open, tl.high, tl.low, tl.close, tl.volume):
        h.update(np.ascontiguousarray(col[rows]).tobytes())
    return h.hexdigest()


def canonical_filter(text: str | None) -> str | None:
    """The filter as parsed: `close>sma(20)` and `close > sma(20)` are the same filter."""
    if not text:
        return None
    try:
        return ast.dump(ast.parse(text.strip(), mode="eval"))
    except SyntaxError:
        return text.strip()


_CODE_HASHES: dict[type, str] = {}  # a class's source does not change within a process; reading it costs ms


def _code_hash(cls: type) -> str:
    got = _CODE_HASHES.get(cls)
    if got is None:
        try:
            src = inspect.getsource(cls)
        except (OSError, TypeError):  # defined in a REPL: the version alone keys it
            src = cls.__qualname__
        got = _CODE_HASHES[cls] = hashlib.blake2b(src.encode(), digest_size=8).hexdigest()
    return got


@dataclass(frozen=True)
class VariantKey:
    """What a stored variant's signals depend on; `hash` names its file."""

    strategy: str
    params: dict[str, Any]
    direction: str
    constraints: tuple[str, ...]
    filter: str | None
    symbol: str
    timeframe: str
    bars: str
    admf: str
    code: str

    def canonical(self) -> str:
        return json.dumps({
            "format": STORE_FORMAT, "strategy": self.strategy, "params": self.params, "direction": self.direction,
            "constraints": list(self.constraints), "filter": canonical_filter(self.filter), "symbol": self.symbol,
            "timeframe": self.timeframe, "bars": self.bars, "admf": self.admf, "code": self.code,
        }, sort_keys=True, separators=(",", ":"))

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:24]


def variant_key(entry: StrategyEntry, symbol: str, timeframe: str, fingerprint: str,
                *, file: str | None = None) -> VariantKey:
    cls = get_strategy(entry.type, file=file)
    params = validate_params(cls.params, entry.params, file=file, field=f"strategy.{entry.type}")
    return VariantKey(strategy=cls.name, params=params, direction=entry.direction,
                      constraints=tuple(sorted(set(entry.constraints))), filter=entry.filter, symbol=symbol,
                      timeframe=timeframe, bars=fingerprint, admf=_version(), code=_code_hash(cls))


@dataclass
class StoredSignals:
    """One variant's sparse signals: bar numbers within its symbol's bars, times, values, prices."""

    bar: np.ndarray
    ts: np.ndarray  # int64 ns
    value: np.ndarray
    price: np.ndarray


def _prices(col: pa.Array) -> np.ndarray:
    """float64 prices; a decimal column as its integer units / 10^scale (exact; pyarrow's cast is not)."""
    if not pa.types.is_decimal(col.type):
        return col.to_numpy()
    words = col.type.byte_width // 8
    units = np.frombuffer(col.buffers()[1], dtype=np.int64)[words * col.offset: words * (col.offset + len(col))]
    return units.reshape(-1, words)[:, 0] / 10**col.type.scale


def _atomic_parquet(table: pa.Table, path: Path, **kw: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        pq.write_table(table, tmp, **kw)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class SignalStore:
    """A store directory (see the module docstring for its layout)."""

    def __init__(self, root: str | Path, *, create: bool = False) -> None:
        self.root = Path(root)
        marker = self.root / MARKER
        if not marker.is_file():
            if not create:
                what = "no such directory" if not self.root.exists() else "not a signal store (no store.json)"
                raise UserError(f"unknown signal store: {what}", field="--store", value=str(root),
                                accepted="a directory written by `admf signals CONFIG --store DIR`")
            if self.root.exists() and not self.root.is_dir():
                raise UserError("not a directory", field="--store", value=str(root),
                                accepted="a new or empty directory, or an existing signal store")
            if self.root.exists() and any(self.root.iterdir()):
                raise UserError("not a signal store and not empty; refusing to write into it", field="--store",
                                value=str(root), accepted="a new or empty directory, or an existing store")
            self.root.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps({"format": STORE_FORMAT, "admf": _version()}) + "\n")
        else:
            try:
                fmt = json.loads(marker.read_text()).get("format")
            except (ValueError, AttributeError):
                fmt = None
            if fmt != STORE_FORMAT:
                raise UserError("signal store of another format", field="--store", value=str(root),
                                accepted=f"format {STORE_FORMAT}; generate into a new directory")

    def path(self, h: str) -> Path:
        return self.root / "signals" / h[:2] / f"{h}.parquet"

    def has(self, h: str) -> bool:
        return self.path(h).is_file()

    def write(self, h: str, sig: StoredSignals) -> None:
        price, exact = _price_column(sig.price)
        table = pa.table({
            "ts": pa.array(sig.ts.astype("int64"), pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
            "bar": pa.array(sig.bar.astype(np.int32)), "value": pa.array(sig.value.astype(np.int8)),
            "price": price,
        })
        # times, bar numbers and (exact decimal) prices change little from row to row: delta encoding
        # packs them; the value column is a run of three symbols, which the dictionary handles best
        delta = ["ts", "bar", *(["price"] if exact else [])]
        kw: dict[str, Any] = {"compression": "zstd", "column_encoding": dict.fromkeys(delta, "DELTA_BINARY_PACKED"),
                              "use_dictionary": [c for c in table.column_names if c not in delta]}
        try:
            _atomic_parquet(table, self.path(h), **kw, store_decimal_as_integer=True)
        except TypeError:  # an older pyarrow stores decimals as fixed-length bytes
            kw["column_encoding"] = dict.fromkeys(["ts", "bar"], "DELTA_BINARY_PACKED")
            kw["use_dictionary"] = ["value", "price"]
            _atomic_parquet(table, self.path(h), **kw)

    def count(self, h: str) -> int:
        """Number of signal rows of a stored variant (from the file's footer)."""
        return int(pq.ParquetFile(self.path(h)).metadata.num_rows)

    def read(self, h: str) -> StoredSignals:
        p = self.path(h)
        if not p.is_file():
            raise UserError("variant not in the signal store", field="--store", value=f"{self.root} ({h})",
                            accepted="run `admf signals CONFIG --store DIR` on the same config and data first")
        t = pq.read_table(p)
        return StoredSignals(bar=t["bar"].to_numpy().astype(np.int64),
                             ts=t["ts"].cast(pa.int64()).to_numpy(),
                             value=t["value"].to_numpy().astype(np.int64),
                             price=_prices(t["price"].combine_chunks()))

    def write_index(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            _atomic_parquet(pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False),
                            self.root / "index" / f"{run_id}.parquet")

    def write_run(self, run_id: str, row: dict[str, Any]) -> None:
        _atomic_parquet(pa.Table.from_pandas(pd.DataFrame([row]), preserve_index=False),
                        self.root / "runs" / f"{run_id}.parquet")

    def globs(self) -> dict[str, str]:
        """The Parquet globs behind the query views (only those with files)."""
        out = {}
        for name, pattern in (("signals", "signals/*/*.parquet"), ("index", "index/*.parquet"),
                              ("runs", "runs/*.parquet")):
            if any(self.root.glob(pattern)):
                out[name] = str(self.root / pattern)
        return out


_EMPTY = {
    "signals": "SELECT NULL::VARCHAR AS hash, NULL::TIMESTAMPTZ AS ts, NULL::INTEGER AS bar, NULL::TINYINT AS value, "
               "NULL::DOUBLE AS price WHERE false",
    "strategies": "SELECT NULL::VARCHAR AS hash, NULL::VARCHAR AS strategy, NULL::BIGINT AS signal_count WHERE false",
    "runs": "SELECT NULL::VARCHAR AS run_id WHERE false",
}


def query(store: str | Path, sql: str) -> pd.DataFrame:
    """Run SQL (DuckDB) over a store's views `strategies`, `signals` and `runs`."""
    import duckdb

    st = SignalStore(store)
    globs = st.globs()
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        views = dict(_EMPTY)
        if "signals" in globs:
            views["signals"] = (r"SELECT regexp_extract(filename, '([0-9a-f]+)\.parquet$', 1) AS hash, ts, bar, value, "
                                "CAST(price AS DOUBLE) AS price FROM read_parquet("
                                f"'{globs['signals']}', filename=true, union_by_name=true)")
        if "index" in globs:
            # a variant found by several runs has one row per run: keep the latest
            views["strategies"] = ("SELECT * EXCLUDE (rn_) FROM (SELECT *, row_number() OVER (PARTITION BY hash "
                                   f"ORDER BY run_id DESC) AS rn_ FROM read_parquet('{globs['index']}', "
                                   "union_by_name=true)) WHERE rn_ = 1")
        if "runs" in globs:
            views["runs"] = f"SELECT * FROM read_parquet('{globs['runs']}', union_by_name=true)"
        for name, body in views.items():
            con.execute(f"CREATE VIEW {name} AS {body}")
        try:
            return con.execute(sql).df()
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"query failed: {first}", field="SQL", value=sql,
                            accepted="DuckDB SQL over the views strategies, signals, runs") from None
    finally:
        con.close()


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%f") + "-" + uuid.uuid4().hex[:4]


__all__ = ["SignalStore", "StoredSignals", "VariantKey", "bars_fingerprint", "new_run_id", "query", "variant_key"]
