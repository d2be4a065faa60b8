"""A user strategy for the live tests: signals at known bars, so orders happen where a test wants.

`plan` is "KEY=SIGNAL,..." where KEY is either a bar count of this session (1 = the first bar
the strategy sees) or a bar's start time "HH:MM" in UTC (the same across process restarts).
Between keys the signal holds. Loaded through `strategy_files`, like any user strategy.
"""

from __future__ import annotations

import time

from admf.strategies.base import Strategy
from admf.strategies.params import Param
from admf.strategies.registry import register

NS = 1_000_000_000


def parse_plan(plan: str) -> tuple[dict[int, int], dict[str, int]]:
    by_count: dict[int, int] = {}
    by_time: dict[str, int] = {}
    for item in filter(None, (p.strip() for p in plan.split(","))):
        key, _, value = item.partition("=")
        signal = int(value)
        if ":" in key:
            by_time[key.strip()] = signal
        else:
            by_count[int(key)] = signal
    return by_count, by_time


@register("scripted", plan=Param(str, "", doc="KEY=SIGNAL pairs; KEY a bar count or an HH:MM UTC bar start"))
class Scripted(Strategy):
    """Goes long / short / flat at the bars its plan names."""

    def setup(self, hub: object) -> None:
        self.n = 0
        self.by_count, self.by_time = parse_plan(self.plan)

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        self.n += 1
        s = self.by_count.get(self.n)
        if s is None and self.by_time:
            s = self.by_time.get(time.strftime("%H:%M", time.gmtime(ts // NS)))
        if s is not None:
            self.signal = s
        return self.signal
