"""The one parameter declaration, for strategies and features: type, default, range, choices.

`describe()` is both what `admf strategies` / `admf features` list and what an error names as
accepted, and `coerce()` is the check, so the advertised range is the validated one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from numbers import Integral, Real
from typing import Any

from admf.core.errors import ConfigError


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter. `min_open` excludes `min` itself (a width > 0); str choices match any case."""

    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""
    min_open: bool = False

    def but(self, **changes: Any) -> Param:
        """The same declaration with other fields (a strategy reusing a feature's, with its own default)."""
        return replace(self, **changes)

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        kind = self.type.__name__
        if self.min is not None and self.max is not None and not self.min_open:
            return f"{kind} in [{_fmt(self.min)}, {_fmt(self.max)}]"
        parts = []
        if self.min is not None:
            parts.append(f"{'>' if self.min_open else '>='} {_fmt(self.min)}")
        if self.max is not None:
            parts.append(f"<= {_fmt(self.max)}")
        return f"{kind} {' and '.join(parts)}".strip()

    def coerce(self, value: Any, *, file: str | None = None, field: str) -> Any:
        """The canonical value (period=20.0 -> 20, "NY" -> "ny"), or one ConfigError naming field and range."""
        acc = self.describe()
        if self.type is bool:
            if not isinstance(value, bool):
                raise ConfigError("expected true or false", file=file, field=field, value=value)
            return value
        if self.type is str:
            if not isinstance(value, str):
                raise ConfigError("expected text", file=file, field=field, value=value, accepted=acc)
            if self.choices:
                match = next((c for c in self.choices if c.lower() == value.lower()), None)
                if match is None:
                    raise ConfigError("value not allowed", file=file, field=field, value=value, accepted=acc)
                return match
            return value
        if isinstance(value, bool) or not isinstance(value, Real):
            what = "expected a whole number" if self.type is int else "expected a number"
            raise ConfigError(what, file=file, field=field, value=value, accepted=acc)
        f = float(value)
        if not math.isfinite(f):
            raise ConfigError("expected a finite number", file=file, field=field, value=value, accepted=acc)
        if self.type is int:
            if not isinstance(value, Integral) and f != int(f):
                raise ConfigError("expected a whole number", file=file, field=field, value=value, accepted=acc)
            out: Any = int(value) if isinstance(value, Integral) else int(f)
        else:
            out = f
        if self.choices and out not in self.choices:
            raise ConfigError("value not allowed", file=file, field=field, value=value, accepted=acc)
        if self.min is not None and (out < self.min or (self.min_open and out == self.min)) or \
                self.max is not None and out > self.max:
            raise ConfigError("value out of range", file=file, field=field, value=value, accepted=acc)
        return out
