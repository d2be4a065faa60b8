"""Compiled engine and sweeps against vectorbt (Rust engine) and backtesting.py, same bars, same run.

    python benchmarks/bench_sweep.py [--repeat 5] [--skip-big] [--skip-peers]

Peers come from the optional `bench` extra (`pip install "admf[bench]"`); a
missing peer is reported as null. On the deterministic bars of ../shared/bench/peerbench.py:

- single: bollinger_bands(20, 2) long-only, 100 shares, fill at the close, 1,000,000 bars.
  Timed for admf: features, signals and the portfolio kernel from a cold feature cache (the
  run's fills, trades and final equity); for vectorbt: BBANDS, the two signal arrays,
  Portfolio.from_signals and the final value. Best of --repeat, the two timed alternately.
- sweep27: BB period 10..50 step 5 x k {1.5, 2, 2.5} on 100,000 bars, fill at the close; every
  combination's trade count and final equity checked against peerbench's exact reference.
  admf_kernel_s: the 27 combinations through the compiled engine (features shared);
  admf_sweep_s: the whole admf.sweep() call (every metric per row, results.parquet, top 10
  re-run in full). backtesting.py's optimize() runs beside it (a subprocess, one run).
- big: 1,000 combinations (period 10..49 x std_dev 1.0..3.4 step 0.1) on 1,000,000 bars with
  admf.sweep(workers=2), in a fresh process: wall time and peak RSS (VmHWM) of that process (the
  bars are written to Parquet beforehand by another process) and of its largest worker.
- compile_cold_s: first compiled backtest in a fresh process with an empty numba cache, minus
  the same backtest run again in that process.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# peerbench: ../shared/bench beside the repo, or beside $ADMF_SHARED_DATA (a worktree elsewhere)
BENCH = Path(os.environ.get("ADMF_SHARED_BENCH", REPO / ".." / "shared" / "bench"))
if not BENCH.is_dir() and os.environ.get("ADMF_SHARED_DATA"):
    BENCH = Path(os.environ["ADMF_SHARED_DATA"]).parent / "bench"


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _timeline(a: dict[str, np.ndarray]) -> Any:
    from admf.data.frame import BarFrame
    from admf.data.timeline import merge

    return merge([BarFrame(a["ts"], a["open"], a["high"], a["low"], a["close"], a["volume"], "SYN", "1m")])


def _config(entry: dict[str, Any], fill: str = "close", **kw: Any) -> Any:
    from admf.config.loader import config_from_dict

    return config_from_dict({"name": "bench", "data": "SYN_1m", **kw,
                             "strategy": [{**entry, "direction": "long",
                                           "sizing": {"type": "fixed_shares", "shares": 100}}],
                             "portfolio": {"initial_capital": 1_000_000.0}, "execution": {"fill": fill}})


def _admf_once(cfg: Any, tl: Any) -> tuple[int, float]:
    from admf.research.compiled import MarketData, run_books

    (run,) = run_books(cfg, MarketData(tl))
    o = run.orders
    n_entries = int(np.count_nonzero(o[:, 2] > 0))
    return n_entries, run.cash + float(run.positions[0]) * float(tl.close[-1])


def _vbt() -> Any:
    try:
        import vectorbt as vbt

        vbt.settings["engine"] = "rust"
        return vbt
    except ImportError:
        return None


def bench_single(pb: Any, repeat: int) -> dict[str, Any]:
    """admf and vectorbt timed alternately, best of `repeat` each: on a shared machine a burst of
    load then slows both, not only the one that happened to run during it."""
    a = pb.gen_ohlcv_arrays(1_000_000)
    tl = _timeline(a)
    cfg = _config({"bollinger_bands": {"period": 20, "std_dev": 2.0}})
    runs: dict[str, Any] = {"admf": lambda: _admf_once(cfg, tl)}
    vbt = _vbt()
    if vbt is not None:
        import pandas as pd

        close = pd.Series(a["close"], index=pd.DatetimeIndex(a["ts"].astype("datetime64[ns]")))

        def run() -> tuple[int, float]:
            bb = vbt.BBANDS.run(close, window=20, alpha=2.0)
            pf = vbt.Portfolio.from_signals(close, close < bb.lower, close > bb.middle, size=100,
                                            init_cash=1_000_000.0, direction="longonly")
            return int(pf.entry_trades.count()), float(pf.final_value())

        runs["vectorbt"] = run
    got = {name: fn() for name, fn in runs.items()}  # compile (or load the cache), warm up
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, fn in runs.items():
            best[name] = min(best[name], _best(fn, 1)[0])
    s, (n, eq) = best["admf"], got["admf"]
    rn, req, _, _ = pb.reference(a, "bb", "close")
    out: dict[str, Any] = {"bars": 1_000_000, "admf_s": round(s, 4), "admf_bars_per_s": round(1e6 / s),
                           "admf_n_trades": n, "admf_match": n == rn and abs(eq - req) < 0.01, "ref_n_trades": rn}
    if vbt is not None:
        vs, (vn, veq) = best["vectorbt"], got["vectorbt"]
        out.update({"vectorbt_s": round(vs, 4), "vectorbt_bars_per_s": round(1e6 / vs), "vectorbt_n_trades": vn,
                    "vectorbt_match": vn == rn and abs(veq - req) < 0.01, "speedup_vs_vectorbt": round(vs / s, 2),
                    "vectorbt_version": vbt.__version__})
    return out


def bench_sweep27(pb: Any, repeat: int) -> dict[str, Any]:
    import admf
    from admf.research.compiled import MarketData, run_books
    from admf.research.grid import GridPlan

    a = pb.gen_ohlcv_arrays(100_000)
    tl = _timeline(a)
    cfg = _config({"bollinger_bands": {"period": pb.SWEEP_PERIODS, "std_dev": pb.SWEEP_KS}})
    plan = GridPlan(cfg)
    configs = [(c.params[0], plan.config_of(c)) for c in plan]
    ref = pb.sweep_reference(a, "close")

    def kernel() -> dict[tuple[int, float], tuple[int, float]]:
        md = MarketData(tl)
        got = {}
        for p, c in configs:
            (run,) = run_books(c, md)
            got[(p["period"], p["std_dev"])] = (int(np.count_nonzero(run.orders[:, 2] > 0)),
                                               run.cash + float(run.positions[0]) * float(tl.close[-1]))
        return got

    kernel()
    ks, got = _best(kernel, repeat)
    ok = sum(1 for key, (n, eq) in got.items() if ref[key][0] == n and abs(ref[key][1] - eq) < 0.01)
    out: dict[str, Any] = {"bars": 100_000, "combos": len(got), "admf_kernel_s": round(ks, 4),
                           "admf_combos_matching_reference": ok}
    with tempfile.TemporaryDirectory() as tmp:
        pq = Path(tmp) / "SYN_1m.parquet"
        pb.gen_ohlcv_df(100_000, capitalized=False).to_parquet(pq)
        raw = {"name": "b27", "data": "SYN_1m", "data_dir": tmp,
               "strategy": [{"bollinger_bands": {"period": pb.SWEEP_PERIODS, "std_dev": pb.SWEEP_KS},
                             "direction": "long", "sizing": {"type": "fixed_shares", "shares": 100}}],
               "portfolio": {"initial_capital": 1_000_000.0}, "execution": {"fill": "close"}}
        ss, r = _best(lambda: admf.sweep(raw, workers=1, out=Path(tmp) / "runs"), max(1, repeat // 2))
        out["admf_sweep_s"] = round(ss, 4)
        out["admf_sweep_rows"] = len(r.table)
    vbt = _vbt()
    if vbt is not None:
        import pandas as pd

        close = pd.Series(a["close"], index=pd.DatetimeIndex(a["ts"].astype("datetime64[ns]")))

        def run() -> Any:
            bb = vbt.BBANDS.run(close, window=pb.SWEEP_PERIODS, alpha=pb.SWEEP_KS, param_product=True)
            entries = bb.close_below(bb.lower)
            exits = bb.close_above(bb.middle)
            return vbt.Portfolio.from_signals(close, entries, exits, size=100, init_cash=1_000_000.0,
                                              direction="longonly")

        run()
        vs, pf = _best(run, repeat)
        fv = pf.final_value()
        nt = pf.entry_trades.count()
        vok = 0
        for (w, k), eq in fv.items():
            n, req = ref[(int(w), float(k))]
            vok += int(nt[(w, k)] == n and abs(eq - req) < 0.01)
        out.update({"vectorbt_s": round(vs, 4), "vectorbt_combos_matching_reference": vok,
                    "kernel_time_vs_vectorbt": round(ks / vs, 3)})
    script = BENCH / "bench_backtesting.py"
    if script.exists():
        try:
            res = subprocess.run([sys.executable, str(script), "--bars", "100000", "--sweep", "--workers", "2",
                                  "--fill", "close"], capture_output=True, text=True, timeout=600)
            line = json.loads(res.stdout.strip().splitlines()[-1])
            out.update({"backtesting_py_s": line.get("run_s"),
                        "backtesting_py_combos_matching_reference": line.get("combos_matching_reference")})
        except (subprocess.SubprocessError, ValueError, IndexError):
            out["backtesting_py_s"] = None
    return out


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM where /proc has it (ru_maxrss survives exec on Linux, so a
    child started by a large parent would report the parent's peak), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gen_big_bars(folder: Path) -> None:
    """peerbench's 1,000,000 bars as SYN_1m.parquet, written by a child process (its peak is not ours)."""
    gen = (f"import sys; sys.path.insert(0, {str(BENCH)!r}); import peerbench as pb; "
           f"pb.gen_ohlcv_df(1_000_000, capitalized=False).to_parquet({str(folder / 'SYN_1m.parquet')!r})")
    subprocess.run([sys.executable, "-c", gen], check=True, timeout=600)


