"""Timeframe strings ("5m", "1h", "1d") and symbol specs ("SPY_5m")."""

from __future__ import annotations

import re

from admf.core.errors import ConfigError

NS_PER_MINUTE = 60 * 1_000_000_000
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR

ACCEPTED_TIMEFRAMES = "<n>m / <n>min (minutes), <n>h (hours), <n>d (days), e.g. 1m, 5m, 15m, 30m, 1h, 4h, 1d"
ACCEPTED_SPECS = "SYMBOL_TIMEFRAME, e.g. SPY_5m, BRK.B_1h, QQQ_1d, or a path to a .csv/.csv.gz/.parquet file"

_UNITS = {
    "m": NS_PER_MINUTE,
    "min": NS_PER_MINUTE,
    "t": NS_PER_MINUTE,  # pandas' old alias for minutes
    "h": NS_PER_HOUR,
    "hr": NS_PER_HOUR,
    "d": NS_PER_DAY,
}
_CANON_UNIT = {NS_PER_MINUTE: "m", NS_PER_HOUR: "h", NS_PER_DAY: "d"}
_TF_RE = re.compile(r"^\s*(\d*)\s*([a-zA-Z]+)\s*$")


def _split(tf: str) -> tuple[int, int] | None:
    m = _TF_RE.match(tf) if isinstance(tf, str) else None
    if m is None:
        return None
    unit = _UNITS.get(m.group(2).lower())
    if unit is None:
        return None
    n = int(m.group(1)) if m.group(1) else 1
    if n <= 0:
        return None
    return n, unit


def is_timeframe(tf: str) -> bool:
    """True when `tf` parses as a timeframe."""
    return _split(tf) is not None


def timeframe_ns(tf: str) -> int:
    """Length of a timeframe in nanoseconds: "5m" -> 300_000_000_000."""
    parts = _split(tf)
    if parts is None:
        raise ConfigError("not a timeframe", field="timeframe", value=tf, accepted=ACCEPTED_TIMEFRAMES)
    return parts[0] * parts[1]


def canonical_timeframe(tf: str) -> str:
    """The one spelling used in file names and reports: "5min" -> "5m", "60m" -> "60m", "1D" -> "1d"."""
    parts = _split(tf)
    if parts is None:
        raise ConfigError("not a timeframe", field="timeframe", value=tf, accepted=ACCEPTED_TIMEFRAMES)
    n, unit = parts
    return f"{n}{_CANON_UNIT[unit]}"


def format_timeframe(ns: int) -> str:
    """The shortest canonical timeframe of `ns` nanoseconds: 300e9 -> "5m", 3600e9 -> "1h"."""
    for unit in (NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE):
        if ns > 0 and ns % unit == 0:
            return f"{ns // unit}{_CANON_UNIT[unit]}"
    raise ConfigError("not a whole number of minutes", field="timeframe", value=ns, accepted=ACCEPTED_TIMEFRAMES)


def parse_symbol_spec(spec: str) -> tuple[str, str]:
    """Split "SPY_5m" into ("SPY", "5m"); the timeframe is the part after the last underscore.

    The symbol may hold dots or underscores ("BRK.B_1h", "MY_FUND_1d"). A spec with no
    timeframe is an error rather than a silent default, so a typo never loads the wrong bars.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("empty data spec", field="data", value=spec, accepted=ACCEPTED_SPECS)
    text = spec.strip()
    symbol, sep, tf = text.rpartition("_")
    if not sep or not symbol:
        raise ConfigError("data spec has no timeframe", field="data", value=spec, accepted=ACCEPTED_SPECS)
    if not is_timeframe(tf):
        raise ConfigError(
            f"data spec timeframe {tf!r} is not a timeframe ({ACCEPTED_TIMEFRAMES})",
            field="data",
            value=spec,
            accepted=ACCEPTED_SPECS,
        )
    return symbol, canonical_timeframe(tf)
