"""Walk-forward analysis: choose on each train window, trade the following test window, stitch.

Windows are in calendar days on New York session dates: a bar belongs to the New York date
its start falls on, a window [a, b) holds the bars of dates a <= d < b, and the first window
starts on the first bar's date. Train windows slide by `step` (default: the test length), or
all start at the first date (`anchored`). `split=0.7` is the one-window case: the first 70%
of the session dates train, the rest test.

On each train window the grid (or a random or Optuna search of it) is run on the train bars
only, and the best combination by the objective (with at least `min_trades` trades) is kept;
nothing after the train window is read for the choice. The chosen combination then trades
the test window with its features warmed up on the train bars: its signals are computed over
train and test bars together and replayed from the first test bar, starting flat (a signal
already on when the test window opens is not chased; the first change inside it trades).
Out-of-sample equity is stitched by compounding each test window's return.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from admf.analytics.metrics import METRIC_KEYS, compute_metrics, metrics_to_json
from admf.config.schema import Config
from admf.core import calendar
from admf.core.errors import UserError
from admf.core.units import NY_TZ_NAME
from admf.data.timeline import Timeline
from admf.research.replay import replay_config
from admf.research.search import (
    Combo,
    SweepRunner,
    auto_runner,
    best_row,
    check_objective,
    grid_combos,
    publish_run,
    search,
    write_results,
)
from admf.research.signal_gen import generate_batch, wanted_variants
from admf.research.signal_store import SignalStore, StoredSignals, bars_fingerprint, variant_key
from admf.runtime.backtest import BacktestResult, _as_config, choose_engine, load_timeline, run_engine
from admf.runtime.rundir import RunWriter

NS_DAY = 86_400_000_000_000
_SPAN = re.compile(r"^\s*(\d+)\s*([dw])\s*$")


def parse_span(text: str | int, field: str) -> int:
    """`60d` or `8w` as a number of calendar days."""
    m = _SPAN.match(str(text))
    if not m or int(m.group(1)) < 1:
        raise UserError("not a window length", field=field, value=text,
                        accepted="a positive number of days or weeks: 60d, 8w")
    return int(m.group(1)) * (7 if m.group(2) == "w" else 1)


@dataclass(frozen=True)
class Window:
    """Dates are New York day numbers (days since 1970-01-01); each range is [start, end)."""

    n: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


def day_start(day: int) -> pd.Timestamp:
    """00:00 New York of a day number, as a UTC time."""
    return pd.Timestamp(day * NS_DAY).tz_localize(NY_TZ_NAME).tz_convert("UTC")


def make_windows(days: np.ndarray, *, train: int | None = None, test: int | None = None, step: int | None = None,
                 anchored: bool = False, split: float | None = None) -> list[Window]:
    """The windows over bars whose New York day numbers are `days` (sorted)."""
    if not len(days):
        raise UserError("no bars to walk forward over", field="data")
    first, last = int(days[0]), int(days[-1])
    if split is not None:
        if not 0.0 < split < 1.0:
            raise UserError("split must be a fraction between 0 and 1", field="--split", value=split,
                            accepted="e.g. 0.7: the first 70% of the sessions train, the rest test")
        dates = np.unique(days)
        cut = int(len(dates) * split)
        if cut < 1 or cut >= len(dates):
            raise UserError("split leaves an empty train or test window", field="--split", value=split,
                            accepted=f"a fraction that splits the {len(dates)} session dates")
        return [Window(0, first, int(dates[cut]), int(dates[cut]), last + 1)]
    assert train is not None and test is not None
    step = test if step is None else step
    if step < test:
        raise UserError("step shorter than the test window: test windows would overlap", field="--step",
                        value=f"{step}d", accepted=f"at least the test length ({test}d)")
    if first + train > last:
        raise UserError("train window longer than the data", field="--train", value=f"{train}d",
                        accepted=f"less than the {last - first + 1} days the data covers")
    out = []
    k = 0
    while True:
        ts0 = first if anchored else first + k * step
        te = first + train + k * step
        if te > last:
            break
        out.append(Window(k, ts0, te, te, min(te + test, last + 1)))
        k += 1
    return out


def slice_timeline(tl: Timeline, a: int, b: int) -> Timeline:
    """Rows a <= i < b of a timeline (each symbol's rows renumbered)."""
    rows = [r[(r >= a) & (r < b)] - a for r in tl.rows]
    s = slice(a, b)
    return Timeline(tl.ts[s], tl.sym[s], tl.open[s], tl.high[s], tl.low[s], tl.close[s], tl.volume[s],
                    tl.symbols, tl.timeframe, rows)


def _test_signals(cfg: Config, tl_all: Timeline, tl_test: Timeline, first_test_row: int,
                  store: SignalStore) -> None:
    """Signals of the config's entries over train + test bars, from the first test bar, into `store`."""
    from admf.research.compiled import unsupported
    from admf.research.compiled_runs import compiled_source

    wanted = wanted_variants(cfg, tl_all)
    source = generate_batch if unsupported(cfg) else compiled_source
    for w, sig in zip(wanted, source(cfg, tl_all, wanted), strict=True):
        skip = int(np.count_nonzero(tl_all.rows[w.sym] < first_test_row))
        keep = sig.bar >= skip
        k = w.sym
        h = variant_key(w.entry, tl_test.symbols[k], tl_test.timeframe, bars_fingerprint(tl_test, k),
                        file=cfg.source).hash
        store.write(h, StoredSignals(bar=sig.bar[keep] - skip, ts=sig.ts[keep], value=sig.value[keep],
                                     price=sig.price[keep]))


@dataclass
class WalkForwardResult:
    windows: pd.DataFrame
    trades: pd.DataFrame
    equity: pd.Series
    metrics: dict[str, Any]
    results: list[pd.DataFrame] = field(default_factory=list)  # each train window's results table
    run_dir: Path | None = None
    elapsed_s: float = 0.0


def walkforward(config: str | Path | dict | Config, *, train: str | int = "60d", test: str | int = "20d",
                step: str | int | None = None, anchored: bool = False, split: float | None = None,
                objective: str = "sharpe", min_trades: int = 0, method: str = "grid", trials: int | None = None,
                seed: int = 0, out: str | Path | None = None, runner: SweepRunner = auto_runner,
                start: str | None = None, end: str | None = None, symbols: list[str] | None = None,
                bars: int | None = None, report: bool = True) -> WalkForwardResult:
    """Python API of `admf walkforward`; writes a run directory when `out` is given."""
    t0 = time.perf_counter()
    check_objective(objective)
    if min_trades < 0:
        raise UserError("must not be negative", field="--min-trades", value=min_trades)
    cfg = _as_config(config)
    tl = load_timeline(cfg, start=start, end=end, symbols=symbols, bars=bars)
    days = calendar.ny_days(tl.ts)
    if split is not None:
        windows = make_windows(days, split=split)
    else:
        windows = make_windows(days, train=parse_span(train, "--train"), test=parse_span(test, "--test"),
                               step=parse_span(step, "--step") if step is not None else None, anchored=anchored)
    combos = grid_combos(cfg)
    import tempfile

    capital = cfg.portfolio.initial_capital
    rows, trades, curves, tables = [], [], [], []
    growth = 1.0
    with tempfile.TemporaryDirectory(prefix="admf-wf-") as tmp:
        store = SignalStore(Path(tmp) / "signals", create=True)
        for w in windows:
            a, b = np.searchsorted(days, [w.train_start, w.train_end])
            c = np.searchsorted(days, w.test_end)
            table = search(cfg, slice_timeline(tl, int(a), int(b)), method=method, trials=trials, seed=seed,
                           objective=objective, min_trades=min_trades, runner=runner, combos=combos)
            tables.append(table)
            best = best_row(table, objective, min_trades)
            row: dict[str, Any] = {"window": w.n, "train_start": day_start(w.train_start),
                                   "train_end": day_start(w.train_end), "test_start": day_start(w.test_start),
                                   "test_end": day_start(w.test_end), "train_bars": int(b - a),
                                   "test_bars": int(c - b)}
            chosen = None if best is None else next(x for x in combos if x.label == best["label"])
            for name in (combos[0].params if combos else {}):
                row[name] = None if chosen is None else chosen.params[name]
            row["label"] = "" if chosen is None else chosen.label
            for key in METRIC_KEYS:
                row[f"is_{key}"] = None if best is None else best.get(key)
            oos = _run_test(chosen, tl, int(a), int(b), int(c), store) if chosen is not None and c > b else None
            if oos is not None:
                for key in METRIC_KEYS:
                    row[f"oos_{key}"] = oos.metrics.get(key)
                t = oos.trades.copy()
                t.insert(0, "window", w.n)
                trades.append(t)
                eq = oos.equity.to_numpy(dtype=float) / capital
                curves.append(pd.Series(growth * eq * capital, index=oos.equity.index))
                growth *= float(eq[-1])
            else:
                for key in METRIC_KEYS:
                    row[f"oos_{key}"] = None
            rows.append(row)
    windows_df = pd.DataFrame(rows)
    trades_df = pd.concat(trades, ignore_index=True) if trades else pd.DataFrame(columns=["window"])
    equity = pd.concat(curves) if curves else pd.Series([], dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    equity.name = "equity"
    metrics = compute_metrics(equity, trades_df if trades else None, initial_capital=capital) if len(equity) else {}
    result = WalkForwardResult(windows_df, trades_df, equity, metrics, tables, elapsed_s=time.perf_counter() - t0)
    if out is not None:
        result.run_dir = _write(result, cfg, out, objective, report)
    return result


def _run_test(combo: Combo, tl: Timeline, a: int, b: int, c: int, store: SignalStore) -> BacktestResult:
    tl_all, tl_test = slice_timeline(tl, a, c), slice_timeline(tl, b, c)
    _test_signals(combo.config, tl_all, tl_test, b - a, store)
    rc = replay_config(combo.config, tl_test, store)
    return run_engine(rc, tl_test, choose_engine(rc, "auto"), label=combo.label)


def _write(res: WalkForwardResult, cfg: Config, out: str | Path, objective: str, report: bool) -> Path:
    def fill(w: RunWriter) -> None:
        w.frame("windows.csv", res.windows)
        w.frame("trades.csv", res.trades)
        w.frame("equity.parquet", res.equity)
        w.text("metrics.json", metrics_to_json(res.metrics))
        for i, t in enumerate(res.results):
            write_results(w.path(f"windows/{i:03d}/results.parquet"), t)
        if report:
            from admf.research.sweep_report import write_walkforward_report

            write_walkforward_report(w.path("report.html"), res, name=cfg.name, objective=objective)

    return publish_run(out, f"{cfg.name}-wf", cfg, fill)


__all__ = ["Window", "WalkForwardResult", "make_windows", "parse_span", "slice_timeline", "walkforward"]