def bench_big(pb: Any, data_dir: Path | None = None) -> dict[str, Any]:
    """The 1,000 x 1,000,000 sweep on 2 workers. With `data_dir` (main passes it) the bars were
    written beforehand, so this process's only children are the sweep's workers."""
    import admf

    with tempfile.TemporaryDirectory() as tmp:
        if data_dir is None:
            gen_big_bars(Path(tmp))
        raw = {"name": "big", "data": "SYN_1m", "data_dir": str(data_dir or tmp),
               "strategy": [{"bollinger_bands": {"period": "range(10, 49, 1)", "std_dev": "range(1.0, 3.4, 0.1)"},
                             "direction": "long", "sizing": {"type": "fixed_shares", "shares": 100}}],
               "portfolio": {"initial_capital": 1_000_000.0}, "execution": {"fill": "close"}}
        before = _peak_rss_mb()
        t0 = time.perf_counter()
        r = admf.sweep(raw, workers=2, out=Path(tmp) / "runs")
        s = time.perf_counter() - t0
    return {"bars": 1_000_000, "combos": len(r.table), "workers": 2, "run_s": round(s, 2),
            "combos_per_s": round(len(r.table) / s, 1),
            "parent_peak_rss_mb": round(_peak_rss_mb(), 1),
            "parent_rss_before_mb": round(before, 1),
            "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}


_COLD = """
import time, sys
t0 = time.perf_counter()
sys.path.insert(0, {bench!r})
import peerbench as pb
sys.path.insert(0, {here!r})
import bench_sweep as b
import admf.research.compiled  # imports (numba, admf) are not compile time
a = pb.gen_ohlcv_arrays(20_000)
tl = b._timeline(a)
cfg = b._config({{"bollinger_bands": {{"period": 20, "std_dev": 2.0}}}})
t1 = time.perf_counter(); b._admf_once(cfg, tl); first = time.perf_counter() - t1
t2 = time.perf_counter(); b._admf_once(cfg, tl); second = time.perf_counter() - t2
print(first - second)
"""


def bench_cold_compile() -> float | None:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(REPO / "src")}
        code = _COLD.format(bench=str(BENCH), here=str(Path(__file__).resolve().parent))
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
        try:
            return round(float(res.stdout.strip().splitlines()[-1]), 2)
        except (ValueError, IndexError):
            return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="best of N for the timed runs")
    ap.add_argument("--skip-big", action="store_true", help="skip the 1,000 x 1,000,000 sweep")
    ap.add_argument("--skip-cold", action="store_true", help="skip the cold-cache compile measurement")
    ap.add_argument("--bench-dir", default=None, help="folder of peerbench.py (default ../shared/bench)")
    ap.add_argument("--only-big", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    global BENCH
    if args.bench_dir:
        BENCH = Path(args.bench_dir)
    sys.path.insert(0, str(BENCH))
    import peerbench as pb

    if args.only_big:
        print(json.dumps(bench_big(pb, Path(args.data_dir) if args.data_dir else None)))
        return 0
    out: dict[str, Any] = {"framework": "admf", "python": platform.python_version(), "cpus": os.cpu_count(),
                           "single": bench_single(pb, args.repeat), "sweep27": bench_sweep27(pb, args.repeat)}
    if not args.skip_big:  # in a fresh process, so its peak RSS is its own
        with tempfile.TemporaryDirectory() as bars:
            gen_big_bars(Path(bars))
            cmd = [sys.executable, __file__, "--only-big", "--bench-dir", str(BENCH), "--data-dir", bars]
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        ok = res.returncode == 0
        out["big"] = json.loads(res.stdout.strip().splitlines()[-1]) if ok else {"error": res.stderr[-300:]}
    if not args.skip_cold:
        out["compile_cold_s"] = bench_cold_compile()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
