"""Declared parameter spaces of strategies (core.params.Param), and their validation."""

from __future__ import annotations

import difflib
from typing import Any

from admf.core.errors import ConfigError
from admf.core.params import Param

__all__ = ["Param", "feature_param", "suggest", "validate_params"]


def feature_param(indicator: str, name: str, default: Any, doc: str = "") -> Param:
    """A strategy parameter that is passed on to a feature: the feature's declaration (its range is
    what the feature accepts), with the strategy's default and doc."""
    from admf.features.registry import indicator_class

    spec: Param = indicator_class(indicator).param_specs[name]
    return spec.but(default=default, doc=doc or spec.doc)


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
