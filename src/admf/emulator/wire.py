"""Wire helpers: decimals as strings, RFC 3339 timestamps, error bodies, id formats."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext

import msgspec

from admf.core.units import DAY_NS, MINUTE_NS, NS, NY  # noqa: F401  (the emulator's modules import them from here)

ZERO = Decimal(0)
ONE = Decimal(1)

JSON_CT = "application/json; charset=UTF-8"

_enc = msgspec.json.Encoder()
encode_json = _enc.encode
decode_json = msgspec.json.decode


class WireError(Exception):
    """An Alpaca-shaped error: HTTP status plus a JSON body."""

    def __init__(self, status: int, code: int | None, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict:
        out: dict = {} if self.code is None else {"code": self.code}
        out["message"] = self.message
        out.update(self.extra)
        return out


def unprocessable(message: str, code: int = 40010001) -> WireError:
    return WireError(422, code, message)


def dec(value: object, field: str) -> Decimal:
    """A decimal from a JSON number or string; 422 when it is neither."""
    if isinstance(value, bool) or value is None:
        raise unprocessable(f"invalid {field}")
    if isinstance(value, Decimal):
        return value
    try:
        d = Decimal(value) if isinstance(value, str | int) else Decimal(repr(float(value)))  # type: ignore[arg-type]
    except (InvalidOperation, ValueError, TypeError):
        raise unprocessable(f"invalid {field}") from None
    if not d.is_finite():
        raise unprocessable(f"invalid {field}")
    return d


def dstr(d: Decimal | None) -> str | None:
    """Decimal to the plain string Alpaca sends ("10", "171.25"), never an exponent."""
    if d is None:
        return None
    if d == d.to_integral_value():
        return str(int(d))
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def fdec(x: float) -> Decimal:
    """A float price from a bar file as the shortest decimal that round-trips."""
    return Decimal(repr(float(x)))


def q9(d: Decimal) -> Decimal:
    """Round to 9 decimal places (Alpaca's quantity precision)."""
    with localcontext() as ctx:
        ctx.prec = 40
        return d.quantize(Decimal("1e-9"))


_SECOND_PREFIX: dict[int, str] = {}


def _prefix(sec: int) -> str:
    p = _SECOND_PREFIX.get(sec)
    if p is None:
        if len(_SECOND_PREFIX) > 4096:
            _SECOND_PREFIX.clear()
        tm = time.gmtime(sec)
        p = _SECOND_PREFIX[sec] = (
            f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}T{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"
        )
    return p


def iso_us(ns: int) -> str:
    """UTC RFC 3339 with microseconds, as Alpaca stamps orders ("...T15:01:02.118233Z")."""
    sec, rem = divmod(ns, NS)
    return f"{_prefix(sec)}.{rem // 1000:06d}Z"


def iso_ns(ns: int) -> str:
    """UTC RFC 3339 with the fraction trimmed ("...T13:30:00Z", "...T15:51:44.208Z")."""
    sec, rem = divmod(ns, NS)
    head = _prefix(sec)
    if rem:
        return head + "." + f"{rem:09d}".rstrip("0") + "Z"
    return head + "Z"


def iso_et(ns: int) -> str:
    """New York wall time with offset and nanoseconds, as the clock endpoint sends it."""
    sec, rem = divmod(ns, NS)
    dt = datetime.fromtimestamp(sec, NY)
    off = dt.utcoffset() or timedelta(0)
    mins = int(off.total_seconds()) // 60
    sign = "-" if mins < 0 else "+"
    mins = abs(mins)
    frac = f".{rem:09d}" if rem else ""
    return f"{dt:%Y-%m-%dT%H:%M:%S}{frac}{sign}{mins // 60:02d}:{mins % 60:02d}"


def ns_of(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * NS + dt.microsecond * 1000


def et_date(ns: int) -> date:
    return datetime.fromtimestamp(ns // NS, NY).date()


_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|z|[+\- ]\d{2}:?\d{2})?)?$"
)


def parse_time(text: str, field: str = "time") -> int:
    """RFC 3339 (or a date) to ns since epoch. Naive means UTC; a date means its UTC midnight.

    A space before the offset is read as '+', since a raw '+' in a query string decodes to a space.
    """
    m = _TIME_RE.match(text.strip())
    if not m:
        raise WireError(422, 40010001, f"invalid {field}: {text}")
    y, mo, d, hh, mm, ss, frac, tz = m.groups()
    try:
        base = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=UTC)
    except ValueError:
        raise WireError(422, 40010001, f"invalid {field}: {text}") from None
    ns = int(base.timestamp()) * NS
    if frac:
        ns += int(frac.ljust(9, "0"))
    if tz and tz not in ("Z", "z"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        ns -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * NS
    return ns


def parse_bool(text: str | None, default: bool = False) -> bool:
    if text is None or text == "":
        return default
    return text.strip().lower() in ("true", "1", "yes")


def activity_id(ns: int, uid: str) -> str:
    """Alpaca activity ids: "<YYYYMMDDhhmmssmmm>::<uuid>"."""
    sec, rem = divmod(ns, NS)
    tm = time.gmtime(sec)
    return (
        f"{tm.tm_year:04d}{tm.tm_mon:02d}{tm.tm_mday:02d}{tm.tm_hour:02d}{tm.tm_min:02d}"
        f"{tm.tm_sec:02d}{rem // 1_000_000:03d}::{uid}"
    )
