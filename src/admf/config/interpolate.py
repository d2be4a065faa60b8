"""`${VAR}` and `${VAR:-default}` interpolation in YAML string values."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import yaml

from admf.core.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

# Fields that may stay unresolved until they are used (credentials of a live session).
LAZY_SECTIONS = ("live_trading",)


class Unresolved(str):
    """An environment variable that was not set; an error only where the value is used."""


def interpolate(value: Any, *, env: Mapping[str, str] | None = None, file: str | None = None,
                path: str = "") -> Any:
    env = os.environ if env is None else env
    if isinstance(value, dict):
        return {k: interpolate(v, env=env, file=file, path=f"{path}.{k}" if path else str(k))
                for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env=env, file=file, path=f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    out = _VAR.sub(sub, value)
    if missing:
        if path.split(".")[0] in LAZY_SECTIONS:
            return Unresolved(missing[0])
        raise ConfigError(f"environment variable {missing[0]} is not set", file=file, field=path,
                          accepted=f"export {missing[0]}=... or write ${{{missing[0]}:-default}}")
    if _VAR.fullmatch(value):
        # a whole-value substitution keeps YAML typing: "${N:-20}" is the number 20
        try:
            typed = yaml.safe_load(out)
        except yaml.YAMLError:
            return out
        return typed if isinstance(typed, int | float | bool) else out
    return out
