"""Parameter grids: a list or an inclusive `range(a, b, step)` makes a parameter vary."""

from __future__ import annotations

import itertools
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from admf.core.errors import ConfigError

_RANGE = re.compile(r"^\s*range\s*\((.*)\)\s*$")
_RANGE_START = re.compile(r"^\s*range\s*\(")


def parse_range(text: str, *, file: str | None, field: str) -> list[int | float]:
    """`range(a, b, step)` inclusive of b (as in the original system); step defaults to 1."""
    m = _RANGE.match(text)
    if not m:
        if ")" not in text:
            # YAML splits `{fast: range(5, 15, 5)}` at its commas; what reaches us is "range(5"
            raise ConfigError("a range(...) inside {...} must be quoted", file=file, field=field, value=text,
                              accepted=f"{field.rsplit('.', 1)[-1]}: \"{text}, ...)\", or the block form")
        raise ConfigError("not a range", file=file, field=field, value=text, accepted="range(a, b, step)")
    parts = [p.strip() for p in m.group(1).split(",")]
    if len(parts) not in (2, 3):
        raise ConfigError("range needs 2 or 3 numbers", file=file, field=field, value=text,
                          accepted="range(a, b) or range(a, b, step), inclusive of b")
    try:
        nums = [Decimal(p) for p in parts]
    except InvalidOperation:
        raise ConfigError("range bounds must be numbers", file=file, field=field, value=text,
                          accepted="range(a, b, step) with numbers") from None
    a, b = nums[0], nums[1]
    step = nums[2] if len(nums) == 3 else Decimal(1)
    if step <= 0:
        raise ConfigError("range step must be positive", file=file, field=field, value=text,
                          accepted="step > 0")
    if b < a:
        raise ConfigError("range end is below its start", file=file, field=field, value=text,
                          accepted="range(a, b, step) with a <= b")
    count = int((b - a) / step) + 1
    if count > 100_000:
        raise ConfigError("range has too many values", file=file, field=field, value=text,
                          accepted="at most 100000 values")
    integral = all(x == x.to_integral_value() for x in (a, b, step)) and "." not in m.group(1)
    vals = [a + step * i for i in range(count)]
    return [int(x) for x in vals] if integral else [float(x) for x in vals]


def axis(value: Any, *, file: str | None, field: str) -> list[Any] | None:
    """The values a parameter takes in a grid, or None when it is a single value."""
    if isinstance(value, list):
        if not value:
            raise ConfigError("empty list of values", file=file, field=field, value=value,
                              accepted="a value, a non-empty list, or range(a, b, step)")
        return value
    if isinstance(value, str) and _RANGE_START.match(value):
        return parse_range(value, file=file, field=field)
    return None


def product(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(axes[k] for k in keys))]
