"""The engine's fused one-symbol loop against its general per-bar step, on the same bars.

A lone strategy on one symbol runs through Engine._run_one; a second strategy on the same symbol
sends the run through Engine.step. Each book trades on its own capital, so the first book of the
two-strategy run (allocation: each) must be the single run's book fill for fill (stops and targets included)."""

from __future__ import annotations

import gc
from types import SimpleNamespace

import numpy as np
import pytest

from admf.core.engine import CHUNK
from admf.core.errors import UserError
from admf.data.frame import BarFrame
from admf.data.timeline import merge
from admf.runtime.backtest import run_variant
from admf.strategies.base import Strategy
from admf.strategies.registry import all_strategies, register

if "bt_raises_at" not in all_strategies():

    @register("bt_raises_at")
    class RaisesAt(Strategy):
        """Flat until bar CHUNK + 7, then raises (a bug in a user's strategy, in the second chunk)."""

        def setup(self, hub: object) -> None:
            self.i = 0

        def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
            if self.i == CHUNK + 7:
                raise ZeroDivisionError("boom")
            self.i += 1
            return 0


def _walk(bt: SimpleNamespace, n: int) -> BarFrame:
    rng = np.random.default_rng(7)
    close = 100.0 + np.cumsum(rng.normal(0.0, 0.05, n)).round(2)
    op = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(op, close) + 0.03
    low = np.minimum(op, close) - 0.03
    ts = bt.T0 + np.arange(n, dtype=np.int64) * bt.MIN
    return BarFrame(ts, op, high, low, close, np.full(n, 1000.0), symbol="TEST", timeframe="1m")


BB = {"bollinger_bands": {"period": 20, "std_dev": 2.0}, "risk": {"stop_loss": 0.002, "take_profit": 0.003}}
SMA = {"sma_crossover": {"fast": 5, "slow": 20}, "name": "other"}


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_fused_loop_equals_the_per_bar_step(bt: SimpleNamespace, fill: str) -> None:
    tl = merge([_walk(bt, CHUNK + 5000)])  # two chunks
    alone = run_variant(bt.config(strategies=[BB], execution={"fill": fill}), tl)
    both = run_variant(bt.config(strategies=[BB, SMA], execution={"fill": fill},
                                 portfolio={"initial_capital": 100_000, "allocation": "each"}), tl)
    mine = both.fills[both.fills.strategy_id == "bollinger_bands"].reset_index(drop=True)
    assert len(alone.fills) > 100 and set(alone.fills.reason) >= {"stop_loss", "take_profit"}
    cols = ["client_order_id", "side", "qty", "price", "time", "bar", "reason"]
    assert alone.fills[cols].equals(mine[cols])
    assert alone.books["bollinger_bands"]["equity"].equals(both.books["bollinger_bands"]["equity"])


def test_a_strategy_error_names_its_bar_in_a_later_chunk(bt: SimpleNamespace) -> None:
    tl = merge([_walk(bt, CHUNK + 20)])
    with pytest.raises(UserError) as e:
        run_variant(bt.config(strategies=[{"bt_raises_at": {}}]), tl)
    i = CHUNK + 7
    when = np.datetime64(int(tl.ts[i]), "ns").astype("datetime64[s]").item().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert str(e.value).startswith(f"strategy 'bt_raises_at' raised ZeroDivisionError: boom at bar {i} ({when}, TEST)")
    assert gc.get_freeze_count() == 0  # the run's frozen heap is given back, also when it fails


def test_a_run_leaves_a_frozen_heap_alone(bt: SimpleNamespace) -> None:
    tl = merge([_walk(bt, 500)])
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        run_variant(bt.config(strategies=[BB]), tl)
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
    run_variant(bt.config(strategies=[BB]), tl)
    assert gc.get_freeze_count() == 0
