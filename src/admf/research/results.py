"""Streaming a sweep's rows to disk.

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

import pandas as pd

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


__all__ = ["ResultWriter", "read_results"]
