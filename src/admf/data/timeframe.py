"""Symbol specs ("SPY_5m"), and the data layer's view of the one timeframe grammar (core/timeframe.py)."""

from __future__ import annotations

from admf.core.errors import ConfigError
from admf.core.timeframe import (
    ACCEPTED_TIMEFRAMES,
    canonical_timeframe,
    format_timeframe,
    split_timeframe,
    timeframe_ns,
)
from admf.core.units import DAY_NS as NS_PER_DAY
from admf.core.units import HOUR_NS as NS_PER_HOUR
from admf.core.units import MINUTE_NS as NS_PER_MINUTE

__all__ = ["ACCEPTED_SPECS", "ACCEPTED_TIMEFRAMES", "NS_PER_DAY", "NS_PER_HOUR", "NS_PER_MINUTE",
           "canonical_timeframe", "format_timeframe", "is_timeframe", "parse_symbol_spec", "timeframe_ns"]

ACCEPTED_SPECS = "SYMBOL_TIMEFRAME, e.g. SPY_5m, BRK.B_1h, QQQ_1d, or a path to a .csv/.csv.gz/.parquet file"


def is_timeframe(tf: str) -> bool:
    """True when `tf` parses as a timeframe."""
    return split_timeframe(tf) is not None


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
