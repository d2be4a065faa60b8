"""${VAR} and ${VAR:-default} in YAML values: set, defaulted, missing, typed, and lazy in live_trading."""

from __future__ import annotations

from pathlib import Path

import pytest

from admf.config.interpolate import interpolate
from admf.config.loader import load_config
from admf.core.errors import ConfigError

DATA = Path(__file__).resolve().parents[2] / "data"


def test_set_variable_is_substituted_in_place() -> None:
    env = {"SYM": "QQQ", "TF": "15m"}
    assert interpolate({"a": "${SYM}_${TF}", "b": ["x-${SYM}-y"]}, env=env) == {"a": "QQQ_15m", "b": ["x-QQQ-y"]}


def test_default_is_used_only_when_unset() -> None:
    assert interpolate("${ADMF_T_UNSET:-fallback}", env={}) == "fallback"
    assert interpolate("${ADMF_T_SET:-fallback}", env={"ADMF_T_SET": "given"}) == "given"
    # an empty default is a real default (an empty string), not a missing variable
    assert interpolate("pre${ADMF_T_UNSET:-}post", env={}) == "prepost"
    # a variable set to the empty string is set
    assert interpolate("${ADMF_T_EMPTY:-x}", env={"ADMF_T_EMPTY": ""}) == ""


def test_whole_value_substitution_is_typed_partial_is_text() -> None:
    env = {"N": "20", "F": "2.5", "B": "false", "S": "abc"}
    out = interpolate({"n": "${N}", "f": "${F}", "b": "${B}", "s": "${S}", "d": "${NOPE:-7}",
                       "partial": "${N}0", "sum": "${N}+1"}, env=env)
    assert out == {"n": 20, "f": 2.5, "b": False, "s": "abc", "d": 7, "partial": "200", "sum": "20+1"}
    assert type(out["n"]) is int and type(out["f"]) is float and type(out["b"]) is bool


def test_substituted_text_is_not_expanded_again() -> None:
    # a value holding ${...} must stay literal: no second pass, no reading of other variables
    assert interpolate("${A}", env={"A": "${B}", "B": "leak"}) == "${B}"


def test_missing_variable_names_variable_file_and_field(write) -> None:
    p = write(f"""
        data_dir: {DATA}
        data: SPY_5m
        strategy:
          - bollinger_bands:
              period: ${{ADMF_T_MISSING}}
        """)
    with pytest.raises(ConfigError) as e:
        load_config(p, env={})
    err = e.value
    assert err.file == str(p)
    assert err.field == "strategy[0].bollinger_bands.period"
    assert "ADMF_T_MISSING" in str(err) and str(p) in str(err)


def test_variables_come_from_the_process_environment_by_default(write, monkeypatch) -> None:
    monkeypatch.setenv("ADMF_T_PERIOD", "33")
    monkeypatch.setenv("ADMF_T_NAME", "2024")
    p = write(f"""
        name: ${{ADMF_T_NAME}}
        data_dir: {DATA}
        data: SPY_5m
        strategy:
          - bollinger_bands: {{period: "${{ADMF_T_PERIOD}}", std_dev: "${{ADMF_T_STD:-1.5}}"}}
        """)
    cfg = load_config(p)
    assert cfg.strategies[0].params == {"period": 33, "std_dev": 1.5}
    # a digits-only value in a text field stays text
    assert cfg.name == "2024"


def test_unset_live_trading_variables_are_allowed_until_used(write) -> None:
    p = write(f"""
        data_dir: {DATA}
        data: SPY_5m
        strategy: [bollinger_bands]
        live_trading:
          api_key: ${{ADMF_T_KEY}}
          secret_key: ${{ADMF_T_SECRET}}
          base_url: http://localhost:${{ADMF_T_PORT}}/v2
          paper_trading: true
        """)
    cfg = load_config(p, env={"ADMF_T_SECRET": "s3cr3t"})
    lt = cfg.live_trading
    assert lt.api_key is None and lt.base_url is None
    assert lt.unresolved == {"api_key": "ADMF_T_KEY", "base_url": "ADMF_T_PORT"}
    assert lt.require("secret_key") == "s3cr3t"
    assert lt.require("paper_trading") is True
    with pytest.raises(ConfigError) as e:
        lt.require("api_key", file=str(p))
    assert e.value.field == "live_trading.api_key" and "ADMF_T_KEY" in str(e.value) and str(p) in str(e.value)
    # grid expansion and copies keep the record of what was unset
    assert cfg.model_copy(update={"name": "x"}).live_trading.unresolved == lt.unresolved


def test_unset_variable_outside_live_trading_is_an_error_even_in_other_sections(write) -> None:
    p = write(f"""
        data_dir: {DATA}
        data: SPY_5m
        strategy: [bollinger_bands]
        portfolio: {{initial_capital: "${{ADMF_T_CAPITAL}}"}}
        """)
    with pytest.raises(ConfigError) as e:
        load_config(p, env={})
    assert e.value.field == "portfolio.initial_capital" and "ADMF_T_CAPITAL" in str(e.value)
    cfg = load_config(p, env={"ADMF_T_CAPITAL": "250000"})
    assert cfg.portfolio.initial_capital == 250_000.0


def test_digits_only_secret_stays_text_and_is_never_shown(write) -> None:
    p = write(f"""
        data_dir: {DATA}
        data: SPY_5m
        strategy: [bollinger_bands]
        live_trading: {{api_key: "${{ADMF_T_KEY}}", secret_key: "${{ADMF_T_SECRET}}"}}
        """)
    cfg = load_config(p, env={"ADMF_T_KEY": "1234567890", "ADMF_T_SECRET": "PKSECRETVALUE"})
    assert cfg.live_trading.require("api_key") == "1234567890"
    assert "PKSECRETVALUE" not in repr(cfg) and "PKSECRETVALUE" not in str(cfg.model_dump())
    # a secret of the wrong type is reported without its value
    with pytest.raises(ConfigError) as e:
        load_config(p, env={"ADMF_T_KEY": "true", "ADMF_T_SECRET": "x"})
    assert e.value.field == "live_trading.api_key"
    assert "True" not in str(e.value) and "true" not in str(e.value)
