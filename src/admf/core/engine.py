"""The engine loop: one bar at a time, through a fixed pipeline, on one thread.

Per bar of symbol k: the broker works its orders against the bar; exit guards of open
positions check the bar's range; the shared features update; each strategy slot of k sees
the bar and acts only when its signal changed. Everything is a direct call on precomputed
lists; nothing per bar allocates an event unless something happened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

CHUNK = 65_536


class Engine:
    def __init__(
        self,
        *,
        ts: np.ndarray,
        sym: np.ndarray | None,
        open: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
        n_symbols: int,
        updaters: Sequence[Sequence[Callable[..., None]]],
        slots: Sequence[Sequence[Any]],
        guards: Sequence[list[Any]],
        broker: Any,
        session: np.ndarray | None = None,
        day: np.ndarray | None = None,
        last_close: dict[str, float] | None = None,
        symbols: Sequence[str] = (),
    ) -> None:
        self.cols = (ts, open, high, low, close, volume)
        self.sym = sym
        self.n = len(ts)
        self.n_symbols = n_symbols
        self.updaters = [list(u) for u in updaters]
        self.slots = [list(s) for s in slots]
        self.guards = guards
        self.broker = broker
        self.session = session
        self.day = day
        self.last_close = last_close
        self.symbols = list(symbols)
        self.bars_done = 0

    def run(self, progress: Callable[[int], None] | None = None) -> None:
        for start in range(0, self.n, CHUNK):
            stop = min(start + CHUNK, self.n)
            self._run_range(start, stop)
            self.bars_done = stop
            if progress is not None:
                progress(stop - start)

    def _run_range(self, start: int, stop: int) -> None:
        ts_a, o_a, h_a, l_a, c_a, v_a = (col[start:stop].tolist() for col in self.cols)
        zeros = [0] * (stop - start)
        sym_a = self.sym[start:stop].tolist() if self.n_symbols > 1 else zeros
        sess_a = self.session[start:stop].tolist() if self.session is not None else None
        day_a = self.day[start:stop].tolist() if self.day is not None else zeros
        step = self.step
        if sess_a is None:
            for j in range(stop - start):
                step(start + j, sym_a[j], ts_a[j], o_a[j], h_a[j], l_a[j], c_a[j], v_a[j])
        else:
            for j in range(stop - start):
                step(start + j, sym_a[j], ts_a[j], o_a[j], h_a[j], l_a[j], c_a[j], v_a[j], sess_a[j], day_a[j])

    def step(self, i: int, k: int, ts: int, o: float, h: float, l: float, c: float, v: float,
             sess: int = -1, day: int = 0) -> None:
        """One bar of symbol k through the pipeline (the backtest loop and a live session call this).

        `sess` is the bar's session code (0 off, 1 in, 2 last bar) when some strategy is intraday,
        -1 when no calendar is needed.
        """
        broker = self.broker
        if broker.pending:
            broker.on_bar(k, i, ts, o, h, l, c, day)
        guards = self.guards[k]
        if guards:
            for g in tuple(guards):
                g.check_exits(i, ts, o, h, l)
        if self.last_close is not None:
            self.last_close[self.symbols[k]] = c
        for u in self.updaters[k]:
            u(ts, o, h, l, c, v)
        if sess < 0:
            for slot in self.slots[k]:
                s = slot.on_bar(ts, o, h, l, c, v)
                if s != slot.raw_last:
                    slot.decide(s, i, ts, o, h, l, c, v)
        else:
            for slot in self.slots[k]:
                s = slot.on_bar(ts, o, h, l, c, v)
                if s != slot.raw_last or (sess != 1 and slot.intraday):
                    slot.decide(s, i, ts, o, h, l, c, v, sess, day)
