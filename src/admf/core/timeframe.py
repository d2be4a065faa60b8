"""The one timeframe grammar: config spellings ("5m", "5min", "1h", "1d") and the broker wire's ("5Min", "1Hour").

Config and CLI text is case-insensitive: m/min/t minutes, h/hr/hour hours, d/day days, w/week weeks.
The wire spelling (the market-data API's) is case-sensitive, because there "M" is a month: Min/T,
Hour/H, Day/D, Week/W, Month/M, with the ranges that API accepts (1-59 Min, 1-23 Hour, 1 Day,
1 Week, 1/2/3/6/12 Month).
"""

from __future__ import annotations

import re

from admf.core.errors import ConfigError
from admf.core.units import DAY_NS, HOUR_NS, MINUTE_NS, NS

WEEK_NS = 7 * DAY_NS
ACCEPTED_TIMEFRAMES = "<n>m / <n>min (minutes), <n>h (hours), <n>d (days), e.g. 1m, 5m, 15m, 30m, 1h, 4h, 1d"

_UNITS = {"m": MINUTE_NS, "min": MINUTE_NS, "t": MINUTE_NS, "h": HOUR_NS, "hr": HOUR_NS, "hour": HOUR_NS,
          "d": DAY_NS, "day": DAY_NS, "w": WEEK_NS, "week": WEEK_NS}
_CANON_UNIT = {MINUTE_NS: "m", HOUR_NS: "h", DAY_NS: "d", WEEK_NS: "w"}
_WIRE_NAME = {MINUTE_NS: "Min", HOUR_NS: "Hour", DAY_NS: "Day", WEEK_NS: "Week"}
_TF_RE = re.compile(r"^\s*(\d*)\s*([a-zA-Z]+)\s*$")
_WIRE_UNIT = {"Min": "Min", "T": "Min", "Hour": "Hour", "H": "Hour", "Day": "Day", "D": "Day", "Week": "Week",
              "W": "Week", "Month": "Month", "M": "Month"}
_WIRE_RANGE: dict[str, range | tuple[int, ...]] = {"Min": range(1, 60), "Hour": range(1, 24), "Day": (1,),
                                                   "Week": (1,), "Month": (1, 2, 3, 6, 12)}


def split_timeframe(tf: str) -> tuple[int, int] | None:
    """(count, unit ns) of a config timeframe, or None when it does not parse."""
    m = _TF_RE.match(tf) if isinstance(tf, str) else None
    if m is None:
        return None
    unit = _UNITS.get(m.group(2).lower())
    n = int(m.group(1)) if m.group(1) else 1
    return None if unit is None or n <= 0 else (n, unit)


def _parts(tf: str) -> tuple[int, int]:
    parts = split_timeframe(tf)
    if parts is None:
        raise ConfigError("not a timeframe", field="timeframe", value=tf, accepted=ACCEPTED_TIMEFRAMES)
    return parts


def timeframe_ns(tf: str) -> int:
    """Length of a timeframe in nanoseconds: "5m" -> 300_000_000_000."""
    n, unit = _parts(tf)
    return n * unit


def canonical_timeframe(tf: str) -> str:
    """The one spelling used in file names and reports: "5min" -> "5m", "60m" -> "60m", "1D" -> "1d"."""
    n, unit = _parts(tf)
    return f"{n}{_CANON_UNIT[unit]}"


def format_timeframe(ns: int) -> str:
    """The shortest canonical timeframe of `ns` nanoseconds: 300e9 -> "5m", 3600e9 -> "1h"."""
    for unit in (DAY_NS, HOUR_NS, MINUTE_NS):
        if ns > 0 and ns % unit == 0:
            return f"{ns // unit}{_CANON_UNIT[unit]}"
    raise ConfigError("not a whole number of minutes", field="timeframe", value=ns, accepted=ACCEPTED_TIMEFRAMES)


def wire_timeframe(tf: str) -> tuple[str, int]:
    """A config timeframe as the wire string and its seconds: "5m" -> ("5Min", 300)."""
    n, unit = _parts(tf)
    return f"{n}{_WIRE_NAME[unit]}", n * unit // NS


def parse_wire_timeframe(text: str) -> tuple[int, str] | None:
    """A wire timeframe ("5Min", "1Hour", "1Day", "1Week", "3Month") as (count, unit), or None."""
    m = re.match(r"^(\d+)([A-Za-z]+)$", text.strip()) if isinstance(text, str) else None
    if m is None or m.group(2) not in _WIRE_UNIT:
        return None
    n, unit = int(m.group(1)), _WIRE_UNIT[m.group(2)]
    return (n, unit) if n in _WIRE_RANGE[unit] else None
