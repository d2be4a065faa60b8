"""One parameter declaration: what a strategy advertises is what its features accept."""

from __future__ import annotations

import pytest

from admf.config.loader import config_from_dict
from admf.core.errors import ConfigError
from admf.core.params import Param
from admf.data.sample import generate_sample
from admf.data.timeline import merge
from admf.features.registry import indicator_class
from admf.runtime.backtest import run_variant
from admf.strategies.registry import all_strategies

TL = merge([generate_sample("SPY", "5m", days=2)])
BUILTIN = ["sma_crossover", "ema_crossover", "macd_crossover", "donchian_breakout", "supertrend",
           "bollinger_bands", "bollinger_breakout", "keltner_bands", "keltner_breakout", "rsi_bands",
           "rsi_threshold", "stochastic_crossover", "roc_momentum", "vwap_deviation"]


def _run(name: str, params: dict) -> None:
    cfg = config_from_dict({"name": "t", "data": "SPY_5m", "strategy": [{name: params}]})
    run_variant(cfg, TL)


def test_features_and_strategies_share_the_class() -> None:
    assert type(indicator_class("sma").param_specs["period"]) is Param
    assert type(all_strategies()["sma_crossover"].params["fast"]) is Param


@pytest.mark.parametrize("name", BUILTIN)
def test_the_advertised_lower_bound_runs_and_just_below_it_is_refused(name: str) -> None:
    cls = all_strategies()[name]
    for key, p in cls.params.items():
        if p.type not in (int, float) or p.min is None:
            continue
        others = {k: q.default for k, q in cls.params.items() if k != key}
        if key == "fast":  # fast must stay below slow: give slow room
            others["slow"] = max(int(p.min) + 1, int(others.get("slow", 0)))
        low = p.min if not p.min_open else (p.min + 1e-3)
        try:
            _run(name, {**others, key: low})
        except ConfigError as e:  # only a cross-parameter rule may refuse the advertised bound
            assert e.field != f"strategy[0].{name}.{key}" and "range" not in str(e), (name, key, str(e))
        below = p.min - 1 if p.type is int else (p.min if p.min_open else p.min - 1e-3)
        with pytest.raises(ConfigError, match="out of range"):
            _run(name, {**others, key: below})


def test_listed_ranges_are_the_validated_ones() -> None:
    cls = all_strategies()
    assert cls["sma_crossover"].params["fast"].describe() == "int in [2, 100000]"
    assert cls["bollinger_bands"].params["std_dev"].describe() == "float > 0"
