"""BarFrame: one symbol's bars as column arrays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from admf.core.events import Bar
from admf.data.timeframe import is_timeframe, timeframe_ns

if TYPE_CHECKING:
    import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")


def _readonly(a: np.ndarray, dtype: type) -> np.ndarray:
    # Frames share arrays with slices and timelines; read-only views keep one mutation
    # from silently changing every holder.
    a = np.ascontiguousarray(a, dtype=dtype).view()
    a.flags.writeable = False
    return a


class BarFrame:
    """Bars of one symbol, sorted by time.

    `ts` is int64 nanoseconds since the epoch, UTC, and marks the START of each bar.
    `open`, `high`, `low`, `close`, `volume` are float64. All arrays are read-only and have
    the same length. `source` is the file the bars came from (None when built in memory).
    """

    __slots__ = ("ts", "open", "high", "low", "close", "volume", "symbol", "timeframe", "source")

    def __init__(
        self,
        ts: np.ndarray,
        open: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
        symbol: str = "",
        timeframe: str = "",
        source: str | None = None,
    ) -> None:
        self.ts = _readonly(ts, np.int64)
        self.open = _readonly(open, np.float64)
        self.high = _readonly(high, np.float64)
        self.low = _readonly(low, np.float64)
        self.close = _readonly(close, np.float64)
        self.volume = _readonly(volume, np.float64)
        n = len(self.ts)
        for name in VALUE_COLUMNS:
            if len(getattr(self, name)) != n:
                raise ValueError(f"BarFrame column {name} has {len(getattr(self, name))} rows, ts has {n}")
        self.symbol = symbol
        self.timeframe = timeframe
        self.source = source

    def __len__(self) -> int:
        return len(self.ts)

    def __repr__(self) -> str:
        span = ""
        if len(self):
            span = f", {format_ts(int(self.ts[0]))} .. {format_ts(int(self.ts[-1]))}"
        return f"BarFrame({self.symbol!r}, {self.timeframe!r}, {len(self)} bars{span})"

    @property
    def name(self) -> str:
        """What error messages call this frame: its file, else SYMBOL_TIMEFRAME."""
        if self.source:
            return self.source
        return f"{self.symbol}_{self.timeframe}" if self.timeframe else self.symbol or "<bars>"

    @property
    def timeframe_ns(self) -> int:
        """Bar length in ns, 0 when the timeframe is unknown."""
        return timeframe_ns(self.timeframe) if is_timeframe(self.timeframe) else 0

    def column(self, name: str) -> np.ndarray:
        return getattr(self, name)

    def replace(self, **changes: object) -> BarFrame:
        """A copy with some fields swapped (arrays are shared, not copied)."""
        kw = {k: getattr(self, k) for k in self.__slots__}
        kw.update(changes)
        return BarFrame(**kw)  # type: ignore[arg-type]

    def take(self, index: slice | np.ndarray) -> BarFrame:
        """Rows selected by a slice (views) or an index array (copies)."""
        return BarFrame(
            self.ts[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
            self.symbol,
            self.timeframe,
            self.source,
        )

    def slice_time(self, start_ns: int | None = None, end_ns: int | None = None) -> BarFrame:
        """Bars with start_ns <= ts < end_ns (either bound may be None). Views, no copy."""
        lo = 0 if start_ns is None else int(np.searchsorted(self.ts, start_ns, side="left"))
        hi = len(self) if end_ns is None else int(np.searchsorted(self.ts, end_ns, side="left"))
        return self.take(slice(lo, max(lo, hi)))

    def bar(self, i: int) -> Bar:
        """Row `i` as a core Bar event."""
        return Bar(
            self.symbol,
            int(self.ts[i]),
            float(self.open[i]),
            float(self.high[i]),
            float(self.low[i]),
            float(self.close[i]),
            float(self.volume[i]),
        )

    def iter_bars(self) -> Iterator[Bar]:
        sym = self.symbol
        cols = zip(
            self.ts.tolist(),
            self.open.tolist(),
            self.high.tolist(),
            self.low.tolist(),
            self.close.tolist(),
            self.volume.tolist(),
            strict=True,
        )
        for t, o, h, l, c, v in cols:
            yield Bar(sym, t, o, h, l, c, v)

    def to_pandas(self) -> pd.DataFrame:
        """DataFrame with a UTC DatetimeIndex named "timestamp" and columns open..volume."""
        import pandas as pd

        index = pd.DatetimeIndex(pd.to_datetime(self.ts, unit="ns", utc=True), name="timestamp")
        return pd.DataFrame({c: np.array(getattr(self, c)) for c in VALUE_COLUMNS}, index=index)

    @classmethod
    def from_pandas(
        cls, df: pd.DataFrame, symbol: str = "", timeframe: str = "", source: str | None = None
    ) -> BarFrame:
        """Build from a DataFrame with the same column rules as the file loaders.

        The time may be the index (DatetimeIndex) or a column; naive times are taken as UTC.
        The frame is not validated; call `admf.data.validate.validate_bars` for that.
        """
        import pyarrow as pa

        from admf.data.columns import table_to_arrays

        table = pa.Table.from_pandas(df, preserve_index=True)
        arrays = table_to_arrays(table, source or (f"{symbol}_{timeframe}" if symbol else "<DataFrame>"))
        ts, o, h, l, c, v = arrays
        return cls(ts, o, h, l, c, v, symbol=symbol, timeframe=timeframe, source=source)


def format_ts(ns: int) -> str:
    import pandas as pd

    return str(pd.Timestamp(ns, unit="ns", tz="UTC"))
