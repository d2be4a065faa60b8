"""A live session: the backtest's pipeline fed from the inbox, orders sent through the async engine.

Main thread only: bars, fills and order updates arrive on the Inbox from the async thread and
are applied here, one at a time, by the same Engine.step, slots and books a backtest uses.
The strategy code cannot tell a live session from a backtest.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from admf.config.schema import Config
from admf.core.enums import ExitReason
from admf.core.events import Bar, Fill, OrderRequest, OrderUpdate
from admf.data.frame import BarFrame
from admf.data.timeframe import timeframe_ns
from admf.data.timeline import merge
from admf.execution.inbox import CommandFailed, ConnectionState, DataGap, Inbox
from admf.execution.order_manager import AuditTrail, OrderEngine, OrderManager
from admf.risk.pretrade import PreTradeGuard, PreTradeLimits
from admf.runtime.backtest import BacktestBuild
from admf.runtime.session import session_code

log = logging.getLogger("admf.live")

NS = 1_000_000_000


@dataclass
class LiveStats:
    bars: int = 0
    fills: int = 0
    restored_fills: int = 0
    duplicate_fills: int = 0
    updates: int = 0
    command_failures: int = 0
    gaps: int = 0
    last_bar: Bar | None = None
    connections: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)


class LiveSession:
    """Wires a config to an AsyncExecutionEngine-like `engine` (submit/cancel/cancel_all, inbox)."""

    def __init__(self, cfg: Config, symbols: list[str], timeframe: str, *, engine: OrderEngine, inbox: Inbox,
                 capital: float, id_tag: str = "") -> None:
        self.cfg = cfg
        self.symbols = list(symbols)
        self.engine = engine
        self.inbox = inbox
        lt = cfg.live_trading
        self.guard = PreTradeGuard(PreTradeLimits(lt.max_order_notional, lt.max_position, lt.max_orders_per_minute,
                                                  lt.daily_loss_limit))
        empty = np.zeros(0)
        tl = merge([BarFrame(np.zeros(0, dtype=np.int64), empty, empty, empty, empty, empty, s, timeframe)
                    for s in self.symbols])
        self.audit = AuditTrail()
        self.books_view: dict[str, Any] = {}
        self.broker = OrderManager(engine, self.guard, self.books_view, self._slot_of, bar=lambda: self._bar_i,
                                   audit=self.audit)
        self.build = BacktestBuild(cfg, tl, broker=self.broker, capital=capital, id_tag=id_tag)
        self.books_view.update(self.build.books)
        self.tf_ns = timeframe_ns(timeframe)
        self.sym_index = {s: i for i, s in enumerate(self.symbols)}
        self.prices: dict[str, float] = {}
        self.last_ts: dict[str, int] = {}
        self.stats = LiveStats()
        dt = lt.data_timeout
        self.data_timeout = max(5 * self.tf_ns / NS, 120.0) if dt is None else dt
        # set by the runner: whether the broker's clock says the market is open (cached, cheap)
        self.market_open: Callable[[], bool] = lambda: False
        self._quiet_since: float | None = None  # market open and no bar since then
        self.stalled = ""
        self.killed = False
        self._bar_i = 0

    # -- plumbing ---------------------------------------------------------------------------
    def _slot_of(self, coid: str) -> Any:
        return self.build.slot_of(coid)

    @property
    def books(self) -> dict[str, Any]:
        return self.build.books

    # -- warm-up ----------------------------------------------------------------------------
    def warm_up(self, bars: list[Bar]) -> int:
        """Feed historical bars through features and strategies without trading.

        The strategies' signals after warm-up count as already acted on, so a session that
        starts while a signal is on does not chase it; it trades the next change.
        """
        n = 0
        for slot in self.build.all_slots:
            slot.muted = True  # an order strategy's orders during warm-up are not sent
        for bar in sorted(bars, key=lambda b: (b.ts, self.sym_index.get(b.symbol, 0))):
            k = self.sym_index.get(bar.symbol)
            if k is None:
                continue
            for u in self.build.engine.updaters[k]:
                u(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume)
            for slot in self.build.engine.slots[k]:
                s = slot.on_bar(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume)
                slot.raw_last = s
                slot.eff = s if (s > 0 and slot.allow_long) or (s < 0 and slot.allow_short) else 0
            self.prices[bar.symbol] = bar.close
            if self.build.last_close is not None:
                self.build.last_close[bar.symbol] = bar.close
            self.last_ts[bar.symbol] = bar.ts
            n += 1
        for slot in self.build.all_slots:
            slot.muted = False
        return n

    def restore(self, fills: Iterable[Fill], open_orders: Iterable[tuple[OrderRequest, float, bool]] = (),
                brackets: Iterable[OrderRequest] = ()) -> int:
        """Apply the fills earlier sessions on the same journal applied (a restart, a crash), so
        the books start where the broker's account is; call before any live event.

        `open_orders` are those sessions' orders still open (request, quantity filled, whether the
        broker acknowledged it): they stay working for their slot, which decides nothing new
        until they have ended, and the slot's target includes them.
        `brackets` are the last bracketed entries that filled, one per book and symbol
        (`Journal.last_brackets`): a position one opened that has lost its exit gets it again.
        """
        n = 0
        exec_ids: set[str] = set()
        filled: dict[str, float] = {}
        for fill in fills:
            exec_ids.add(fill.exec_id)
            filled[fill.client_order_id] = filled.get(fill.client_order_id, 0.0) + fill.qty
            book = self.build.books.get(fill.strategy_id)
            if book is None:
                log.warning("journal fill %s of unknown book %r not restored", fill.exec_id, fill.strategy_id)
                continue
            if not book.apply_fill(fill, self._bar_i):
                continue
            n += 1
            slot = self.build.slots_by_key.get((fill.strategy_id, fill.symbol))
            if slot is not None:
                slot.on_fill(fill, self._bar_i)  # re-arms the exit guard of a restored position
        self.broker.exec_ids |= exec_ids
        self._mark_restored_lots()
        for slot in self.build.all_slots:
            slot.target = slot.book.position(slot.symbol)  # what the account holds is the starting target
        for req, done, sent in open_orders:
            slot = self.build.slots_by_key.get((req.strategy_id, req.symbol))
            if slot is None:
                continue
            done = max(done, filled.get(req.client_order_id, 0.0))
            left = req.qty - done
            if left <= 1e-9:
                continue
            self.broker.restore(req, done, sent, set())
            slot.adopt(req, left)
            slot.target += left * req.side.sign
        for req in brackets:
            slot = self.build.slots_by_key.get((req.strategy_id, req.symbol))
            if slot is not None:
                slot.rearm(req)
        self.stats.restored_fills += n
        return n

    def _mark_restored_lots(self) -> None:
        """Every symbol a book holds has a price before its first live bar: the last warm-up
        close, else the lot's average price (equity and exposure limits read it)."""
        last = self.build.last_close
        for b in self.build.books.values():
            for sym, lot in b.lots.items():
                self.prices.setdefault(sym, lot.avg_price)
                if last is not None:
                    last.setdefault(sym, lot.avg_price)

    # -- events -----------------------------------------------------------------------------
    def handle(self, ev: Any) -> None:
        t = type(ev)
        if t is Bar:
            self.on_bar(ev)
        elif t is Fill:
            if self.broker.on_fill(ev):
                self.stats.fills += 1
            else:
                self.stats.duplicate_fills += 1
        elif t is OrderUpdate:
            self.stats.updates += 1
            self.broker.on_update(ev)
        elif t is ConnectionState:
            self.stats.connections[ev.component] = ev.state
        elif t is CommandFailed:
            self.stats.command_failures += 1
            log.warning("%s %s failed: %s %s", ev.command, ev.client_order_id, ev.error, ev.message)
            self.broker.on_command_failed(ev)
        elif t is DataGap:
            self.stats.gaps += 1
            log.warning("data gap %s: %d minutes missing, %d backfilled", ev.symbol, ev.missing, ev.backfilled)

    def on_bar(self, bar: Bar) -> None:
        k = self.sym_index.get(bar.symbol)
        if k is None or bar.ts <= self.last_ts.get(bar.symbol, -1):
            return  # not ours, or already seen (the last warm-up bar arriving again live)
        self.last_ts[bar.symbol] = bar.ts
        self.prices[bar.symbol] = bar.close
        self._quiet_since = None
        self.stats.bars += 1
        self.stats.last_bar = bar
        sess, day = -1, 0
        if self.build.intraday:
            sess, day = session_code(bar.ts, self.tf_ns)
        self.build.engine.step(self._bar_i, k, bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume,
                               sess, day)
        self._bar_i += 1
        if self.guard.limits.daily_loss_limit is not None:
            day = session_code(bar.ts, self.tf_ns)[1]
            if self.guard.mark(self.equity(), day):
                self.kill(self.guard.kill_reason)

    # -- safety -----------------------------------------------------------------------------
    def kill(self, reason: str) -> None:
        """Cancel everything and refuse new orders; flatten when configured."""
        if self.killed:
            return
        self.killed = True
        self.guard.killed = True
        self.guard.kill_reason = self.guard.kill_reason or reason
        log.error("kill switch: %s", reason)
        self.broker.cancel_all()
        for slot in self.build.all_slots:
            if self.cfg.live_trading.flatten_on_kill:
                slot.flatten(self._bar_i, time.time_ns(), self.prices.get(slot.symbol, 0.0),
                             ExitReason.KILL_SWITCH.value)
            else:
                slot.goal = None  # nothing more for this session; what is working ends by the cancels
                slot.target = slot.book.position(slot.symbol)

    # -- views ------------------------------------------------------------------------------
    def equity(self) -> float:
        total = 0.0
        for b in self.build.books.values():
            total += b.cash + sum(q * self.prices.get(s, lot_price(b, s)) for s, q in b.positions().items())
        return total

    def cash(self) -> float:
        return sum(b.cash for b in self.build.books.values())

    def positions(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for b in self.build.books.values():
            for s, q in b.positions().items():
                out[s] = out.get(s, 0.0) + q
        return {s: q for s, q in out.items() if abs(q) > 1e-9}

    def open_orders(self) -> int:
        return len(self.broker.open_orders())

    def status_line(self) -> str:
        b = self.stats.last_bar
        last = "-" if b is None else f"{time.strftime('%H:%M', time.gmtime(b.ts // NS))}Z {b.symbol} {b.close:.2f}"
        pos = " ".join(f"{s}:{q:g}" for s, q in self.positions().items()) or "flat"
        conn = " ".join(f"{k.split('_')[0]}:{v}" for k, v in sorted(self.stats.connections.items())) or "-"
        kill = " KILLED" if self.killed else ""
        if self._quiet_since is not None and time.monotonic() - self._quiet_since >= min(60.0, self.data_timeout / 2):
            kill += f" NO DATA {time.monotonic() - self._quiet_since:.0f}s"
        return (f"eq {self.equity():,.2f} | {pos} | open {self.open_orders()} | bar {last} | "
                f"n {self.stats.bars} fills {self.stats.fills} | {conn}{kill}")

    # -- the loop ---------------------------------------------------------------------------
    def run(self, *, until: Callable[[], bool] | None = None, max_bars: int | None = None,
            duration: float | None = None, on_tick: Callable[[], None] | None = None,
            tick: float = 0.25) -> str:
        """Apply inbox events until `until()` is true, `max_bars` bars, `duration` seconds, or the
        kill switch has tripped and every order has ended; returns which of these stopped it."""
        deadline = time.monotonic() + duration if duration else math.inf
        next_tick = time.monotonic() + tick
        inbox = self.inbox
        while True:
            if until is not None and until():
                return "until"
            if max_bars is not None and self.stats.bars >= max_bars:
                return "max-bars"
            now = time.monotonic()
            if now >= deadline:
                return "duration"
            if self.killed and until is None and not self.broker.open_orders():
                return "kill-switch"
            if self.stalled:
                return "no-data"
            ev = inbox.get(timeout=min(tick, max(deadline - now, 0.0)))
            if ev is not None:
                self.handle(ev)
                for more in inbox.drain():
                    self.handle(more)
            if time.monotonic() >= next_tick:
                self._watch_data()
                self.broker.tick()
                if on_tick is not None:
                    on_tick()
                next_tick = time.monotonic() + tick

    def _watch_data(self) -> None:
        """No bar for `data_timeout` seconds while the market is open: the session ends (a data
        stream that never delivers, e.g. a closed port or a feed without the symbols)."""
        if not self.data_timeout or not self.market_open():
            self._quiet_since = None
            return
        now = time.monotonic()
        if self._quiet_since is None:
            self._quiet_since = now
        elif now - self._quiet_since >= self.data_timeout:
            state = self.stats.connections.get("market_data", "unknown")
            self.stalled = (f"no market data for {self.data_timeout:g} s while the market is open (data stream "
                            f"{state}): check the data stream URL, the feed and the symbols")

    def drain(self, seconds: float = 0.5) -> None:
        """Apply what is still arriving for a short while (after stop requests, in tests)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ev = self.inbox.get(timeout=0.05)
            if ev is not None:
                self.handle(ev)


def lot_price(book: Any, symbol: str) -> float:
    lot = book.lots.get(symbol)
    return lot.avg_price if lot is not None else 0.0
