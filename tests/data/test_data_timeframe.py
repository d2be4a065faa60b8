from __future__ import annotations

import pytest

from admf.core.errors import ConfigError
from admf.data.timeframe import canonical_timeframe, format_timeframe, parse_symbol_spec, timeframe_ns

MIN = 60_000_000_000


@pytest.mark.parametrize(
    ("tf", "ns", "canon"),
    [
        ("1m", MIN, "1m"),
        ("5m", 5 * MIN, "5m"),
        ("5min", 5 * MIN, "5m"),
        ("5T", 5 * MIN, "5m"),
        ("15m", 15 * MIN, "15m"),
        ("30m", 30 * MIN, "30m"),
        ("1h", 60 * MIN, "1h"),
        ("4H", 240 * MIN, "4h"),
        ("1d", 1440 * MIN, "1d"),
        ("D", 1440 * MIN, "1d"),
    ],
)
def test_timeframes(tf: str, ns: int, canon: str) -> None:
    assert timeframe_ns(tf) == ns
    assert canonical_timeframe(tf) == canon


def test_format_timeframe() -> None:
    assert format_timeframe(15 * MIN) == "15m"
    assert format_timeframe(120 * MIN) == "2h"
    assert format_timeframe(1440 * MIN) == "1d"


@pytest.mark.parametrize("bad", ["5x", "", "0m", "m5", "5 minutes please", "-1m"])
def test_bad_timeframe(bad: str) -> None:
    with pytest.raises(ConfigError) as e:
        timeframe_ns(bad)
    assert "1m, 5m" in str(e.value)  # the accepted forms are listed


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("SPY_5m", ("SPY", "5m")),
        ("BRK.B_1h", ("BRK.B", "1h")),
        ("MY_FUND_1d", ("MY_FUND", "1d")),
        ("spy_15min", ("spy", "15m")),
    ],
)
def test_parse_symbol_spec(spec: str, want: tuple[str, str]) -> None:
    assert parse_symbol_spec(spec) == want


@pytest.mark.parametrize("bad", ["SPY", "SPY_", "_5m", "SPY_xx", ""])
def test_bad_symbol_spec(bad: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_symbol_spec(bad)
    msg = str(e.value)
    assert msg.startswith("data:")
    assert "SPY_5m" in msg  # names an accepted form
