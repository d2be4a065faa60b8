"""Registry, parameter normalization, errors, and FeatureHub sharing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from admf.core.errors import ConfigError, UserError
from admf.features import (
    FeatureHub,
    Indicator,
    indicator_names,
    indicator_params,
    make_indicator,
    normalize_params,
)

ALL = [
    "adx", "aroon", "atr", "bollinger", "cci", "dema", "donchian", "ema", "keltner", "macd",
    "obv", "roc", "rsi", "sma", "stochastic", "supertrend", "tema", "vwap", "willr", "wma",
]  # fmt: skip


def test_registry_lists_every_indicator_with_defaults() -> None:
    assert indicator_names() == ALL
    assert indicator_params("bollinger") == {"period": 20, "std_dev": 2.0}
    assert indicator_params("macd") == {"fast": 12, "slow": 26, "signal": 9}
    assert indicator_params("stochastic") == {"k_period": 14, "k_smooth": 3, "d_period": 3}
    assert indicator_params("keltner") == {"period": 20, "atr_period": 10, "multiplier": 2.0}
    assert indicator_params("supertrend") == {"period": 10, "multiplier": 3.0}
    assert indicator_params("adx") == {"period": 14}
    assert indicator_params("obv") == {}


def test_normalize_fills_defaults_and_canonicalizes_numbers() -> None:
    assert normalize_params("bollinger", period=20.0, std_dev=2) == {"period": 20, "std_dev": 2.0}
    out = normalize_params("bollinger", period=np.int64(10))
    assert out == {"period": 10, "std_dev": 2.0} and type(out["period"]) is int
    assert type(normalize_params("keltner", multiplier=3)["multiplier"]) is float
    assert normalize_params("vwap", session="UTC") == {"session": "utc"}


@pytest.mark.parametrize("name", ALL)
def test_each_indicator_obeys_the_contract(name: str, synthetic, feed) -> None:
    """nan before ready, ready exactly after ``warmup`` bars and for good, finite after."""
    ind = make_indicator(name)
    assert isinstance(ind, Indicator) and ind.name == name
    assert ind.params == indicator_params(name)
    attrs = tuple(dict.fromkeys(("value", *ind.outputs)))
    got, ready = feed(ind, synthetic, attrs)
    w = ind.warmup
    assert not ready[: w - 1].any()
    assert ready[w - 1 :].all()
    for a in attrs:
        if a != "direction":
            assert np.isnan(got[a][: w - 1]).all(), a
        assert np.isfinite(got[a][w - 1 :]).all(), a


def test_make_indicator_gives_fresh_instances() -> None:
    a = make_indicator("sma", period=5)
    b = make_indicator("sma", period=5)
    assert a is not b
    for x in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        a.update(0, x, x, x, x, 1.0)
    assert a.value == 4.0 and not b.ready


def test_hub_shares_one_instance_per_symbol_name_and_params() -> None:
    hub = FeatureHub()
    a = hub.get("SPY", "bollinger")
    assert hub.get("SPY", "bollinger", period=20, std_dev=2.0) is a
    assert hub.get("SPY", "bollinger", period=20.0, std_dev=2) is a
    assert hub.get("SPY", "Bollinger", std_dev=2.0) is a
    b = hub.get("SPY", "bollinger", period=10)
    c = hub.get("QQQ", "bollinger")
    d = hub.get("SPY", "sma", period=20)
    assert len({id(x) for x in (a, b, c, d)}) == 4
    assert hub.count == 4
    assert hub.indicators("SPY") == [a, b, d]
    assert hub.symbols() == ["SPY", "QQQ"]
    assert FeatureHub.key("SPY", "bollinger", period=20.0) == ("SPY", "bollinger", 20, 2.0)


def test_hub_updaters_are_bound_methods_in_creation_order_and_stay_current(synthetic) -> None:
    hub = FeatureHub()
    first = hub.get("SPY", "ema", period=5)
    second = hub.get("SPY", "rsi")
    ups = hub.updaters("SPY")
    assert [u.__self__ for u in ups] == [first, second]
    third = hub.get("SPY", "macd")
    assert ups[-1].__self__ is third  # the engine's list sees indicators added later
    hub.get("SPY", "ema", period=5.0)
    assert len(ups) == 3

    solo = [make_indicator("ema", period=5), make_indicator("rsi"), make_indicator("macd")]
    cols = [synthetic[k].tolist() for k in ("ts", "open", "high", "low", "close", "volume")]
    for row in zip(*cols, strict=True):
        hub.update("SPY", *row)
        for s in solo:
            s.update(*row)
    for shared, own in zip((first, second, third), solo, strict=True):
        assert shared.ready and shared.value == own.value
    hub.update("UNKNOWN", *next(zip(*cols, strict=True)))  # no indicators: nothing happens


def _err(name: str, **params) -> ConfigError:
    with pytest.raises(ConfigError) as ei:
        make_indicator(name, **params)
    return ei.value


def test_unknown_indicator_names_the_accepted_ones() -> None:
    e = _err("bolinger")
    assert e.field == "indicator" and e.value == "bolinger"
    assert all(n in e.accepted for n in ALL)
    assert isinstance(e, UserError) and e.exit_code == 2
    with pytest.raises(ConfigError):
        FeatureHub().get("SPY", "nope")


def test_unknown_parameter_names_the_accepted_ones() -> None:
    e = _err("sma", length=20)
    assert e.field == "sma.length" and e.accepted == "period"
    assert "sma.length" in str(e)


@pytest.mark.parametrize(
    ("name", "params", "field", "accepted"),
    [
        ("sma", {"period": 1}, "sma.period", "int in [2, 100000]"),
        ("sma", {"period": 0}, "sma.period", "int in [2, 100000]"),
        ("sma", {"period": 20.5}, "sma.period", "int in [2, 100000]"),
        ("sma", {"period": "20"}, "sma.period", "int in [2, 100000]"),
        ("sma", {"period": True}, "sma.period", "int in [2, 100000]"),
        ("ema", {"period": 10**6}, "ema.period", "int in [2, 100000]"),
        ("atr", {"period": 0}, "atr.period", "int in [1, 100000]"),
        ("bollinger", {"std_dev": 0}, "bollinger.std_dev", "float > 0"),
        ("bollinger", {"std_dev": -1.0}, "bollinger.std_dev", "float > 0"),
        ("bollinger", {"std_dev": math.nan}, "bollinger.std_dev", "float > 0"),
        ("keltner", {"multiplier": math.inf}, "keltner.multiplier", "float > 0"),
        ("vwap", {"session": "tokyo"}, "vwap.session", "one of ny, rth, utc, none"),
        ("vwap", {"session": 1}, "vwap.session", "one of ny, rth, utc, none"),
        ("macd", {"fast": 26, "slow": 12}, "macd.fast", "integer 2..11"),
        ("macd", {"fast": 12, "slow": 12}, "macd.fast", "integer 2..11"),
    ],
)
def test_bad_parameter_values(name: str, params: dict, field: str, accepted: str) -> None:
    e = _err(name, **params)
    assert e.field == field
    assert e.accepted == accepted
    assert field in str(e) and accepted in str(e)
