"""Optimizers over a config's parameter grid: the whole grid, random search, Optuna's TPE.

Each evaluates combinations through a `SweepRunner` ("run these combinations on these bars
and give me a metrics table") and gives the same results table as a sweep: one row per
combination evaluated, a column per varied parameter, every metric, and `label`. The default
runner, `auto_runner`, follows `engine: auto`: the compiled engine (`compiled_runs.
compiled_runner`, features shared, every core) when every strategy has an array form, the
event engine (`event_runner`, one combination after another) otherwise.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from admf.config.loader import expand
from admf.config.schema import Config
from admf.core.errors import ConfigError, UserError
from admf.data.timeline import Timeline
from admf.runtime.backtest import book_ids, run_variant
from admf.runtime.rundir import RunWriter

OBJECTIVES = ("sharpe", "sortino", "calmar", "total_return", "profit_factor")
METHODS = ("grid", "random", "optuna")


@dataclass(frozen=True)
class Combo:
    """One combination: its label, its concrete config, its varied parameters (table columns)."""

    label: str
    config: Config
    params: dict[str, Any]


class SweepRunner(Protocol):
    def __call__(self, combos: Sequence[Combo], tl: Timeline) -> pd.DataFrame:
        """One row per valid combination, in order: its params, every metric, `label`.

        A combination the strategy refuses (fast >= slow) gives no row.
        """
        ...


def event_runner(combos: Sequence[Combo], tl: Timeline) -> pd.DataFrame:
    """The event engine, one combination after another."""
    rows = []
    for c in combos:
        try:
            r = run_variant(c.config, tl, label=c.label)
        except ConfigError:
            continue  # an invalid combination is skipped, not fatal
        row: dict[str, Any] = {**c.params}
        row.update({str(k): v for k, v in r.metrics.items()})
        row["label"] = c.label
        rows.append(row)
    return pd.DataFrame(rows, columns=results_columns(combos))


def auto_runner(combos: Sequence[Combo], tl: Timeline) -> pd.DataFrame:
    """The compiled runner when every combination's strategies have an array form, else the event one."""
    from admf.research.compiled import unsupported
    from admf.research.compiled_runs import compiled_runner

    if any(unsupported(c.config) for c in combos):
        return event_runner(combos, tl)
    return compiled_runner(combos, tl)


def runner_for(engine: str | None) -> SweepRunner:
    """The runner of `--engine auto|event|compiled` (None: auto)."""
    from admf.research.compiled_runs import compiled_runner

    if engine in (None, "auto"):
        return auto_runner
    if engine == "event":
        return event_runner
    if engine == "compiled":
        return compiled_runner
    raise UserError("unknown engine", field="--engine", value=engine, accepted="auto, event, compiled")


def results_columns(combos: Sequence[Combo]) -> list[str]:
    """The columns of a results table: the varied parameters, every metric, label."""
    from admf.analytics.metrics import METRIC_KEYS

    return [*(combos[0].params if combos else {}), *METRIC_KEYS, "label"]


def grid_combos(cfg: Config) -> list[Combo]:
    """Every combination of the config's grid, with its varied parameters named as in the config.

    A parameter name used by several entries is prefixed by the entry's book (`bb.period`).
    """
    variants = expand(cfg)
    varying = sorted({k for v in variants for k in v.params if len({w.params[k] for w in variants}) > 1},
                     key=lambda k: (int(k.split(".", 1)[0]), k))
    books = book_ids(cfg.strategies)
    names: dict[str, str] = {}
    for k in varying:
        i, p = k.split(".", 1)
        clash = sum(1 for other in varying if other.split(".", 1)[1] == p) > 1
        names[k] = f"{books[int(i)]}.{p}" if clash else p
    return [Combo(v.label, v.config, {names[k]: v.params[k] for k in varying}) for v in variants]


