"""FeatureHub: one shared indicator instance per (symbol, name, parameters)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Indicator
from .registry import indicator_class, normalize_params

Updater = Callable[[int, float, float, float, float, float], None]


class FeatureHub:
    """Hands out indicators so every strategy asking for the same one shares it.

    ``get`` fills in defaults and canonicalizes values (period=20 and period=20.0 are the
    same key). The engine drives them with ``updaters(symbol)``, the bound ``update``
    methods in creation order.
    """

    __slots__ = ("_by_key", "_updaters")

    def __init__(self) -> None:
        self._by_key: dict[tuple[Any, ...], Indicator] = {}
        self._updaters: dict[str, list[Updater]] = {}

    @staticmethod
    def key(symbol: str, name: str, **params: Any) -> tuple[Any, ...]:
        """The sharing key: (symbol, registry name, canonical parameter values...)."""
        cls = indicator_class(name)
        return (symbol, cls.name, *normalize_params(cls.name, **params).values())

    def get(self, symbol: str, name: str, **params: Any) -> Indicator:
        """The shared instance for (symbol, name, params), created on first request."""
        cls = indicator_class(name)
        norm = normalize_params(cls.name, **params)
        key = (symbol, cls.name, *norm.values())
        ind = self._by_key.get(key)
        if ind is None:
            ind = cls(**norm)
            self._by_key[key] = ind
            self._updaters.setdefault(symbol, []).append(ind.update)
        return ind

    def updaters(self, symbol: str) -> list[Updater]:
        """Bound update methods for ``symbol`` in creation order.

        This is the hub's own list, so indicators created later are included; callers
        must not mutate it.
        """
        return self._updaters.setdefault(symbol, [])

    def update(self, symbol: str, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        """Feed one bar to every indicator of ``symbol``."""
        for fn in self._updaters.get(symbol, ()):
            fn(ts, o, h, l, c, v)

    def indicators(self, symbol: str | None = None) -> list[Indicator]:
        """Instances in creation order, for one symbol or all."""
        return [ind for k, ind in self._by_key.items() if symbol is None or k[0] == symbol]

    def symbols(self) -> list[str]:
        return list(self._updaters)

    @property
    def count(self) -> int:
        """Number of distinct instances across all symbols."""
        return len(self._by_key)
