"""Indicator registry: name -> class, with declared parameters, defaults and ranges."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from admf.core.errors import ConfigError

from .base import Indicator

MAX_PERIOD = 100_000


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One declared parameter: kind is int, float or str."""

    kind: type
    default: Any
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo itself is excluded (e.g. multiplier > 0)
    choices: tuple[str, ...] = ()

    def accepted(self) -> str:
        if self.kind is str:
            return ", ".join(self.choices)
        kind = "integer" if self.kind is int else "number"
        if self.lo is not None and self.hi is not None and not self.lo_open:
            return f"{kind} {_fmt(self.lo)}..{_fmt(self.hi)}"
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {_fmt(self.lo)}")
        if self.hi is not None:
            parts.append(f"<= {_fmt(self.hi)}")
        return f"{kind} {' and '.join(parts)}".strip()

    def normalize(self, field: str, value: Any) -> Any:
        """The canonical value (period=20.0 -> 20), or ConfigError naming field and range."""
        if self.kind is str:
            if not isinstance(value, str) or value.lower() not in self.choices:
                raise ConfigError("invalid value", field=field, value=value, accepted=self.accepted())
            return value.lower()
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ConfigError("must be a number", field=field, value=value, accepted=self.accepted())
        if self.kind is int:
            if not isinstance(value, Integral):
                f = float(value)
                if not math.isfinite(f) or f != int(f):
                    raise ConfigError("must be a whole number", field=field, value=value, accepted=self.accepted())
            out: Any = int(value)
        else:
            out = float(value)
            if not math.isfinite(out):
                raise ConfigError("must be finite", field=field, value=value, accepted=self.accepted())
        if self.lo is not None and (out < self.lo or (self.lo_open and out == self.lo)):
            raise ConfigError("out of range", field=field, value=value, accepted=self.accepted())
        if self.hi is not None and out > self.hi:
            raise ConfigError("out of range", field=field, value=value, accepted=self.accepted())
        return out


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def Period(default: int, lo: int = 2) -> ParamSpec:  # noqa: N802 - reads like a type in declarations
    return ParamSpec(int, default, lo, MAX_PERIOD)


def Positive(default: float) -> ParamSpec:  # noqa: N802
    return ParamSpec(float, default, 0.0, None, lo_open=True)


def Choice(default: str, *choices: str) -> ParamSpec:  # noqa: N802
    return ParamSpec(str, default, choices=choices)


_REGISTRY: dict[str, type[Indicator]] = {}


def register(name: str, **params: ParamSpec) -> Callable[[type[Indicator]], type[Indicator]]:
    """Class decorator: register ``cls`` under ``name`` with its parameters (declared order kept)."""

    def deco(cls: type[Indicator]) -> type[Indicator]:
        if name in _REGISTRY:
            raise ValueError(f"indicator {name!r} registered twice")
        cls.name = name
        cls.param_specs = dict(params)
        _REGISTRY[name] = cls
        return cls

    return deco


def indicator_names() -> list[str]:
    """Registered indicator names, sorted."""
    return sorted(_REGISTRY)


def indicator_class(name: str) -> type[Indicator]:
    """The class registered under ``name``; ConfigError listing the names if unknown."""
    key = name.lower() if isinstance(name, str) else name
    cls = _REGISTRY.get(key) if isinstance(key, str) else None
    if cls is None:
        raise ConfigError("unknown indicator", field="indicator", value=name, accepted=", ".join(indicator_names()))
    return cls


def indicator_params(name: str) -> dict[str, Any]:
    """Declared parameter names of ``name`` with their defaults."""
    return {k: s.default for k, s in indicator_class(name).param_specs.items()}


def normalize_params(name: str, **params: Any) -> dict[str, Any]:
    """Defaults filled in and values canonical, in declared order; ConfigError on a bad one."""
    cls = indicator_class(name)
    specs = cls.param_specs
    for key in params:
        if key not in specs:
            raise ConfigError(
                f"unknown parameter for {cls.name}",
                field=f"{cls.name}.{key}",
                value=params[key],
                accepted=", ".join(specs) or "no parameters",
            )
    out = {}
    for key, spec in specs.items():
        out[key] = spec.normalize(f"{cls.name}.{key}", params[key]) if key in params else spec.default
    check = getattr(cls, "check_params", None)
    if check is not None:
        check(out)
    return out


def make_indicator(name: str, **params: Any) -> Indicator:
    """A new instance of indicator ``name`` with validated parameters."""
    cls = indicator_class(name)
    return cls(**normalize_params(name, **params))