def score(value: Any) -> float:
    """A metric as a number to maximise; missing is -inf."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return -math.inf
    return float(value)


def check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise UserError("unknown objective", field="--objective", value=objective, accepted=", ".join(OBJECTIVES))


def best_row(table: pd.DataFrame, objective: str, min_trades: int = 0) -> dict[str, Any] | None:
    """The row with the highest objective among those with at least `min_trades` trades (first on ties)."""
    if table.empty:
        return None
    ok = table[table["trade_count"].fillna(0) >= min_trades] if "trade_count" in table else table
    if ok.empty:
        return None
    scores = [score(v) for v in ok[objective]]
    i = max(range(len(scores)), key=lambda j: (scores[j], -j))
    if scores[i] == -math.inf:
        return None
    return dict(ok.iloc[i])


def search(cfg: Config, tl: Timeline, *, method: str = "grid", trials: int | None = None, seed: int = 0,
           objective: str = "sharpe", min_trades: int = 0, runner: SweepRunner = auto_runner,
           combos: Sequence[Combo] | None = None) -> pd.DataFrame:
    """Evaluate combinations of the config's grid by `method`; the results table of those evaluated."""
    check_objective(objective)
    combos = list(combos) if combos is not None else grid_combos(cfg)
    if method == "grid":
        return runner(combos, tl)
    if trials is None or trials < 1:
        raise UserError("a search needs a positive number of trials", field="--trials", value=trials,
                        accepted="--trials N with N >= 1")
    if method == "random":
        # sampled without replacement, in the grid's order, so a seed names one set of combinations
        picked = sorted(random.Random(seed).sample(range(len(combos)), min(trials, len(combos))))
        return runner([combos[i] for i in picked], tl)
    if method == "optuna":
        return _optuna(combos, tl, trials, seed, objective, min_trades, runner)
    raise UserError("unknown search method", field="--search", value=method, accepted=", ".join(METHODS))


def _optuna(combos: list[Combo], tl: Timeline, trials: int, seed: int, objective: str, min_trades: int,
            runner: SweepRunner) -> pd.DataFrame:
    try:
        import optuna
    except ImportError:
        raise UserError("--search optuna needs the optuna package", field="--search", value="optuna",
                        accepted='pip install "admf[optuna]"') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    axes: dict[str, list[Any]] = {}
    for c in combos:
        for k, v in c.params.items():
            if v not in axes.setdefault(k, []):
                axes[k].append(v)
    by_params = {tuple(c.params[k] for k in axes): c for c in combos}
    rows: dict[str, dict[str, Any]] = {}

    def evaluate(trial: Any) -> float:
        choice = tuple(trial.suggest_categorical(k, vals) for k, vals in axes.items())
        combo = by_params.get(choice)
        if combo is None:
            raise optuna.TrialPruned()
        if combo.label not in rows:
            table = runner([combo], tl)
            if table.empty:
                rows[combo.label] = {}
            else:
                rows[combo.label] = dict(table.iloc[0])
        row = rows[combo.label]
        if not row or score(row.get("trade_count")) < min_trades:
            raise optuna.TrialPruned()
        s = score(row.get(objective))
        return s if math.isfinite(s) else (1e300 if s > 0 else -1e300)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(evaluate, n_trials=trials)
    return pd.DataFrame([r for r in rows.values() if r], columns=results_columns(combos))


def publish_run(out: str | Path, name: str, cfg: Config, fill: Callable[[RunWriter], None]) -> Path:
    """A run directory holding config.yaml and what `fill` writes, published whole or not at all."""
    import yaml

    from admf.runtime.rundir import new_run_dir, resolved_config

    w = RunWriter(new_run_dir(out, name))
    try:
        w.text("config.yaml", yaml.safe_dump(resolved_config(cfg), sort_keys=False))
        fill(w)
        return w.commit()
    except BaseException:
        w.abort()
        raise


def write_table_run(table: pd.DataFrame, cfg: Config, out: str | Path, *, name: str, report: bool,
                    objective: str = "sharpe") -> Path:
    """The run directory of a sweep: config.yaml, results.parquet, report.html."""
    from admf.research.sweep_report import write_sweep_report

    def fill(w: RunWriter) -> None:
        write_results(w.path("results.parquet"), table)
        if report:
            write_sweep_report(w.path("report.html"), table, name=cfg.name, objective=objective)

    return publish_run(out, name, cfg, fill)


def add_search_arguments(p: Any) -> None:
    """--search, --trials, --seed on an argparse parser (walk-forward; a sweep command may add them)."""
    p.add_argument("--search", choices=METHODS, default="grid",
                   help="grid: every combination; random: --trials of them; optuna: TPE (pip install admf[optuna])")
    p.add_argument("--trials", type=int, help="combinations to try (random, optuna)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random and optuna searches")


def write_results(path: str | Path, table: pd.DataFrame) -> Path:
    """results.parquet: metric columns mix numbers, None and ISO times; Parquet wants one type per column."""
    t = table.copy()
    for col in t.columns:
        if t[col].dtype == object:
            vals = [v for v in t[col] if v is not None and not (isinstance(v, float) and math.isnan(v))]
            if vals and all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
                t[col] = pd.to_numeric(t[col], errors="coerce")
            else:
                t[col] = t[col].map(lambda v: None if v is None else str(v))
    out = Path(path)
    t.to_parquet(out, index=False)
    return out


__all__ = ["Combo", "METHODS", "OBJECTIVES", "SweepRunner", "add_search_arguments", "auto_runner", "best_row",
           "event_runner", "runner_for",
           "grid_combos", "publish_run", "results_columns", "search", "write_results",
           "write_table_run"]
