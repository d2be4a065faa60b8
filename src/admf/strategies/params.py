"""Declared parameter spaces of strategies, and their validation."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from admf.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: its type, default, bounds, and the values tried by default in a sweep."""

    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        kind = self.type.__name__
        if self.min is not None and self.max is not None:
            return f"{kind} in [{self.min}, {self.max}]"
        if self.min is not None:
            return f"{kind} >= {self.min}"
        return kind

    def coerce(self, value: Any, *, file: str | None, field: str) -> Any:
        if self.type is bool:
            if not isinstance(value, bool):
                raise ConfigError("expected true or false", file=file, field=field, value=value)
            return value
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
                raise ConfigError("expected a whole number", file=file, field=field, value=value,
                                  accepted=self.describe())
            value = int(value)
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError("expected a number", file=file, field=field, value=value,
                                  accepted=self.describe())
            value = float(value)
        elif self.type is str and not isinstance(value, str):
            raise ConfigError("expected text", file=file, field=field, value=value, accepted=self.describe())
        if self.choices and value not in self.choices:
            raise ConfigError("value not allowed", file=file, field=field, value=value, accepted=self.describe())
        if self.min is not None and value < self.min or self.max is not None and value > self.max:
            raise ConfigError("value out of range", file=file, field=field, value=value, accepted=self.describe())
        return value


def suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate_params(
    spec: dict[str, Param], given: dict[str, Any], *, file: str | None, field: str
) -> dict[str, Any]:
    """Fill defaults and check every given value; unknown names are errors with a suggestion."""
    out: dict[str, Any] = {}
    for key in given:
        if key not in spec:
            raise ConfigError(
                f"unknown parameter {key!r}{suggest(key, list(spec))}",
                file=file, field=f"{field}.{key}", accepted=", ".join(spec) or "no parameters",
            )
    for key, p in spec.items():
        out[key] = p.coerce(given[key], file=file, field=f"{field}.{key}") if key in given else p.default
    return out
