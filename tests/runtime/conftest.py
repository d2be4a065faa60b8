"""Fixtures for the live-session tests; the harness itself is in runtime_support.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runtime_support import FAST, Harness, bars_file, live_config

from admf.adapters.alpaca.settings import AlpacaSettings
from admf.emulator.broker import Broker
from admf.emulator.testing import start_emulator


@pytest.fixture
def post_log(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """client_order_id of every order POST the emulator's broker handled (422 duplicates included);
    a class-level spy, so it survives an emulator restart that rebuilds the broker."""
    seen: list[str] = []
    real = Broker.submit

    def submit(self: Broker, body: Any, *, internal: bool = False) -> dict[str, Any]:
        if not internal:
            seen.append(body.get("client_order_id") if isinstance(body, dict) else None)
        return real(self, body, internal=internal)

    monkeypatch.setattr(Broker, "submit", submit)
    return seen


@pytest.fixture
def harness(tmp_path: Path, post_log: list[str]) -> Iterator[Any]:
    made: list[Harness] = []

    def make(strategy: dict[str, Any] | None = None, emulator: dict[str, Any] | None = None,
             settings: AlpacaSettings = FAST, **live: Any) -> Harness:
        path = bars_file(tmp_path)
        emu = start_emulator(data=str(path), symbols=["SPY"], rate_limit=0, **(emulator or {}))
        h = Harness(emu, live_config(tmp_path, strategy, **live), settings, post_log)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()
        h.emu.stop()
