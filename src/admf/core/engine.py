"""The engine loop: one bar at a time, through a fixed pipeline, on one thread.

Per bar of symbol k: the broker works its orders against the bar; exit guards of open
positions check the bar's range; the shared features update; each strategy slot of k sees
the bar and acts only when its signal changed. Everything is a direct call on precomputed
lists; nothing per bar allocates an event unless something happened.
"""

from __future__ import annotations

import gc
import sysconfig
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from admf.core.errors import UserError

CHUNK = 65_536
SIGNALS = (-1, 0, 1)
_ADMF_DIR = str(Path(__file__).resolve().parents[1])
_LIB_DIRS = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")})


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _strategy_name(slot: Any) -> str:
    cls = type(slot.strategy)
    name = getattr(cls, "name", "") or cls.__name__
    return f"{name!r}" + (f" (book {slot.strategy_id})" if slot.strategy_id != name else "")


def strategy_error(exc: BaseException, slots: Sequence[Any], i: int, ts: int, symbol: str) -> UserError | None:
    """A strategy's exception as one line (strategy, bar, time, symbol) and the user's own frames.

    None when no strategy of the bar's symbol is on the stack: then it is admf's bug, raised as is.
    """
    slot = None
    tb = exc.__traceback__
    while tb is not None:
        me = tb.tb_frame.f_locals.get("self")
        slot = next((sl for sl in slots if sl.strategy is me), slot) if me is not None else slot
        tb = tb.tb_next
    if slot is None:
        return None
    msg = (f"strategy {_strategy_name(slot)} raised {type(exc).__name__}: {exc} at bar {i} ({_iso(ts)}, {symbol})")
    where = user_frames(exc)
    return UserError(msg + ("\n" + where if where else ""))


def user_frames(exc: BaseException) -> str:
    """The traceback lines of `exc` in the user's own files (not admf's, not the standard or installed libraries)."""
    mine = [traceback.FrameSummary(fs.filename, fs.lineno, fs.name, line=fs.line)  # no ^^^ markers
            for fs in traceback.extract_tb(exc.__traceback__) if not fs.filename.startswith((_ADMF_DIR, *_LIB_DIRS))]
    return "".join(traceback.format_list(mine)).rstrip()


def _fan_out(updaters: Sequence[Callable[..., None]]) -> Callable[..., None]:
    def update(ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        for u in updaters:
            u(ts, o, h, l, c, v)
    return update


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
        # The collector would scan the whole heap (the interpreter's, the data's, every chunk's
        # column lists) over and over while a run adds its orders and fills: about a tenth of a
        # backtest's time. What exists at each chunk's start is frozen (gc.freeze is O(1)), so only
        # the objects made since are scanned; cycles made during the run are still collected.
        # Not when someone else froze objects already (a forking server): theirs stay theirs.
        freeze = gc.isenabled() and gc.get_freeze_count() == 0
        try:
            for start in range(0, self.n, CHUNK):
                stop = min(start + CHUNK, self.n)
                self._run_range(start, stop, freeze)
                self.bars_done = stop
                if progress is not None:
                    progress(stop - start)
        finally:
            if freeze:
                gc.unfreeze()

    def _run_range(self, start: int, stop: int, freeze: bool = False) -> None:
        ts_a, o_a, h_a, l_a, c_a, v_a = (col[start:stop].tolist() for col in self.cols)
        if freeze:
            gc.freeze()
        if self.session is None and self.n_symbols == 1 and self.last_close is None and len(self.slots[0]) == 1:
            self._run_one(start, ts_a, o_a, h_a, l_a, c_a, v_a)
            return
        zeros = [0] * (stop - start)
        sym_a = self.sym[start:stop].tolist() if self.n_symbols > 1 and self.sym is not None else zeros
        sess_a = self.session[start:stop].tolist() if self.session is not None else None
        day_a = self.day[start:stop].tolist() if self.day is not None else zeros
        step = self.step
        j = 0
        # the try costs nothing per bar; the failing bar is known from j when something raises
        try:
            if sess_a is None:
                for j in range(stop - start):
                    step(start + j, sym_a[j], ts_a[j], o_a[j], h_a[j], l_a[j], c_a[j], v_a[j])
            else:
                for j in range(stop - start):
                    step(start + j, sym_a[j], ts_a[j], o_a[j], h_a[j], l_a[j], c_a[j], v_a[j], sess_a[j], day_a[j])
        except UserError:
            raise
        except Exception as exc:
            raise self._failed(exc, start + j, sym_a[j], ts_a[j]) from None

    def _failed(self, exc: Exception, i: int, k: int, ts: int) -> Exception:
        """A strategy's exception at bar i as one line; admf's own is raised as is."""
        err = strategy_error(exc, self.slots[k], i, ts, self._symbol(k))
        if err is None:
            raise exc
        return err

    def _run_one(self, start: int, ts_a: list[int], o_a: list[float], h_a: list[float], l_a: list[float],
                 c_a: list[float], v_a: list[float]) -> None:
        """`step` inlined for one symbol, one strategy and no session codes (most backtests, every
        benchmark): the same pipeline in the same order, the per-bar call and lookups hoisted."""
        broker = self.broker
        guards = self.guards[0]
        slot = self.slots[0][0]
        on_bar = slot.on_bar
        decide = slot.decide
        ups = self.updaters[0]
        update = ups[0] if len(ups) == 1 else _fan_out(ups)
        i = start
        try:
            for ts, o, h, l, c, v in zip(ts_a, o_a, h_a, l_a, c_a, v_a, strict=True):
                if broker.pending:
                    broker.on_bar(0, i, ts, o, h, l, c, 0)
                if guards:
                    for g in tuple(guards):
                        g.check_exits(i, ts, o, h, l)
                update(ts, o, h, l, c, v)
                s = on_bar(ts, o, h, l, c, v)
                if s != slot.raw_last:
                    if s not in SIGNALS:
                        raise self.bad_signal(slot, s, i, ts, 0)
                    decide(s, i, ts, o, h, l, c, v)
                i += 1
        except UserError:
            raise
        except Exception as exc:
            raise self._failed(exc, i, 0, ts_a[i - start]) from None

    def _symbol(self, k: int) -> str:
        return self.symbols[k] if k < len(self.symbols) else str(k)

    def bad_signal(self, slot: Any, s: Any, i: int, ts: int, k: int) -> UserError:
        return UserError(f"strategy {_strategy_name(slot)} returned {s!r} at bar {i} ({_iso(ts)}, "
                         f"{self._symbol(k)})", accepted="-1 (short), 0 (flat) or 1 (long)")

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
                    if s not in SIGNALS:
                        raise self.bad_signal(slot, s, i, ts, k)
                    slot.decide(s, i, ts, o, h, l, c, v)
        else:
            for slot in self.slots[k]:
                s = slot.on_bar(ts, o, h, l, c, v)
                if s != slot.raw_last or (sess != 1 and slot.intraday):
                    if s not in SIGNALS:
                        raise self.bad_signal(slot, s, i, ts, k)
                    slot.decide(s, i, ts, o, h, l, c, v, sess, day)
