"""Two-stage research speed: generate and store the signals of a grid, then replay stored variants.

    python benchmarks/bench_research.py [--variants 1000] [--bars 100000] [--workers 2]
                                        [--replay-variants 1000] [--repeat 1]

Bars: the real SPY 1-minute bars of ../shared/data (102,236 of them), or the deterministic
synthetic minute bars of ../shared/bench/peerbench.py when that folder is absent. The grid is
bollinger_bands with period 10..59 x std_dev 1.0..2.9 (1,000 variants), intraday.

- signals: `admf.signals` of every variant into a new store (timed: the whole call, data
  loading included); the store's size on disk.
- replay: `--replay-variants` of the stored variants through the compiled runner (the portfolio
  kernel on the stored signals, no features; `--workers` processes), timed from the stored
  signals to the results table (replay configs, store reads, kernel, metrics); beside it the
  event-engine replay of `--event-variants` of them, scaled to 1,000.

Targets (issue 10): signals <= 30 s and <= 50 MB; replay of 1,000 variants <= 10 s. Prints
one JSON line; best of `--repeat` runs (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared"


def _bars_file(tmp: Path, n: int) -> tuple[Path, str]:
    real = Path(os.environ.get("ADMF_SHARED_DATA", SHARED / "data")) / "SPY_1m.parquet"
    if real.is_file():
        return real.parent, "SPY_1m (real)"
    sys.path.insert(0, str(SHARED / "bench"))
    import pandas as pd
    import peerbench as pb

    a = pb.gen_ohlcv_arrays(n)
    df = pd.DataFrame({k: a[k] for k in ("open", "high", "low", "close", "volume")},
                      index=pd.DatetimeIndex(a["ts"].astype("datetime64[ns]"), tz="UTC", name="timestamp"))
    df.to_parquet(tmp / "SPY_1m.parquet")
    return tmp, "synthetic (peerbench)"


def _grid(data_dir: Path, variants: int) -> dict:
    periods = list(range(10, 60))
    n_std = max(1, variants // len(periods))
    stds = [round(1.0 + 0.1 * i, 1) for i in range(n_std)]
    return {"name": "bench_research", "data": "SPY_1m", "data_dir": str(data_dir),
            "strategy": [{"bollinger_bands": {"period": periods, "std_dev": stds}, "constraints": "intraday"}],
            "portfolio": {"initial_capital": 100_000}}


def _size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", type=int, default=1000)
    ap.add_argument("--bars", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--replay-variants", type=int, default=1000)
    ap.add_argument("--event-variants", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from admf.config.loader import config_from_dict, expand
    from admf.research.compiled_runs import compiled_runner
    from admf.research.replay import replay_config
    from admf.research.search import Combo
    from admf.research.signal_gen import signals
    from admf.research.signal_store import SignalStore
    from admf.runtime.backtest import load_timeline, run_variant

    with tempfile.TemporaryDirectory(prefix="admf-bench-research-") as tmp_s:
        tmp = Path(tmp_s)
        data_dir, source = _bars_file(tmp, args.bars)
        cfg = config_from_dict(_grid(data_dir, args.variants))
        best_sig, size, rows, n_var = float("inf"), 0.0, 0, 0
        for k in range(args.repeat):
            store = tmp / f"store{k}"
            t0 = time.perf_counter()
            res = signals(cfg, store=store, bars=args.bars, workers=args.workers)
            best_sig = min(best_sig, time.perf_counter() - t0)
            size, rows, n_var = _size_mb(store), int(res.variants["signal_count"].sum()), len(res.variants)
        st = SignalStore(tmp / "store0")
        tl = load_timeline(cfg, bars=args.bars)
        variants = expand(cfg)[: args.replay_variants]
        best_rep = float("inf")
        trades = 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            combos = [Combo(v.label, replay_config(v.config, tl, st), {}) for v in variants]
            table = compiled_runner(combos, tl, workers=args.workers)
            trades = int(table["trade_count"].sum())
            best_rep = min(best_rep, time.perf_counter() - t0)
        ev = variants[: args.event_variants]
        t0 = time.perf_counter()
        ev_trades = [int(run_variant(replay_config(v.config, tl, st), tl).metrics["trade_count"]) for v in ev]
        event_s = time.perf_counter() - t0
        assert ev_trades == table["trade_count"].head(len(ev)).astype(int).tolist()  # same trades, both engines
    per_1000 = best_rep * 1000 / len(variants)
    out = {
        "bench": "research", "python": platform.python_version(), "cores": os.cpu_count(), "data": source,
        "bars": len(tl), "variants": n_var, "workers": args.workers,
        "signals_s": round(best_sig, 2), "signals_target_s": 30, "store_mb": round(size, 2), "store_target_mb": 50,
        "signal_rows": rows, "replay_variants": len(variants), "replay_s": round(best_rep, 2),
        "replay_trades": trades, "replay_s_per_1000": round(per_1000, 1), "replay_target_s": 10,
        "replay_bars_per_s": round(len(tl) * len(variants) / best_rep),
        "replay_engine": "compiled", "event_replay_s_per_1000": round(event_s * 1000 / max(1, len(ev)), 1),
        "repeat": args.repeat,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
