"""The emulated market: bar series per symbol, a merged replay timeline, and a synthetic walk.

A bar is *current* once the replay has passed its end (bar start + the base timeframe). The
timeline is the sorted union of bar starts across symbols; one step makes every bar starting at
the next timeline instant current.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np

from admf.core.errors import DataError
from admf.emulator import calendar as cal
from admf.emulator.wire import MINUTE_NS, NS, NY

FAKEPACA = "FAKEPACA"

_COLS = {
    "t": ("timestamp", "time", "t", "datetime", "date"),
    "o": ("open", "o"),
    "h": ("high", "h"),
    "l": ("low", "l"),
    "c": ("close", "c"),
    "v": ("volume", "v"),
}
_OPT = {"S": ("symbol", "s", "ticker"), "n": ("trade_count", "n", "trades"), "vw": ("vwap", "vw")}


@dataclass(slots=True)
class Series:
    """One symbol's bars as column arrays (t = bar start, ns since epoch UTC)."""

    symbol: str
    t: np.ndarray
    o: np.ndarray
    h: np.ndarray
    l: np.ndarray
    c: np.ndarray
    v: np.ndarray
    n: np.ndarray
    vw: np.ndarray
    ptr: int = 0  # bars [0, ptr) are past; ptr-1 is the current bar
    agg_cache: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.t)


def _pick(columns: dict[str, str], names: tuple[str, ...]) -> str | None:
    for n in names:
        if n in columns:
            return columns[n]
    return None


