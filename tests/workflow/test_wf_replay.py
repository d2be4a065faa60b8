"""Replay on stored signals equals the full backtest, trade for trade; sweeps on fixed signals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from workflow_support import BUILTINS, REPO, cfg

from admf.config.loader import config_from_dict, expand
from admf.core.errors import DataError, UserError
from admf.features.hub import FeatureHub
from admf.research.features import FeatureStore
from admf.research.replay import parse_sweep, replay, replay_sweep
from admf.research.signal_gen import signals
from admf.runtime.backtest import backtest

COSTS = {"commission": {"type": "per_share", "rate": 0.005, "min": 1.0}, "slippage": {"type": "bps", "value": 1}}
# plain; intraday with risk exits; long only with an entry filter, sized on equity
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "intraday_risk": {"constraints": "intraday", "risk": {"stop_loss": 0.003, "take_profit": 0.004,
                                                          "trailing_stop": 0.005, "max_holding_bars": 40}},
    "long_filtered": {"direction": "long", "filter": "volume > 300000 or close > sma(50)",
                      "sizing": {"type": "percent_equity", "percent": 0.5}},
    "short_intraday_filtered": {"direction": "short", "constraints": "intraday",
                                "filter": "volume > 250000 or rsi(14) > 60"},
}


def _same(a: Any, b: Any) -> None:
    pd.testing.assert_frame_equal(a.trades, b.trades)
    pd.testing.assert_series_equal(a.equity, b.equity)
    pd.testing.assert_frame_equal(a.fills, b.fills)
    assert a.metrics.to_dict() == b.metrics.to_dict()


def _parity(config: dict[str, Any], store: Path, **window: Any) -> int:
    """Event backtest == event replay == compiled replay (the kernel on the stored signals)."""
    signals(config, store=store, **window)
    full = backtest(config, engine="event", **window)
    for engine in ("event", "compiled"):
        rep = replay(config, store=store, engine=engine, **window)
        assert rep.engine == engine
        _same(full, rep)
    return len(full.trades)


@pytest.mark.parametrize("strategy", BUILTINS)
def test_replay_equals_backtest_on_sample_bars(strategy: str, tmp_path: Path) -> None:
    counts = {name: _parity(cfg({strategy: {}, **extra}, execution=COSTS), tmp_path / "st", bars=4000)
              for name, extra in VARIANTS.items()}
    assert all(n > 0 for n in counts.values()), counts


@pytest.mark.parametrize("strategy", BUILTINS)
def test_replay_equals_backtest_on_real_spy_5m(strategy: str, real_data: Path, tmp_path: Path) -> None:
    window = {"start": "2024-09-03", "end": "2024-10-31"}
    counts = [_parity(cfg({strategy: {}, **extra}, data_dir=real_data, execution=COSTS), tmp_path / "st", **window)
              for extra in VARIANTS.values()]
    assert all(n > 0 for n in counts), counts


def test_replay_of_two_symbols_and_two_books_and_a_grid(tmp_path: Path) -> None:
    from admf.config.loader import load_config

    multi = load_config(REPO / "config" / "multi" / "two_symbols.yaml")
    signals(multi, store=tmp_path / "st", bars=6000)
    _same(backtest(multi, bars=6000), replay(multi, store=tmp_path / "st", bars=6000))
    grid = cfg({"sma_crossover": {"fast": [5, 10], "slow": 30}, "constraints": "intraday"},
               {"rsi_bands": {"period": [7, 14]}}, execution=COSTS)
    signals(grid, store=tmp_path / "st", bars=3000)
    for engine in ("event", "compiled"):
        rep = replay(grid, store=tmp_path / "st", bars=3000, engine=engine)
        assert isinstance(rep, list) and len(rep) == 4
        for v, b in zip(expand(config_from_dict(grid)), rep, strict=True):
            assert v.label == b.label
            _same(backtest(v.config, bars=3000, engine="event"), b)


def test_a_filter_that_refuses_entries_replays_exactly(tmp_path: Path) -> None:
    plain = cfg({"bollinger_bands": {}, "constraints": "intraday"})
    filtered = cfg({"bollinger_bands": {}, "constraints": "intraday", "filter": "rsi(14) > 25 and rsi(14) < 75"})
    n_plain, n_filtered = _parity(plain, tmp_path / "st", bars=6000), _parity(filtered, tmp_path / "st", bars=6000)
    assert 0 < n_filtered < n_plain


def test_replay_computes_no_strategy_feature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = cfg({"bollinger_bands": {}, "filter": "rsi(14) < 60", "sizing": {"type": "atr", "risk_per_trade": 0.01}})
    signals(c, store=tmp_path / "st", bars=2000)
    asked: list[str] = []
    real_get = FeatureHub.get

    def spy(self: FeatureHub, symbol: str, name: str, **params: Any) -> Any:
        asked.append(name)
        return real_get(self, symbol, name, **params)

    monkeypatch.setattr(FeatureHub, "get", spy)
    replay(c, store=tmp_path / "st", bars=2000, engine="event")
    assert asked == ["atr"]  # the sizing rule's ATR; not the bands, not the filter's RSI
    real_store_get = FeatureStore.get
    asked.clear()

    def store_spy(self: FeatureStore, k: int, name: str, **params: Any) -> Any:
        asked.append(name)
        return real_store_get(self, k, name, **params)

    monkeypatch.setattr(FeatureStore, "get", store_spy)
    replay(c, store=tmp_path / "st", bars=2000, engine="compiled")
    assert asked == ["atr"]  # the kernel on the stored signals: only the sizing rule's ATR
    asked.clear()
    backtest(c, bars=2000, engine="compiled")
    assert {"bb_core", "rsi", "atr"} <= set(asked)  # the spy sees what a full backtest computes


def test_replay_needs_its_signals_in_the_store(tmp_path: Path) -> None:
    c = cfg({"bollinger_bands": {}})
    signals(c, store=tmp_path / "st", bars=2000)
    with pytest.raises(UserError, match="not in the store"):
        replay(c, store=tmp_path / "st", bars=2500)  # other bars: another fingerprint
    with pytest.raises(UserError, match="not in the store"):
        replay(cfg({"bollinger_bands": {"period": 21}}), store=tmp_path / "st", bars=2000)
    with pytest.raises(UserError, match="unknown signal store"):
        replay(c, store=tmp_path / "nope", bars=2000)


def test_stored_signals_on_other_bars_are_refused(tmp_path: Path) -> None:
    c = cfg({"bollinger_bands": {}})
    res = signals(c, store=tmp_path / "st", bars=2000)
    entry = {"stored_signals": {"store": str(tmp_path / "st"), "keys": f"SPY={res.variants['hash'][0]}"}}
    backtest(cfg(entry), bars=2000)  # the bars it was generated on
    with pytest.raises(DataError, match="do not match these bars"):
        backtest(cfg(entry), start="2024-01-03", bars=1800)


def test_replay_sweep_over_stops_equals_separate_backtests(tmp_path: Path) -> None:
    c = cfg({"sma_crossover": {"fast": [5, 10], "slow": 30}, "constraints": "intraday"}, execution=COSTS)
    signals(c, store=tmp_path / "st", bars=3000)
    table = replay_sweep(c, store=tmp_path / "st", sweep={"stop_loss": [0.002, 0.005, 0.01], "commission": [0.0]},
                         bars=3000)
    assert len(table) == 6 and list(table.columns[:4]) == ["fast", "stop_loss", "commission", "start"]
    assert table["label"].iloc[0] == "fast=5;stop_loss=0.002,commission=0.0"
    for _, row in table.iterrows():
        ref_cfg = cfg({"sma_crossover": {"fast": int(row["fast"]), "slow": 30}, "constraints": "intraday",
                       "risk": {"stop_loss": row["stop_loss"]}},
                      execution={**COSTS, "commission": {"type": "per_share", "rate": 0.0, "min": 1.0}})
        ref = backtest(ref_cfg, bars=3000)
        assert (row["trade_count"], row["final_equity"]) == (ref.metrics["trade_count"], ref.metrics["final_equity"])
    assert table["trade_count"].nunique() > 1 or table["final_equity"].nunique() > 1


def test_sweep_spelling() -> None:
    assert parse_sweep(["stop_loss=0.002,0.01", "max_holding_bars=5"]) == {"stop_loss": [0.002, 0.01],
                                                                            "max_holding_bars": [5]}
    for bad in ("stop=0.1", "stop_loss=", "stop_loss=abc"):
        with pytest.raises(UserError):
            parse_sweep([bad])
