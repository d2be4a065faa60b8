"""Fixtures for the config tests: a writer for YAML files and a minimal valid config."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"


def base(**over: Any) -> dict[str, Any]:
    """A minimal valid raw config on the shipped sample data, with keys replaced by `over`."""
    raw: dict[str, Any] = {"name": "t", "data_dir": str(DATA), "data": "SPY_5m",
                           "strategy": [{"bollinger_bands": {"period": 20}}]}
    raw.update(over)
    return raw


@pytest.fixture
def raw_config() -> Callable[..., dict[str, Any]]:
    """raw_config(**over) -> a minimal valid raw config dict (see `base`)."""
    return base


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(text, name="cfg.yaml") -> the path of a dedented YAML file under tmp_path."""

    def _write(text: str, name: str = "cfg.yaml") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text).lstrip("\n"))
        return p

    return _write
