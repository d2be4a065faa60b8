"""Live credentials left unset in the config come from ALPACA_API_KEY/ALPACA_API_SECRET, else
from Alpaca's own APCA_API_KEY_ID/APCA_API_SECRET_KEY."""

from __future__ import annotations

from typing import Any

import pytest

from admf.config.interpolate import interpolate
from admf.config.loader import config_from_dict
from admf.core.errors import ConfigError
from admf.runtime.factory import broker_section, get_adapter

VARS = ("ALPACA_API_KEY", "ALPACA_API_SECRET", "APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "MY_KEY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for v in VARS:
        monkeypatch.delenv(v, raising=False)


def _live(tmp_path, **live: Any):
    raw = {"name": "cred", "data": "SPY_1m", "data_dir": str(tmp_path),
           "strategy": [{"sma_crossover": {"fast": 3, "slow": 8}}],
           "execution": {"broker": "alpaca", "execution_mode": "async"}, "live_trading": live}
    return config_from_dict(interpolate(raw), base_dir=str(tmp_path))


def _settings(cfg):
    """The path a live session takes: the broker section, then the adapter's settings."""
    adapter = get_adapter("alpaca")
    return adapter.settings(broker_section(cfg, env=adapter.credential_env))


def _pair(cfg) -> tuple[str, str]:
    s = _settings(cfg)
    return s.api_key, s.secret_key


def test_alpacas_own_names_when_the_config_has_no_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("APCA_API_KEY_ID", "PK-apca")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "SK-apca")
    assert _pair(_live(tmp_path)) == ("PK-apca", "SK-apca")


def test_alpacas_own_names_when_our_variables_are_unset_or_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("APCA_API_KEY_ID", "PK-apca")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "SK-apca")
    monkeypatch.setenv("ALPACA_API_SECRET", "")  # set but empty counts as unset
    lt = _live(tmp_path, api_key="${ALPACA_API_KEY}", secret_key="${ALPACA_API_SECRET}")
    assert _pair(lt) == ("PK-apca", "SK-apca")


def test_our_names_come_first(tmp_path, monkeypatch):
    for v, x in zip(VARS[:4], ("PK-ours", "SK-ours", "PK-apca", "SK-apca"), strict=True):
        monkeypatch.setenv(v, x)
    assert _pair(_live(tmp_path)) == ("PK-ours", "SK-ours")
    assert _pair(_live(tmp_path, api_key="${ALPACA_API_KEY}", secret_key="${ALPACA_API_SECRET}")) == (
        "PK-ours", "SK-ours")
    # a value in the config wins over every variable
    assert _settings(_live(tmp_path, api_key="PK-config")).api_key == "PK-config"


def test_a_variable_of_the_users_own_is_not_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("APCA_API_KEY_ID", "PK-apca")
    with pytest.raises(ConfigError, match="environment variable MY_KEY is not set"):
        _settings(_live(tmp_path, api_key="${MY_KEY}"))


def test_nothing_set_names_both_variables_and_no_value(tmp_path):
    with pytest.raises(ConfigError) as info:
        _settings(_live(tmp_path, api_key="${ALPACA_API_KEY}"))
    msg = str(info.value)
    assert "environment variable ALPACA_API_KEY is not set" in msg and "APCA_API_KEY_ID" in msg
    with pytest.raises(ConfigError, match="secret_key: missing.*APCA_API_SECRET_KEY"):
        _settings(_live(tmp_path, api_key="PK"))
