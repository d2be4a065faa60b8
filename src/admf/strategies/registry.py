"""The strategy registry: `@register` declares a strategy with its parameter space."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

from admf.core.errors import ConfigError
from admf.strategies.base import Strategy
from admf.strategies.params import Param, suggest

_REGISTRY: dict[str, type[Strategy]] = {}


def register(name: str, **params: Param) -> Callable[[type[Strategy]], type[Strategy]]:
    """Class decorator: `@register("sma_crossover", fast=Param(int, 10, 1), ...)`."""

    def wrap(cls: type[Strategy]) -> type[Strategy]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"strategy {name!r} registered twice")
        cls.name = name
        cls.params = dict(params)
        _REGISTRY[name] = cls
        return cls

    return wrap


def _load_builtins() -> None:
    import admf.strategies.builtin  # noqa: F401  (registers on import)


def get_strategy(name: str, *, file: str | None = None, field: str = "strategy") -> type[Strategy]:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}{suggest(name, list(_REGISTRY))}",
            file=file, field=field, accepted="see `admf strategies`",
        ) from None


def all_strategies() -> dict[str, type[Strategy]]:
    _load_builtins()
    return dict(sorted(_REGISTRY.items()))


def load_user_strategies(path: str | Path, *, file: str | None = None, field: str = "strategy_files") -> list[str]:
    """Import a user's Python file; the @register decorators in it add its strategies."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("strategy file not found", file=file, field=field, value=str(p))
    before = set(_REGISTRY)
    mod_name = f"admf_user_{p.stem}_{abs(hash(str(p.resolve())))}"
    if mod_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(mod_name, p)
        if spec is None or spec.loader is None:
            raise ConfigError("cannot import strategy file", file=file, field=field, value=str(p))
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # a user's file: report it as their mistake, not ours
            del sys.modules[mod_name]
            raise ConfigError(f"error importing strategy file: {type(exc).__name__}: {exc}",
                              file=file, field=field, value=str(p)) from None
    return sorted(set(_REGISTRY) - before)
