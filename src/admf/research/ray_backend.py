"""Sweeps on a Ray cluster (optional: `pip install "admf[ray]"`).

The bars go into Ray's object store once; one actor per CPU of the cluster holds a copy and
its own feature cache, and takes chunks of combinations, at most two at a time, so the
driver's memory stays flat. `address=True` starts a local cluster (and stops it after);
an address string ("auto", "127.0.0.1:6379") joins a running one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from admf.config.schema import Config
from admf.core.errors import UserError
from admf.data.timeline import Timeline
from admf.research.grid import Combination

_COLS = ("ts", "sym", "open", "high", "low", "close", "volume")


class _SweepActor:
    def __init__(self, cfg: Config, data: dict[str, np.ndarray], symbols: list[str], timeframe: str,
                 rows: list[np.ndarray], engine: str) -> None:
        from admf.research.sweep import _Runner

        # own, writable copies: the compiled kernels are specialised for writable arrays
        a = {k: np.array(v) for k, v in data.items()}
        tl = Timeline(a["ts"], a["sym"], a["open"], a["high"], a["low"], a["close"], a["volume"], symbols, timeframe,
                      [np.array(r) for r in rows])
        self.runner = _Runner(cfg, tl, engine)

    def rows(self, combos: list[Combination]) -> list[dict[str, Any]]:
        return self.runner.rows(combos)


def run_on_ray(cfg: Config, tl: Timeline, engine: str, chunks: Iterator[list[Combination]],
               take: Callable[[list[dict[str, Any]]], None], *, address: str | bool) -> None:
    try:
        import ray
    except ImportError:
        raise UserError("Ray is not installed", field="--ray", accepted='pip install "admf[ray]"') from None
    started = not ray.is_initialized()
    if started:
        if address is True:
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=str(address), log_to_driver=False)
    try:
        n = max(1, int(ray.cluster_resources().get("CPU", 1)))
        data = ray.put({k: getattr(tl, k) for k in _COLS})
        actor_cls: Any = ray.remote(num_cpus=1)(_SweepActor)
        actors: list[Any] = [actor_cls.remote(cfg, data, tl.symbols, tl.timeframe, tl.rows, engine) for _ in range(n)]
        busy: dict[Any, Any] = {}
        free = [a for a in actors for _ in range(2)]
        for ch in chunks:
            if not free:
                done, _ = ray.wait(list(busy), num_returns=1)
                for ref in done:
                    free.append(busy.pop(ref))
                    take(ray.get(ref))
            actor = free.pop(0)
            busy[actor.rows.remote(ch)] = actor
        for ref in list(busy):
            take(ray.get(ref))
        for a in actors:
            ray.kill(a)
    finally:
        if started:
            ray.shutdown()


__all__ = ["run_on_ray"]
