"""The compiled engine behind the workflow's interfaces gives the event engine's results."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from workflow_support import BUILTINS, SAMPLE, cfg

from admf.config.loader import config_from_dict
from admf.research.compiled_runs import compiled_runner
from admf.research.search import auto_runner, event_runner, grid_combos, runner_for
from admf.research.walkforward import walkforward
from admf.runtime.backtest import load_timeline

GRID = cfg({"bollinger_bands": {"period": [10, 20], "std_dev": [1.5, 2.0]}, "constraints": "intraday",
            "risk": {"stop_loss": 0.004, "take_profit": 0.006}},
           {"sma_crossover": {"fast": [5, 20], "slow": 20}, "direction": "long"},
           execution={"slippage": {"type": "bps", "value": 1.0}, "commission": {"type": "per_share", "rate": 0.005}})


def assert_tables_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for col in a.columns:
        for x, y in zip(a[col].tolist(), b[col].tolist(), strict=True):
            if isinstance(x, float) and isinstance(y, float | int):
                assert (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), \
                    (col, x, y)
            else:
                assert x == y, (col, x, y)


def _grid() -> tuple[Any, Any]:
    c = config_from_dict(GRID)
    return c, load_timeline(c, bars=2500)


def test_compiled_runner_rows_equal_event_runner_rows() -> None:
    c, tl = _grid()
    combos = grid_combos(c)
    ev = event_runner(combos, tl)
    assert len(ev) == 4  # fast=20/slow=20 is refused by both
    assert_tables_equal(compiled_runner(combos, tl, workers=1), ev)
    assert_tables_equal(compiled_runner(combos * 8, tl, workers=2), pd.concat([ev] * 8, ignore_index=True))


def test_auto_runner_follows_engine_auto() -> None:
    assert runner_for(None) is auto_runner and runner_for("event") is event_runner
    assert runner_for("compiled") is compiled_runner


def test_walkforward_compiled_equals_event() -> None:
    kw: dict[str, Any] = {"train": "6d", "test": "3d", "bars": 1600, "report": False}
    a = walkforward(GRID, runner=compiled_runner, **kw)
    b = walkforward(GRID, runner=event_runner, **kw)
    assert len(a.windows) >= 2
    assert_tables_equal(a.windows, b.windows)
    pd.testing.assert_frame_equal(a.trades, b.trades)
    for x, y in zip(a.results, b.results, strict=True):
        assert_tables_equal(x, y)


SIGNAL_VARIANTS: list[dict[str, Any]] = [
    {},
    {"constraints": "intraday", "direction": "long"},
    {"direction": "short", "constraints": "intraday", "filter": "volume > 250000 or rsi(14) > 60"},
    {"filter": "close > sma(50)"},
]


def _source_parity(data_dir: Any, **window: Any) -> None:
    from admf.research.compiled_runs import compiled_source
    from admf.research.signal_gen import generate_batch, wanted_variants

    entries = [{s: {}, **extra} for s in BUILTINS for extra in SIGNAL_VARIANTS]
    c = config_from_dict(cfg(*entries, data_dir=data_dir))
    tl = load_timeline(c, **window)
    wanted = wanted_variants(c, tl)
    assert len(wanted) == len(entries)
    changes = 0
    for w, a, b in zip(wanted, compiled_source(c, tl, wanted), generate_batch(c, tl, wanted), strict=True):
        for col in ("bar", "ts", "value", "price"):
            assert np.array_equal(getattr(a, col), getattr(b, col)), (w.label, w.entry.type, col)
        changes += len(a.bar)
    assert changes > 10 * len(entries)


def test_compiled_signals_equal_event_signals_on_sample_bars() -> None:
    _source_parity(SAMPLE, bars=3000)


def test_compiled_signals_equal_event_signals_on_real_spy_5m(real_data: Any) -> None:
    _source_parity(real_data, start="2024-09-03", end="2024-10-15")
