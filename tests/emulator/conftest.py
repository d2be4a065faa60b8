"""Fixtures of the emulator tests (emulator/emulator_factory are the ones other folders import)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from admf.emulator import Emulator
from admf.emulator.testing import TEST_KEY, TEST_SECRET, emulator, emulator_factory  # noqa: F401


class Rest:
    """Raw HTTP against an emulator (requests, keys set) for protocol-level assertions."""

    def __init__(self, emu: Emulator, key: str = TEST_KEY, secret: str = TEST_SECRET) -> None:
        self.base = emu.trading_url
        self.s = requests.Session()
        self.s.headers.update({"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret})

    def __call__(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 10)
        return self.s.request(method, self.base + path, **kw)

    def order(self, timeout: float = 10, **body: Any) -> requests.Response:
        body.setdefault("symbol", "SPY")
        body.setdefault("side", "buy")
        body.setdefault("type", "market")
        body.setdefault("time_in_force", "day")
        return self("POST", "/v2/orders", json=body, timeout=timeout)


@pytest.fixture
def rest() -> Callable[..., Rest]:
    return Rest


@pytest.fixture
def trading_client() -> Callable[[Emulator], Any]:
    from alpaca.trading.client import TradingClient

    def make(emu: Emulator) -> TradingClient:
        tc = TradingClient(emu.api_key, emu.secret_key, paper=True, url_override=emu.trading_url)
        tc._retry = 0  # no 3 s sleeps on 429/504 in tests
        return tc

    return make


def wait_until(pred: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    end = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


@pytest.fixture
def until() -> Callable[..., Any]:
    return wait_until
