"""Fixtures of the emulator tests (the same ones other folders import from admf.emulator.testing)."""

from admf.emulator.testing import TEST_KEY, TEST_SECRET, emulator, emulator_factory  # noqa: F401