def load_file(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Read a CSV or Parquet bar file into column arrays per symbol ('' when it has no symbol column)."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise DataError("bar file not found", file=str(p))
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        elif p.suffix.lower() in (".csv", ".txt", ".gz"):
            df = pd.read_csv(p)
        else:
            raise DataError("unknown bar file type", file=str(p), value=p.suffix, accepted=".csv, .parquet")
    except DataError:
        raise
    except Exception as exc:  # pandas raises many types for unreadable files
        raise DataError(f"cannot read bar file: {exc}", file=str(p)) from None
    if isinstance(df.index, pd.DatetimeIndex):
        df = df.reset_index()
    cols = {str(c).strip().lower(): c for c in df.columns}
    picked = {}
    for key, names in _COLS.items():
        col = _pick(cols, names)
        if col is None:
            raise DataError("missing column", file=str(p), field=names[0], accepted=" or ".join(names))
        picked[key] = col
    try:
        ts = pd.to_datetime(df[picked["t"]], utc=True)
    except Exception:
        raise DataError("unparseable timestamps", file=str(p), field=str(picked["t"])) from None
    t = ts.dt.as_unit("ns").astype("int64").to_numpy()
    data = {"t": t}
    for key in "ohlc":
        data[key] = pd.to_numeric(df[picked[key]], errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(data[key]).any():
            bad = int(np.flatnonzero(np.isnan(data[key]))[0])
            raise DataError("non-numeric price", file=str(p), field=str(picked[key]), value=f"row {bad}")
    data["v"] = pd.to_numeric(df[picked["v"]], errors="coerce").fillna(0).to_numpy(dtype=np.float64)
    for key in ("n", "vw"):
        col = _pick(cols, _OPT[key])
        if col is not None:
            data[key] = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    scol = _pick(cols, _OPT["S"])
    if scol is None:
        return {"": data}
    out = {}
    syms = df[scol].astype(str).to_numpy()
    for sym in np.unique(syms):
        mask = syms == sym
        out[str(sym)] = {k: v[mask] for k, v in data.items()}
    return out


def _finish(symbol: str, d: dict[str, np.ndarray]) -> Series:
    order = np.argsort(d["t"], kind="stable")
    t = d["t"][order]
    keep = np.ones(len(t), dtype=bool)
    keep[:-1] = t[1:] != t[:-1]  # duplicate stamps: the last row wins
    sel = order[keep]
    t = t[keep]
    o, h, l, c = (np.asarray(d[k][sel], dtype=np.float64) for k in "ohlc")
    v = np.asarray(d["v"][sel], dtype=np.float64)
    n = d.get("n")
    n = np.maximum(1, np.round(v / 100.0)).astype(np.int64) if n is None else np.nan_to_num(n[sel]).astype(np.int64)
    vw = d.get("vw")
    vw = np.round((h + l + c) / 3.0, 4) if vw is None else np.asarray(vw[sel], dtype=np.float64)
    return Series(symbol, t.astype(np.int64), o, h, l, c, np.round(v).astype(np.int64), n, vw)


def rth_grid(start: date, days: int, tf_ns: int = MINUTE_NS) -> np.ndarray:
    """Bar starts covering the regular sessions of `days` trading days from `start`."""
    out: list[np.ndarray] = []
    d = start
    while len(out) < days:
        s = cal.session(d)
        if s is not None:
            out.append(np.arange(s[0], s[1], tf_ns, dtype=np.int64))
        d = date.fromordinal(d.toordinal() + 1)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def synthetic(symbol: str, t: np.ndarray, seed: int, start_price: float | None = None) -> Series:
    """A seeded geometric random walk of minute-like bars on the grid t (plausible OHLCV)."""
    rng = np.random.default_rng([seed, zlib.crc32(symbol.encode())])
    n = len(t)
    if start_price is None:
        start_price = 100.0 if symbol == FAKEPACA else float(20 + (zlib.crc32(symbol.encode()) % 480))
    # Overnight gaps get a larger move than minute steps.
    new_day = np.zeros(n, dtype=bool)
    if n:
        ords = (t // NS - 5 * 3600) // 86400  # cheap day key, good enough to find session starts
        new_day[1:] = ords[1:] != ords[:-1]
    sigma = np.where(new_day, 0.006, 0.0007)
    ret = rng.normal(0.0, 1.0, n) * sigma
    close = start_price * np.exp(np.cumsum(ret))
    open_ = np.empty(n)
    if n:
        open_[0] = start_price
        open_[1:] = close[:-1]
        gap = rng.normal(0.0, 0.0015, n)
        open_[new_day] *= np.exp(gap[new_day])
    wick = np.abs(rng.normal(0.0, 0.0004, (2, n)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    o, h, l, c = (np.round(x, 2) for x in (open_, high, low, close))
    h = np.maximum.reduce([h, o, c])
    l = np.minimum.reduce([l, o, c])
    # U-shaped intraday volume.
    mins = ((t // NS) % 86400) / 60.0
    centre = (mins - mins.min()) / max(1.0, float(np.ptp(mins))) if n else mins
    shape = 1.0 + 3.0 * (2 * centre - 1) ** 2
    v = np.round(20_000 * shape * rng.lognormal(0.0, 0.4, n)).astype(np.int64)
    return _finish(symbol, {"t": t, "o": o, "h": h, "l": l, "c": c, "v": v.astype(np.float64)})


def _infer_tf(t: np.ndarray) -> int:
    if len(t) < 2:
        return MINUTE_NS
    d = np.diff(t[: min(len(t), 5000)])
    d = d[d > 0]
    if not len(d):
        return MINUTE_NS
    vals, counts = np.unique(d, return_counts=True)
    return int(vals[np.argmax(counts)])


class Market:
    """All series on one replay timeline, with a cursor (`pos` timeline steps played)."""

    def __init__(self, series: dict[str, Series], tf_ns: int) -> None:
        self.series = series
        self.tf_ns = tf_ns
        if series:
            self.times = np.unique(np.concatenate([s.t for s in series.values()]))
        else:
            self.times = np.zeros(0, dtype=np.int64)
        self.pos = 0
        self._by_time: list[Series] = list(series.values())

    @classmethod
    def build(
        cls,
        data: str | Path | None,
        symbols: list[str] | tuple[str, ...],
        seed: int = 42,
        synthetic_start: str = "2024-01-02",
        synthetic_days: int = 20,
    ) -> Market:
        symbols = [s.upper() for s in symbols] or ["SPY"]
        series: dict[str, Series] = {}
        if data is not None:
            loaded = load_file(data)
            if "" in loaded:
                series[symbols[0]] = _finish(symbols[0], loaded[""])
            else:
                for sym, d in loaded.items():
                    if sym.upper() in symbols or not symbols:
                        series[sym.upper()] = _finish(sym.upper(), d)
                if not series:
                    raise DataError(
                        "no requested symbol in the bar file",
                        file=str(data),
                        field="symbols",
                        value=",".join(symbols),
                        accepted=", ".join(sorted(loaded)),
                    )
            grid = np.unique(np.concatenate([s.t for s in series.values()]))
            tf = _infer_tf(next(iter(series.values())).t)
        else:
            try:
                start = date.fromisoformat(synthetic_start)
            except ValueError:
                raise DataError("bad date", field="synthetic_start", value=synthetic_start,
                                accepted="YYYY-MM-DD") from None
            tf = MINUTE_NS
            grid = rth_grid(start, synthetic_days, tf)
        for sym in [*symbols, FAKEPACA]:
            if sym not in series:
                series[sym] = synthetic(sym, grid, seed)
        return cls(series, tf)

    # replay cursor

    def __len__(self) -> int:
        return len(self.times)

    @property
    def done(self) -> bool:
        return self.pos >= len(self.times)

    def next_start(self) -> int | None:
        return int(self.times[self.pos]) if self.pos < len(self.times) else None

    def current_start(self) -> int | None:
        return int(self.times[self.pos - 1]) if self.pos > 0 else None

    def advance(self) -> tuple[int, list[tuple[Series, int]]]:
        """Play the next timeline instant: returns its start and the (series, index) made current."""
        ts = int(self.times[self.pos])
        self.pos += 1
        out = []
        for s in self._by_time:
            p = s.ptr
            if p < len(s.t) and s.t[p] == ts:
                s.ptr = p + 1
                out.append((s, p))
        return ts, out

    def seek(self, pos: int) -> None:
        """Jump the cursor without playing (state restore)."""
        pos = max(0, min(pos, len(self.times)))
        self.pos = pos
        for s in self.series.values():
            if pos == 0:
                s.ptr = 0
            else:
                s.ptr = int(np.searchsorted(s.t, self.times[pos - 1], side="right"))

    def index_of(self, start: int | str | None) -> int:
        """A start spec (bar count, or an ISO time: bars before it are played) to a timeline position."""
        if start is None:
            return 0
        if isinstance(start, int):
            return max(0, min(start, len(self.times)))
        text = str(start).strip()
        if text.lstrip("-").isdigit():
            return self.index_of(int(text))
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise DataError("bad start", field="start", value=text,
                            accepted="a bar count or an ISO date/time") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=NY)  # a naive start is New York wall time
        ns = int(dt.timestamp()) * NS
        return int(np.searchsorted(self.times, ns, side="left"))

    def price(self, symbol: str) -> float | None:
        s = self.series.get(symbol)
        if s is None or s.ptr == 0:
            return None
        return float(s.c[s.ptr - 1])
