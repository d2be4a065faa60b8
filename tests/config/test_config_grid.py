"""Grids: lists and inclusive range(a, b, step), expanded as a Cartesian product."""

from __future__ import annotations

import itertools

import pytest

from admf.config.grid import axis, parse_range
from admf.config.loader import config_from_dict, expand, is_grid
from admf.core.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("range(10, 20, 5)", [10, 15, 20]),  # b itself is included
        ("range(1, 4)", [1, 2, 3, 4]),  # step defaults to 1
        ("range(1, 10, 4)", [1, 5, 9]),  # b not on the step: stop below it
        ("range(3, 3)", [3]),
        ("range(-2, 2, 2)", [-2, 0, 2]),
        ("  range( 5 ,15,5 ) ", [5, 10, 15]),
    ],
)
def test_integer_ranges_are_inclusive_of_the_end(text: str, want: list[int]) -> None:
    got = parse_range(text, file="f.yaml", field="p")
    assert got == want
    assert all(type(v) is int for v in got)


def test_float_steps_do_not_drift() -> None:
    # repeated addition gives 0.30000000000000004 and can lose the last value
    assert 0.1 + 0.1 + 0.1 != 0.3
    got = parse_range("range(0.1, 0.3, 0.1)", file=None, field="p")
    assert got == [0.1, 0.2, 0.3]
    tenths = parse_range("range(0, 1, 0.1)", file=None, field="p")
    assert tenths == [i / 10 for i in range(11)]
    assert parse_range("range(1.5, 2.5, 0.25)", file=None, field="p") == [1.5, 1.75, 2.0, 2.25, 2.5]
    # a decimal point anywhere makes the values floats
    assert parse_range("range(1, 3, 1.0)", file=None, field="p") == [1.0, 2.0, 3.0]
    assert all(type(v) is float for v in parse_range("range(1.0, 2, 1)", file=None, field="p"))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("range(10, 20, 0)", "step must be positive"),
        ("range(10, 20, -5)", "step must be positive"),
        ("range(20, 10, 2)", "end is below its start"),
        ("range(a, 10)", "must be numbers"),
        ("range(1, 2, x)", "must be numbers"),
        ("range(5)", "2 or 3 numbers"),
        ("range(1, 2, 3, 4)", "2 or 3 numbers"),
        ("range(1, 10000000)", "too many values"),
        ("range(5", "must be quoted"),  # what YAML leaves of {p: range(5, 15, 5)}
    ],
)
def test_invalid_ranges_name_file_field_and_value(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as e:
        axis(text, file="grid.yaml", field="strategy[0].sma_crossover.fast")
    msg = str(e.value)
    assert words in msg
    assert msg.startswith("grid.yaml: strategy[0].sma_crossover.fast: ")
    assert repr(text) in msg


def test_axis_forms() -> None:
    assert axis([3, 1, 2], file=None, field="p") == [3, 1, 2]  # a list is taken as written
    assert axis(5, file=None, field="p") is None
    assert axis("ranged", file=None, field="p") is None  # only range(...) is a range
    with pytest.raises(ConfigError, match="empty list"):
        axis([], file=None, field="p")


def _sma(fast, slow, **more):
    return {"data_dir": "data", "data": "SPY_5m", "strategy": [{"sma_crossover": {"fast": fast, "slow": slow}, **more}]}


def test_two_parameter_grid_is_the_cartesian_product() -> None:
    cfg = config_from_dict(_sma("range(5, 15, 5)", [30, 60, 90]), file="g.yaml")
    variants = expand(cfg)
    want = list(itertools.product([5, 10, 15], [30, 60, 90]))
    assert len(variants) == 9
    assert [(v.config.strategies[0].params["fast"], v.config.strategies[0].params["slow"]) for v in variants] == want
    assert [v.label for v in variants] == [f"fast={f},slow={s}" for f, s in want]
    assert is_grid(cfg)
    # the strategy entry's other settings survive in every variant
    assert all(v.config.strategies[0].type == "sma_crossover" for v in variants)


def test_grid_across_two_strategies_and_defaults_filled() -> None:
    raw = {"data_dir": "data", "data": "SPY_5m", "strategy": [
        {"sma_crossover": {"fast": [5, 10]}, "name": "trend", "constraints": "intraday"},
        {"rsi_bands": {"period": "range(7, 21, 7)", "oversold": 25}},
    ]}
    variants = expand(config_from_dict(raw))
    assert len(variants) == 2 * 3
    combos = [(v.config.strategies[0].params["fast"], v.config.strategies[1].params["period"]) for v in variants]
    assert combos == list(itertools.product([5, 10], [7, 14, 21]))
    for v in variants:
        a, b = v.config.strategies
        assert a.params["slow"] == 30  # sma_crossover default
        assert b.params == {"period": b.params["period"], "oversold": 25.0, "overbought": 70.0, "exit_level": 50.0}
        assert a.name == "trend" and a.constraints == ["intraday"]
    assert variants[0].label == "trend(fast=5);rsi_bands(period=7)"


def test_single_values_are_not_a_grid() -> None:
    cfg = config_from_dict(_sma(10, 30))
    assert not is_grid(cfg)
    (only,) = expand(cfg)
    assert only.config.strategies[0].params == {"fast": 10, "slow": 30}
    # a one-element list is one combination too
    assert len(expand(config_from_dict(_sma([10], 30)))) == 1


def test_every_grid_value_is_validated() -> None:
    with pytest.raises(ConfigError) as e:
        config_from_dict(_sma([5, "x"], 30), file="g.yaml")
    assert e.value.field == "strategy[0].sma_crossover.fast" and e.value.value == "x"
    # range(0, 10, 5) starts below sma_crossover's minimum fast period of 1
    with pytest.raises(ConfigError) as e:
        config_from_dict(_sma("range(0, 10, 5)", 30), file="g.yaml")
    assert e.value.value == 0 and "out of range" in str(e.value)
    # a fractional step cannot feed an integer parameter
    with pytest.raises(ConfigError) as e:
        config_from_dict(_sma("range(10, 20, 2.5)", 30), file="g.yaml")
    assert e.value.value == 12.5
    # whole floats are accepted and become ints
    cfg = config_from_dict(_sma("range(10.0, 20, 5)", 30))
    assert [v.config.strategies[0].params["fast"] for v in expand(cfg)] == [10, 15, 20]
