"""A user strategy for the burst test: long and short in turn, switching every `every` bars.

`phase` shifts the switching bar, so several of these on one symbol do not all turn at once.
Loaded through `strategy_files`, like any user strategy.
"""

from __future__ import annotations

from admf.strategies.base import Strategy
from admf.strategies.params import Param
from admf.strategies.registry import register


@register("flip", every=Param(int, 1, doc="bars between two switches"), phase=Param(int, 0, doc="bars of offset"))
class Flip(Strategy):
    """+1 and -1 in turn, `every` bars each."""

    def setup(self, hub: object) -> None:
        self.n = 0

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        self.n += 1
        self.signal = 1 if ((self.n + self.phase) // self.every) % 2 == 0 else -1
        return self.signal
