"""The combinations of a grid config, enumerated lazily, each with a label, a key and validity.

The key of a combination is a hash of everything that decides its result: the strategy and
its parameters, risk, sizing, costs and the rest of the config (names and output excluded),
the data's fingerprint and the admf version; `--resume` skips the keys already written.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from admf.config.loader import _strategy_axes
from admf.config.schema import Config, StrategyEntry
from admf.core.errors import ConfigError


@dataclass(frozen=True)
class Combination:
    index: int
    label: str
    params: tuple[dict[str, Any], ...]  # per strategy entry
    values: dict[str, Any]  # varied parameter -> value (the table's parameter columns)
    key: str


def data_fingerprint(tl: Any) -> str:
    h = hashlib.blake2b(digest_size=16)
    for col in (tl.ts, tl.sym, tl.open, tl.high, tl.low, tl.close, tl.volume):
        h.update(np.ascontiguousarray(col).tobytes())
    h.update(",".join(tl.symbols).encode())
    return h.hexdigest()


class GridPlan:
    """Axes of a config's grid; iterating gives every combination in the config's order."""

    def __init__(self, cfg: Config, data_fp: str = "") -> None:
        from admf import __version__

        self.cfg = cfg
        self.axes = _strategy_axes(cfg)
        self.flat = [(i, key, vals) for i, axes in enumerate(self.axes) for key, vals in axes.items()]
        self.varied = [(i, key) for i, key, vals in self.flat if len(vals) > 1]
        names = [key for _, key in self.varied]
        multi = len(cfg.strategies) > 1
        self.columns = {(i, key): (f"{cfg.strategies[i].name or cfg.strategies[i].type}.{key}"
                                   if multi and names.count(key) > 1 else key) for i, key in self.varied}
        base = cfg.model_dump(mode="json", exclude={"name", "output", "live_trading", "source", "base_dir"})
        for e in base["strategies"]:
            e.pop("params", None)
        self._base = hashlib.blake2b(json.dumps([base, data_fp, __version__], sort_keys=True, default=str).encode(),
                                     digest_size=16).hexdigest()
        self._valid: dict[tuple[Any, ...], str | None] = {}

    def __len__(self) -> int:
        n = 1
        for _, _, vals in self.flat:
            n *= len(vals)
        return n

    def __iter__(self) -> Iterator[Combination]:
        multi = len(self.cfg.strategies) > 1
        n_entries = len(self.cfg.strategies)
        for index, combo in enumerate(itertools.product(*(vals for _, _, vals in self.flat))):
            params: list[dict[str, Any]] = [{} for _ in range(n_entries)]
            for (i, key, _), v in zip(self.flat, combo, strict=True):
                params[i][key] = v
            values = {self.columns[(i, key)]: params[i][key] for i, key in self.varied}
            labels = []
            for i, e in enumerate(self.cfg.strategies):
                tag = ",".join(f"{key}={params[i][key]}" for j, key in self.varied if j == i)
                if tag:
                    labels.append(f"{e.name or e.type}({tag})" if multi else tag)
            key = hashlib.blake2b(json.dumps([self._base, params], sort_keys=True, default=str).encode(),
                                  digest_size=16).hexdigest()
            yield Combination(index, ";".join(labels) or self.cfg.name, tuple(params), values, key)

    def invalid_reason(self, combo: Combination) -> str | None:
        """Why a combination cannot run (e.g. fast >= slow), or None. Checked by building each
        strategy as a backtest does, on a throwaway feature hub."""
        from admf.features.hub import FeatureHub
        from admf.strategies.registry import get_strategy

        for i, (e, p) in enumerate(zip(self.cfg.strategies, combo.params, strict=True)):
            ck = (i, tuple(sorted(p.items())))
            if ck not in self._valid:
                try:
                    get_strategy(e.type)("X", p, FeatureHub())
                    self._valid[ck] = None
                except ConfigError as exc:
                    self._valid[ck] = f"{exc.detail} ({exc.field}={exc.value!r})"
            reason = self._valid[ck]
            if reason is not None:
                return reason
        return None

    def config_of(self, combo: Combination) -> Config:
        entries = [StrategyEntry(**{**e.model_dump(exclude={"params"}), "params": p})
                   for e, p in zip(self.cfg.strategies, combo.params, strict=True)]
        return self.cfg.model_copy(update={"strategies": entries})

    def count_valid(self) -> tuple[int, list[tuple[str, str]]]:
        """(valid combinations, [(label, reason)] of the invalid ones)."""
        bad = []
        ok = 0
        for c in self:
            r = self.invalid_reason(c)
            if r is None:
                ok += 1
            else:
                bad.append((c.label, r))
        return ok, bad


__all__ = ["Combination", "GridPlan", "data_fingerprint"]
