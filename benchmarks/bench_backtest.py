"""Event-driven backtest speed on the shared synthetic minute bars, beside the peer reference.

    python benchmarks/bench_backtest.py --bars 1000000 [--strategy bb|sma] [--fill next_open|close]

Runs bollinger_bands(20, 2.0) long-only, 100 shares, zero costs, through the same engine a
live session uses, on the deterministic bars of ../shared/bench/peerbench.py, checks the
trade count and final equity against that module's exact reference, and prints one JSON line.
Timed region: building the engine and running it (data generation and metrics excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# peerbench: ../shared/bench beside the repo, or beside $ADMF_SHARED_DATA (a worktree elsewhere)
BENCH = Path(os.environ.get("ADMF_SHARED_BENCH", REPO / ".." / "shared" / "bench"))
if not BENCH.is_dir() and os.environ.get("ADMF_SHARED_DATA"):
    BENCH = Path(os.environ["ADMF_SHARED_DATA"]).parent / "bench"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--strategy", choices=["bb", "sma"], default="bb")
    ap.add_argument("--fill", choices=["next_open", "close"], default="next_open")
    ap.add_argument("--no-peer", action="store_true", help="skip running backtesting.py on the same bars")
    args = ap.parse_args()
    sys.path.insert(0, str(BENCH))
    import peerbench as pb

    from admf.config.loader import config_from_dict
    from admf.data.frame import BarFrame
    from admf.data.timeline import merge
    from admf.runtime.backtest import BacktestBuild

    a = pb.gen_ohlcv_arrays(args.bars)
    tl = merge([BarFrame(a["ts"], a["open"], a["high"], a["low"], a["close"], a["volume"], "SYN", "1m")])
    entry = ({"bollinger_bands": {"period": pb.BB_PERIOD, "std_dev": pb.BB_K}} if args.strategy == "bb"
             else {"sma_crossover": {"fast": pb.SMA_FAST, "slow": pb.SMA_SLOW}})
    cfg = config_from_dict({
        "name": "bench", "data": "SYN_1m",
        "strategy": [{**entry, "direction": "long", "sizing": {"type": "fixed_shares", "shares": pb.SIZE}}],
        "portfolio": {"initial_capital": pb.INIT_CASH}, "execution": {"fill": args.fill},
    })
    rss0 = pb.peak_rss_mb()
    t0 = time.perf_counter()
    build = BacktestBuild(cfg, tl)
    build.engine.run()
    run_s = time.perf_counter() - t0
    peak = pb.peak_rss_mb()
    book = next(iter(build.books.values()))
    n_trades = sum(1 for f in book.fills if f.side.value == "buy")
    final = book.cash + book.position("SYN") * float(a["close"][-1])
    rn, req, _, _ = pb.reference(a, args.strategy, args.fill)
    out = {
        "framework": "admf", "python": platform.python_version(), "strategy": args.strategy, "fill": args.fill,
        "bars": args.bars, "run_s": round(run_s, 4), "bars_per_s": round(args.bars / run_s, 1),
        "peak_rss_mb": round(peak, 1),
        "rss_before_run_mb": round(rss0, 1), "n_trades": n_trades, "final_equity": round(final, 4),
        "ref_n_trades": rn, "ref_final_equity": round(req, 4),
        "match": n_trades == rn and abs(final - req) < 0.01,
    }
    if not args.no_peer:
        peer = _peer(args)
        if peer:
            out["peer"] = {k: peer.get(k) for k in ("framework", "version", "bars_per_s", "n_trades", "match")}
            out["speed_ratio_vs_peer"] = round(out["bars_per_s"] / peer["bars_per_s"], 2)
    print(json.dumps(out))
    return 0


def _peer(args: argparse.Namespace) -> dict | None:
    """backtesting.py on the identical bars and rule, in a subprocess of this run."""
    script = BENCH / "bench_backtesting.py"
    if not script.exists():
        return None
    proc = subprocess.run([sys.executable, str(script), "--bars", str(args.bars), "--strategy", args.strategy,
                           "--fill", args.fill], capture_output=True, text=True, cwd=str(BENCH))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if proc.returncode == 0 and lines else None


if __name__ == "__main__":
    raise SystemExit(main())
