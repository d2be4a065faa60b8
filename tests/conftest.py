"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# ADMF_SHARED_DATA points a git worktree (not beside shared/) at the same files
SHARED_DATA = Path(os.environ.get("ADMF_SHARED_DATA") or REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real SPY bars shipped beside the repository; skips when absent."""
    if not (SHARED_DATA / "SPY_5m.csv").exists():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
