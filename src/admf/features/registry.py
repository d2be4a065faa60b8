"""Indicator registry: name -> class, with declared parameters, defaults and ranges."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from admf.core.errors import ConfigError
from admf.core.params import Param

from .base import Indicator

MAX_PERIOD = 100_000


def Period(default: int, lo: int = 2) -> Param:  # noqa: N802 - reads like a type in declarations
    return Param(int, default, lo, MAX_PERIOD)


def Positive(default: float) -> Param:  # noqa: N802
    return Param(float, default, 0.0, None, min_open=True)


def Choice(default: str, *choices: str) -> Param:  # noqa: N802
    return Param(str, default, choices=choices)


_REGISTRY: dict[str, type[Indicator]] = {}


def register(name: str, **params: Param) -> Callable[[type[Indicator]], type[Indicator]]:
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
        out[key] = spec.coerce(params[key], field=f"{cls.name}.{key}") if key in params else spec.default
    check = getattr(cls, "check_params", None)
    if check is not None:
        check(out)
    return out


def make_indicator(name: str, **params: Any) -> Indicator:
    """A new instance of indicator ``name`` with validated parameters."""
    cls = indicator_class(name)
    return cls(**normalize_params(name, **params))
