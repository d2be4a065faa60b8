"""Data layer speed on 1,000,000 synthetic minute bars: load (CSV, Parquet, CSV.gz), resample, merge.

    python benchmarks/bench_data.py [--bars N]

Prints one JSON line; load times are the best of three and include validation.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bars", type=int, default=1_000_000)
    args = ap.parse_args()
    sys.path.insert(0, str(BENCH))
    from peerbench import gen_ohlcv_arrays

    from admf.data import BarFrame, load_bars, merge, resample, save_bars

    a = gen_ohlcv_arrays(args.bars)
    f = BarFrame(a["ts"], a["open"], a["high"], a["low"], a["close"], a["volume"], "SYN", "1m")
    out: dict[str, float | int] = {"bars": args.bars}
    with tempfile.TemporaryDirectory() as tmp:
        for suf in (".csv", ".parquet", ".csv.gz"):
            p = save_bars(f, Path(tmp) / f"SYN_1m{suf}")
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                g = load_bars(p)
                best = min(best, time.perf_counter() - t)
            if not (np.array_equal(g.close, f.close) and np.array_equal(g.ts, f.ts)):
                raise SystemExit(f"round trip through {suf} changed the bars")
            out[f"load{suf}_s"] = round(best, 3)
            out[f"size{suf}_mb"] = round(p.stat().st_size / 1e6, 1)
    for tf in ("5m", "1d"):
        t = time.perf_counter()
        resample(f, tf)
        out[f"resample_1m_{tf}_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    merge([f, f.replace(symbol="SYN2")])
    out["merge_2x_s"] = round(time.perf_counter() - t, 3)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
