"""Streaming a sweep's rows to disk and computing one combination's row.

`results.parquet` is a folder of Parquet parts (pandas and pyarrow read it as one table:
`pd.read_parquet(".../results.parquet")`). Each part is written to a temporary name and
renamed, so a sweep killed at any moment leaves only whole parts, and `--resume` reads the
keys already there.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from admf.research import kernel as K
from admf.research.compiled import BookRun, MarketData

FLUSH_ROWS = 2_000
FLUSH_SECONDS = 1.0


class ResultWriter:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._rows: list[dict[str, Any]] = []
        self._last = time.monotonic()
        self._seq = len(list(folder.glob("part-*.parquet")))

    def add(self, rows: list[dict[str, Any]]) -> None:
        self._rows.extend(rows)
        if len(self._rows) >= FLUSH_ROWS or time.monotonic() - self._last >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self._last = time.monotonic()
        if not self._rows:
            return
        df = pd.DataFrame(self._rows)
        self._rows = []
        while (self.folder / f"part-{self._seq:06d}.parquet").exists():
            self._seq += 1
        final = self.folder / f"part-{self._seq:06d}.parquet"
        tmp = self.folder / f".part-{self._seq:06d}.tmp"
        df.to_parquet(tmp, index=False)
        os.replace(tmp, final)
        self._seq += 1


def read_results(folder: Path, columns: list[str] | None = None) -> pd.DataFrame:
    parts = sorted(folder.glob("part-*.parquet")) if folder.exists() else []
    if not parts:
        return pd.DataFrame(columns=columns or [])
    return pd.concat([pd.read_parquet(p, columns=columns) for p in parts], ignore_index=True)


def equity_of_runs(runs: list[BookRun], md: MarketData) -> np.ndarray:
    """The account's equity at every row, as Portfolio.equity_curve computes each book's."""
    from admf.portfolio.portfolio import _last_close

    tl = md.tl
    n = len(tl)
    sym = tl.sym if len(tl.symbols) > 1 else None
    total = np.zeros(n)
    for run in runs:
        o = run.orders
        filled = np.flatnonzero(o[:, K.O_STATUS] == K.FILLED)
        order = filled[np.lexsort((filled, o[filled, K.O_FILL_ROW]))]
        cash = np.full(n, run.capital)
        equity = np.zeros(n)
        if len(order):
            bars = o[order, K.O_FILL_ROW].astype(np.int64)
            dq = o[order, K.O_QTY]
            dcash = -(dq * o[order, K.O_PRICE]) - o[order, K.O_FEE]
            delta = np.zeros(n)
            np.add.at(delta, bars, dcash)
            cash += np.cumsum(delta)
            fill_sym = o[order, K.O_SYM].astype(np.int64)
            for k in range(len(tl.symbols)):
                mask = fill_sym == k
                if not mask.any():
                    continue
                pos_delta = np.zeros(n)
                np.add.at(pos_delta, bars[mask], dq[mask])
                equity += np.cumsum(pos_delta) * np.nan_to_num(_last_close(sym, tl.close, k))
        total += cash + equity
    return total


def metrics_of_runs(runs: list[BookRun], md: MarketData, index: pd.DatetimeIndex, ppy: float | None,
                    capital: float) -> dict[str, Any]:
    """The metrics of the whole account (compute_metrics, as a backtest's metrics.json)."""
    from admf.analytics.metrics import compute_metrics

    eq = equity_of_runs(runs, md)
    ts = md.tl.ts
    tr = [r.trades for r in runs if len(r.trades)]
    t = np.concatenate(tr) if tr else np.empty((0, 12))
    trades = pd.DataFrame({
        "pnl": t[:, K.T_PNL], "qty": t[:, K.T_QTY], "entry_price": t[:, K.T_ENTRY_PRICE],
        # int64 nanoseconds: compute_metrics takes them as they are
        "entry_time": ts[t[:, K.T_ENTRY_ROW].astype(np.int64)], "exit_time": ts[t[:, K.T_EXIT_ROW].astype(np.int64)],
    })
    return compute_metrics(pd.Series(eq, index=index), trades, initial_capital=capital, periods_per_year=ppy)


__all__ = ["ResultWriter", "equity_of_runs", "metrics_of_runs", "read_results"]
