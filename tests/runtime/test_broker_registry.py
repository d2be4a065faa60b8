"""The broker registry and the adapter-validated `broker:` section (no broker named outside its folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from runtime_support import live_config_dict

from admf.config.interpolate import Unresolved
from admf.config.loader import config_from_dict
from admf.core.errors import ConfigError
from admf.runtime.factory import Endpoints, broker_section, get_adapter
from admf.runtime.rundir import resolved_config

SRC = Path(__file__).resolve().parents[2] / "src" / "admf"


def _cfg(tmp: Path, **over) -> object:
    raw = live_config_dict(tmp)
    raw.update(over)
    return config_from_dict(raw, base_dir=str(tmp))


def test_an_unknown_broker_is_one_clear_config_error(tmp_path: Path) -> None:
    raw = live_config_dict(tmp_path)
    raw["execution"]["broker"] = "ib"
    with pytest.raises(ConfigError, match=r"execution\.broker: .*'simulated', 'alpaca' or 'paper'.*\(got 'ib'\)"):
        config_from_dict(raw, base_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="unknown broker"):
        get_adapter("ib")


def test_legacy_live_trading_fields_map_into_the_broker_section_and_the_section_wins(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, broker={"feed": "sip", "stale_after": 5})
    cfg.live_trading.model_copy()  # legacy keys: api_key, secret_key from live_trading
    section = broker_section(cfg, Endpoints(trading_url="http://127.0.0.1:1"))
    assert section["feed"] == "sip" and section["stale_after"] == 5
    assert section["base_url"] == "http://127.0.0.1:1"  # the CLI's URL is a broker setting
    adapter = get_adapter(cfg.execution.broker)
    settings = adapter.settings(section)
    assert adapter.is_paper(settings)
    assert cfg.live_trading.require("secret_key") not in repr(settings)
    assert not adapter.is_paper(adapter.settings(broker_section(cfg, paper=False)))


def test_the_adapter_validates_its_section(tmp_path: Path) -> None:
    adapter = get_adapter("alpaca")
    base = broker_section(_cfg(tmp_path))
    with pytest.raises(ConfigError, match=r"broker\.base_ur: not a setting of broker alpaca; accepted: .*base_url"):
        adapter.settings({**base, "base_ur": "x"})
    with pytest.raises(ConfigError, match=r"broker\.feed: unknown feed \(got 'cme'\)"):
        adapter.settings({**base, "feed": "cme"})
    with pytest.raises(ConfigError, match=r"broker\.api_key: missing .*ALPACA_API_KEY"):
        adapter.settings({**base, "api_key": ""})
    with pytest.raises(ConfigError, match="environment variable ALPACA_API_KEY is not set"):
        broker_section(_cfg(tmp_path, broker={"api_key": Unresolved("ALPACA_API_KEY")}))


def test_secrets_in_the_broker_section_are_redacted_in_the_run_config(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, broker={"api_key": "AKEY123", "secret_key": "SHH456", "feed": "iex"})
    out = resolved_config(cfg)
    assert out["broker"] == {"api_key": "<redacted>", "secret_key": "<redacted>", "feed": "iex"}


@pytest.mark.parametrize("folder", ["runtime", "config", "cli", "execution", "core", "risk", "portfolio"])
def test_no_broker_is_named_outside_its_adapter_folder(folder: str) -> None:
    named = []
    for path in (SRC / folder).rglob("*.py"):
        if folder == "cli" and path.name == "main.py":
            continue  # the original system's legacy `--alpaca` flag
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"alpaca", line, re.IGNORECASE):
                named.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert not named, "\n".join(named)


def test_admf_live_keeps_the_configs_broker_and_defaults_only_a_backtest_config(tmp_path: Path) -> None:
    from admf.adapters import DEFAULT_LIVE
    from admf.runtime.factory import live_broker

    raw = live_config_dict(tmp_path)
    raw["execution"]["broker"] = "paper"
    paper = config_from_dict(raw, base_dir=str(tmp_path))
    assert live_broker(paper) == "paper"  # `admf live` on a paper config trades on the paper broker
    raw["execution"]["broker"] = "simulated"
    backtest = config_from_dict(raw, base_dir=str(tmp_path))
    assert live_broker(backtest) == DEFAULT_LIVE
    assert live_broker(paper, "alpaca") == "alpaca"  # --broker wins


def test_admf_live_refuses_an_unknown_broker_flag_in_one_line() -> None:
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "admf.cli.main", "live", "x.yaml", "--broker", "ib"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "invalid choice: 'ib'" in res.stderr and "Traceback" not in res.stderr
