"""Several symbols' bars on one timeline, ordered by (time, symbol order)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from admf.core.errors import DataError
from admf.data.frame import VALUE_COLUMNS, BarFrame


class Timeline:
    """Rows of all symbols in time order; bars at the same time follow the order of `symbols`.

    `sym[i]` is the index into `symbols` of row i. `rows[k]` holds the row numbers of symbol k,
    increasing, so `close[rows[k]]` is that symbol's close series.
    """

    __slots__ = ("ts", "sym", "open", "high", "low", "close", "volume", "symbols", "timeframe", "rows")

    def __init__(
        self,
        ts: np.ndarray,
        sym: np.ndarray,
        open: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
        symbols: list[str],
        timeframe: str,
        rows: list[np.ndarray],
    ) -> None:
        self.ts = ts
        self.sym = sym
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.symbols = symbols
        self.timeframe = timeframe
        self.rows = rows

    def __len__(self) -> int:
        return len(self.ts)

    def __repr__(self) -> str:
        return f"Timeline({self.symbols}, {self.timeframe!r}, {len(self)} rows)"

    def index_of(self, symbol: str) -> int:
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise DataError(
                "symbol not on this timeline", field="symbol", value=symbol, accepted=", ".join(self.symbols)
            ) from None

    def rows_of(self, symbol: str) -> np.ndarray:
        """Row numbers of one symbol, in time order."""
        return self.rows[self.index_of(symbol)]

    def frame(self, symbol: str) -> BarFrame:
        """One symbol's bars back as a BarFrame."""
        r = self.rows_of(symbol)
        ts, o, h, l, c, v = (getattr(self, c)[r] for c in ("ts", *VALUE_COLUMNS))
        return BarFrame(ts, o, h, l, c, v, symbol=symbol, timeframe=self.timeframe)


def _ro(a: np.ndarray) -> np.ndarray:
    a = a.view()
    a.flags.writeable = False
    return a


def merge(frames: Sequence[BarFrame]) -> Timeline:
    """Put several symbols' frames on one timeline (see Timeline). Each frame must be sorted.

    One frame: its arrays are used as they are (no copy). Several: one stable sort by time of
    the frames laid end to end, which keeps symbol order among equal times.
    """
    if not frames:
        raise DataError("no data to merge", field="data", accepted="at least one symbol")
    symbols = [f.symbol for f in frames]
    seen: set[str] = set()
    for s in symbols:
        if s in seen:
            raise DataError("symbol given twice", field="data", value=s)
        seen.add(s)
    tfs = {f.timeframe for f in frames}
    if len(tfs) > 1:
        raise DataError(
            "symbols have different timeframes; resample them to one first",
            field="data",
            value={f.symbol: f.timeframe for f in frames},
        )
    timeframe = tfs.pop()
    nsym = len(frames)
    sym_dtype = np.int16 if nsym < 2**15 else np.int32

    if nsym == 1:
        f = frames[0]
        n = len(f)
        return Timeline(
            f.ts,
            _ro(np.zeros(n, dtype=sym_dtype)),
            f.open,
            f.high,
            f.low,
            f.close,
            f.volume,
            symbols,
            timeframe,
            [_ro(np.arange(n, dtype=np.int64))],
        )

    lengths = np.array([len(f) for f in frames], dtype=np.int64)
    ts_all = np.concatenate([f.ts for f in frames])
    sym_all = np.repeat(np.arange(nsym, dtype=sym_dtype), lengths)
    # Stable: among equal times the concatenation order, i.e. symbol order, is kept.
    order = np.argsort(ts_all, kind="stable")
    cols = {c: _ro(np.concatenate([f.column(c) for f in frames])[order]) for c in VALUE_COLUMNS}
    sym = sym_all[order]
    # Where did each source row land? inverse[j] = position of concatenated row j.
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order), dtype=order.dtype)
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    rows = [_ro(inverse[bounds[k] : bounds[k + 1]]) for k in range(nsym)]
    return Timeline(
        _ro(ts_all[order]),
        _ro(sym),
        cols["open"],
        cols["high"],
        cols["low"],
        cols["close"],
        cols["volume"],
        symbols,
        timeframe,
        rows,
    )
