"""Pytest fixtures for any test folder: `from admf.emulator.testing import emulator, emulator_factory`.

    def test_something(emulator):          # fresh manual-mode emulator, one bar played (a price exists)
        emulator.trading_url, emulator.stream_url, emulator.data_stream_url("iex")
        emulator.step()

    def test_other(emulator_factory):      # any EmulatorConfig option
        emu = emulator_factory(symbols=["SPY", "QQQ"], rate_limit=0, partial_fill_prob=0.5)

Both stop their emulators at the end of the test. `TEST_KEY`/`TEST_SECRET` are the keys they accept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from admf.emulator.config import EmulatorConfig
from admf.emulator.runner import Emulator

TEST_KEY = "PKTESTEMULATOR"
TEST_SECRET = "SKTESTEMULATORSECRET"


def start_emulator(**config: Any) -> Emulator:
    """A started emulator on a free port; defaults: test keys, manual mode, one bar played."""
    config.setdefault("api_key", TEST_KEY)
    config.setdefault("secret_key", TEST_SECRET)
    config.setdefault("start", 1)
    config.setdefault("port", 0)
    return Emulator(EmulatorConfig.from_kwargs(**config)).start()


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def make(**config: Any) -> Emulator:
        emu = start_emulator(**config)
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    return emulator_factory()
