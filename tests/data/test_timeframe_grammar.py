"""One timeframe grammar for config text, the Alpaca adapter and the emulator's wire."""

from __future__ import annotations

import pytest

from admf.adapters.alpaca.models import parse_timeframe as adapter_tf
from admf.core.errors import ConfigError
from admf.core.timeframe import parse_wire_timeframe, wire_timeframe
from admf.data.timeframe import canonical_timeframe, timeframe_ns


@pytest.mark.parametrize(("text", "canon", "wire"), [
    ("5m", "5m", "5Min"), ("5min", "5m", "5Min"), ("5Min", "5m", "5Min"), ("5T", "5m", "5Min"),
    ("1h", "1h", "1Hour"), ("1Hour", "1h", "1Hour"), ("60m", "60m", "60Min"), ("1d", "1d", "1Day"),
    ("1Day", "1d", "1Day"), ("1w", "1w", "1Week"),
])
def test_every_spelling_means_the_same_everywhere(text: str, canon: str, wire: str) -> None:
    assert canonical_timeframe(text) == canon
    assert wire_timeframe(text) == adapter_tf(text) == (wire, timeframe_ns(text) // 1_000_000_000)


@pytest.mark.parametrize("bad", ["30Sec", "0m", "", "m5", "5 parsecs"])
def test_bad_spellings_are_one_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="not a timeframe"):
        timeframe_ns(bad)
    with pytest.raises(ConfigError):
        adapter_tf(bad)


def test_the_wire_dialect_is_alpacas() -> None:
    assert parse_wire_timeframe("5Min") == (5, "Min") == parse_wire_timeframe("5T")
    assert parse_wire_timeframe("1M") == (1, "Month")  # on the wire M is a month
    assert parse_wire_timeframe("3Month") == (3, "Month")
    assert parse_wire_timeframe("60Min") is None and parse_wire_timeframe("2Day") is None
    assert parse_wire_timeframe("5m") is None  # case-sensitive, as Alpaca is
