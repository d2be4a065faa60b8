"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real SPY bars shipped beside the repository; skips when absent."""
    if not (SHARED_DATA / "SPY_5m.csv").exists():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
