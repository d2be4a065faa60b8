"""A live session against the emulator, stepped bar by bar, for end-to-end and parity tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from admf.adapters.alpaca.settings import AlpacaSettings
from admf.config.loader import config_from_dict
from admf.data.loaders import save_bars
from admf.data.sample import generate_sample
from admf.emulator.testing import TEST_KEY, TEST_SECRET, start_emulator
from admf.runtime.factory import Endpoints, LiveRunner

FAST = AlpacaSettings(timeout=2.0, max_retries=3, backoff_base=0.02, backoff_cap=0.2, ws_backoff_base=0.02,
                      ws_backoff_cap=0.2, ws_conflict_delay=0.2, heartbeat=0.5, silence_timeout=1.0,
                      poll_interval=0.2, reconcile_slack=1.0, rate_limit_patience=10.0)


def bars_file(tmp: Path, days: int = 1, seed: int = 11) -> Path:
    frame = generate_sample("SPY", "1m", start="2024-03-05", days=days, seed=seed)
    return save_bars(frame, tmp / "SPY_1m.csv")


def live_config(tmp: Path, strategy: dict[str, Any] | None = None, **live: Any) -> Any:
    entry = strategy or {"sma_crossover": {"fast": 3, "slow": 8}}
    return config_from_dict({
        "name": "live-test", "data": "SPY_1m", "data_dir": str(tmp),
        "strategy": [{**entry, "sizing": {"type": "fixed_shares", "shares": 10}}],
        "execution": {"broker": "alpaca", "execution_mode": "async"},
        "live_trading": {"api_key": TEST_KEY, "secret_key": TEST_SECRET, "warmup_bars": 0,
                         "journal": str(tmp / "journal.sqlite"), **live},
        "output": {"dir": str(tmp / "runs")},
    }, base_dir=str(tmp))


class Harness:
    """One emulator and one live runner; `play(n)` steps the emulator and waits for the session."""

    def __init__(self, emu: Any, cfg: Any) -> None:
        self.emu = emu
        self.cfg = cfg
        self.runner: LiveRunner | None = None

    def endpoints(self) -> Endpoints:
        e = self.emu
        return Endpoints(e.trading_url, e.data_url, e.stream_url, e.data_stream_url("iex"))

    def start(self) -> Any:
        self.runner = LiveRunner(self.cfg, paper=True, endpoints=self.endpoints(),
                                 journal_path=Path(self.cfg.live_trading.journal), settings=FAST, warmup=False)
        return self.runner.start()

    @property
    def session(self) -> Any:
        assert self.runner is not None and self.runner.session is not None
        return self.runner.session

    def settle(self, timeout: float = 5.0) -> None:
        """Apply events until no order of ours is open at the broker and the inbox is quiet."""
        s = self.session
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s.run(duration=0.05)
            if not any(slot.working for slot in s.build.all_slots) and not self.emu.state()["open_orders"]:
                s.run(duration=0.05)
                return
        raise AssertionError(f"session did not settle: {s.status_line()}")

    def play(self, n: int, timeout: float = 5.0) -> None:
        for _ in range(n):
            want = self.session.stats.bars + 1
            self.emu.step(1)
            self.session.run(until=lambda w=want: self.session.stats.bars >= w, duration=timeout)
            assert self.session.stats.bars >= want, "bar did not reach the session"
            self.settle(timeout)

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Any]:
    made: list[Harness] = []

    def make(strategy: dict[str, Any] | None = None, emulator: dict[str, Any] | None = None, **live: Any) -> Harness:
        path = bars_file(tmp_path)
        emu = start_emulator(data=str(path), symbols=["SPY"], rate_limit=0, **(emulator or {}))
        h = Harness(emu, live_config(tmp_path, strategy, **live))
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()
        h.emu.stop()
