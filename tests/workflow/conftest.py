"""Fixtures of the research-workflow tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_support import SHARED


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/data (or $ADMF_SHARED_DATA) with the real SPY 5-minute bars; skips when absent."""
    if not (SHARED / "SPY_5m.csv").exists():
        pytest.skip("../shared/data is not present")
    return SHARED
