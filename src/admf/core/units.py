"""Time units and numeric tolerances, named once.

Times are int nanoseconds since the Unix epoch, UTC. The exchange's local time is New York.
QTY_EPS is the tolerance for float share quantities (a remainder below it is zero); PRICE_EPS
the one for float prices compared at the boundary of a rule (a stop touched "exactly").
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

NS = 1_000_000_000  # ns per second
US_NS = 1_000  # ns per microsecond
MS_NS = 1_000_000  # ns per millisecond
MINUTE_NS = 60 * NS
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS

NY_TZ_NAME = "America/New_York"
NY = ZoneInfo(NY_TZ_NAME)

QTY_EPS = 1e-9
PRICE_EPS = 1e-9
