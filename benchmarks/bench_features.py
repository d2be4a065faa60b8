"""Updates per second of every registered indicator over synthetic bars; prints one JSON line.

Each indicator (default parameters) is fed the same bars through its bound ``update`` in
a plain loop, the way the engine's hot loop calls it. ``loop_overhead_ns`` is the same
loop calling a no-op function; ``net_ns`` subtracts it.

    python benchmarks/bench_features.py [--bars N] [--only sma,bollinger]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from admf.features import indicator_names, make_indicator


def synthetic_bars(n: int, seed: int = 7) -> tuple[list, ...]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.0008, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.integers(100, 10_000, n).astype(float)
    ts = 1_700_000_000_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000
    return tuple(a.tolist() for a in (ts, open_, high, low, close, volume))


def time_loop(fn, bars: tuple[list, ...]) -> float:
    ts, o, h, l, c, v = bars
    t0 = time.perf_counter()
    for args in zip(ts, o, h, l, c, v, strict=True):
        fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--only", default="", help="comma-separated indicator names")
    args = ap.parse_args()
    bars = synthetic_bars(args.bars)
    names = [n for n in args.only.split(",") if n] or indicator_names()

    def noop(ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        pass

    overhead = min(time_loop(noop, bars) for _ in range(2))
    result: dict[str, dict[str, float]] = {}
    for name in names:
        ind = make_indicator(name)
        dt = time_loop(ind.update, bars)
        result[name] = {
            "updates_per_s": round(args.bars / dt),
            "ns_per_update": round(dt / args.bars * 1e9, 1),
            "net_ns": round((dt - overhead) / args.bars * 1e9, 1),
        }
    print(
        json.dumps(
            {
                "benchmark": "features",
                "bars": args.bars,
                "python": platform.python_version(),
                "loop_overhead_ns": round(overhead / args.bars * 1e9, 1),
                "indicators": result,
            }
        )
    )


if __name__ == "__main__":
    main()
