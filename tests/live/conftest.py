"""Fixtures for live-boundary tests: an emulator on loopback and a live engine wired to it."""

from __future__ import annotations

import threading
import time

import pytest


@pytest.fixture
def no_thread_leaks():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        extra = {t for t in set(threading.enumerate()) - before if t.is_alive()}
        if not extra:
            return
        time.sleep(0.02)
    raise AssertionError(f"threads leaked: {[t.name for t in extra]}")
