"""A strategy slot: one strategy on one symbol, trading its own book.

It turns changes of the strategy's signal into orders (sizing, limits, filter, direction,
session rules) and guards the open position with exit rules. It talks to the broker and the
book through their small interfaces only, so backtest and live share it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from admf.core.enums import ExitReason, Side
from admf.core.events import Fill, OrderRequest
from admf.risk.exits import ExitRules, ExitState
from admf.risk.limits import Limits
from admf.risk.sizing import Sizing

# session code of a bar: outside regular hours, inside, or the session's last bar
OFF, IN, LAST = 0, 1, 2


class SlotBroker(Protocol):
    """What a slot needs of its broker: the SimulatedBroker of a backtest, or the live
    OrderManager. `cancel` returns True while the order's outcome is still to come."""

    split_flips: bool  # a reversal as close, then open once the close has filled

    def submit(self, req: OrderRequest, sym: int, bar: int, close: float, day: int = 0) -> None: ...

    def fill_now(self, req: OrderRequest, sym: int, bar: int, price: float, *, market: bool = True) -> None: ...

    def cancel(self, client_order_id: str, ts: int = 0) -> bool: ...


@dataclass(frozen=True, slots=True)
class Goal:
    """A decision not yet (fully) sent: where and why it was made."""

    bar: int
    ts: int
    price: float
    day: int
    reason: str
    exit: bool = False  # close the position (an exit), not trade to the target
    market: bool = True


class StrategySlot:
    def __init__(
        self,
        *,
        strategy: Any,
        book: Any,
        broker: SlotBroker,
        sym: int,
        symbol: str,
        strategy_id: str,
        sizing: Sizing,
        exits: ExitRules,
        limits: Limits,
        direction: str = "both",
        intraday: bool = False,
        entry_filter: Callable[..., bool] | None = None,
        atr: Any = None,
        prices: Callable[[], dict[str, float]] | None = None,
        id_prefix: str = "",
    ) -> None:
        self.strategy = strategy
        self.on_bar = strategy.on_bar
        self.book = book
        self.broker = broker
        self.sym = sym
        self.symbol = symbol
        self.strategy_id = strategy_id
        self.sizing = sizing
        self.exit_rules = exits
        self.limits = limits
        self.allow_long = direction in ("both", "long")
        self.allow_short = direction in ("both", "short")
        self.intraday = intraday
        self.entry_filter = entry_filter
        self.atr = atr
        self.prices = prices
        self.id_prefix = id_prefix or f"{strategy_id}-{symbol}-"
        self.raw_last = 0
        self.eff = 0
        self.exit_state: ExitState | None = None
        # client_order_id -> quantity still to fill, for every order whose outcome is not known
        # yet (including those with a cancel on its way)
        self.working: dict[str, float] = {}
        self.goal: Goal | None = None  # a decision waiting for the working orders to end
        self.flip_close: str | None = None  # the close leg of a flip, the open follows its fill
        self.split_flips = broker.split_flips
        self.target = 0.0  # the position the last decision asked for
        self.exit_pending: str | None = None  # a risk or session exit sent (or waiting) and not yet done
        self.n_orders = 0
        self.signals: list[tuple[int, int, int]] = []  # (bar, ts, effective signal)
        self.guards: list[StrategySlot] | None = None  # the engine's list of slots to check for exits

    # orders ---------------------------------------------------------------------------------
    def _order(self, qty: float, ts: int, bar: int, price: float, reason: str) -> OrderRequest:
        self.n_orders += 1
        return OrderRequest(
            client_order_id=f"{self.id_prefix}{self.n_orders}", strategy_id=self.strategy_id,
            symbol=self.symbol, side=Side.BUY if qty > 0 else Side.SELL, qty=abs(qty), ts=ts, reason=reason,
        )

    def _cancel_working(self, ts: int) -> None:
        """Ask the broker to cancel every working order. They stay working (and count against
        the exposure) until the broker confirms the outcome: canceled, or filled after all."""
        for coid in list(self.working):
            if not self.broker.cancel(coid, ts):
                self.working.pop(coid, None)  # nothing open at the broker under that id

    def on_order_done(self, client_order_id: str, filled: bool = False) -> None:
        """The order ended, every execution of it applied: without filling completely
        (canceled, rejected, expired), or `filled`."""
        self._done(client_order_id, filled=filled)

    def _done(self, client_order_id: str, *, filled: bool) -> None:
        if self.working.pop(client_order_id, None) is None and client_order_id != self.flip_close:
            return
        if self.flip_close == client_order_id:
            self.flip_close = None
            if not filled:
                self.goal = None  # the close failed: do not open the other side
        if self.exit_pending == client_order_id:
            self.exit_pending = None  # a failed exit is tried again by the guard on the next bar
        self._pursue()

    def _equity(self, close: float) -> float:
        if self.prices is None:
            return self.book.cash + self.book.position(self.symbol) * close
        return self.book.equity(self.prices())

    def _target(self, eff: int, close: float) -> float:
        if eff == 0:
            return 0.0
        equity = self._equity(close)
        atr = self.atr.value if self.atr is not None else math.nan
        target = eff * self.sizing.quantity(close, equity, atr)
        lim = self.limits
        if lim.max_position is None and lim.max_notional is None and lim.max_gross_exposure is None:
            return target
        other = 0.0
        if lim.max_gross_exposure is not None:
            if self.prices is None:
                other = 0.0
            else:
                other = self.book.gross_exposure(self.prices()) - abs(self.book.position(self.symbol)) * close
        return lim.clip(target, close, equity, other, self.sizing.fractional)

    def decide(self, s: int, bar: int, ts: int, o: float, h: float, l: float, c: float, v: float,
               session: int = IN, day: int = 0) -> None:
        """Called when the raw signal changed (or, for intraday slots, outside the session)."""
        changed = s != self.raw_last
        self.raw_last = s
        eff = s if (s > 0 and self.allow_long) or (s < 0 and self.allow_short) else 0
        if self.intraday and session != IN:
            if session == LAST:
                self.flatten(bar, ts, c, ExitReason.SESSION_CLOSE.value)
                self.eff = eff
                self.signals.append((bar, ts, 0))
            elif changed:
                # not traded outside the session, but the next in-session change is measured from it
                # (a long -> short change overnight, then back to long, must enter long)
                self.eff = eff
            return
        if eff == self.eff:
            return
        self.eff = eff
        self.signals.append((bar, ts, eff))
        target = self._target(eff, c)
        if eff != 0 and self.entry_filter is not None and not self.entry_filter(eff, o, h, l, c, v):
            target = 0.0
        self._aim(target, Goal(bar, ts, c, day, ExitReason.SIGNAL.value))

    def _aim(self, target: float, goal: Goal) -> None:
        """A new decision: cancel what an earlier one left working, then trade towards `target`
        once nothing is working any more (at once with a synchronous broker)."""
        self.target = target
        self.goal = goal
        self.flip_close = None  # a flip still closing is now just an order to cancel
        if self.exit_pending == "":
            self.exit_pending = None
        self._cancel_working(goal.ts)
        self._pursue()

    def _pursue(self) -> None:
        """Send the order(s) of the pending decision, sized from the known position, if nothing
        is working. This is what keeps the exposure invariant: an order is only ever sized
        against a position no earlier order of this slot can still change."""
        g = self.goal
        if g is None or self.working:
            return
        pos = self.book.position(self.symbol)
        target = self.target
        if g.exit:
            self.goal = None
            self.exit_pending = None
            if pos:
                self._exit(self._order(-pos, g.ts, g.bar, g.price, g.reason), g.bar, g.price, g.market)
            return
        if pos and target and (pos > 0) != (target > 0):
            # a flip is two orders, close then open: brokers refuse one order that reverses a position
            close = self._order(-pos, g.ts, g.bar, g.price, g.reason)
            if self.split_flips:
                self.flip_close = close.client_order_id  # the goal stays: the open follows the close's fill
                self._send(close, g.bar, g.price, g.day)
                return
            opening = self._order(target, g.ts, g.bar, g.price, g.reason)
            self.goal = None
            self._send(close, g.bar, g.price, g.day)
            self._send(opening, g.bar, g.price, g.day)
            return
        self.goal = None
        delta = target - pos
        if abs(delta) > 1e-9:
            self._send(self._order(delta, g.ts, g.bar, g.price, g.reason), g.bar, g.price, g.day)

    def _send(self, req: OrderRequest, bar: int, c: float, day: int) -> None:
        self.working[req.client_order_id] = req.qty
        self.broker.submit(req, self.sym, bar, c, day)

    def _exit(self, req: OrderRequest, bar: int, price: float, market: bool) -> None:
        # registered before sending: a simulated broker fills it inside fill_now
        self.working[req.client_order_id] = req.qty
        self.exit_pending = req.client_order_id
        self.broker.fill_now(req, self.sym, bar, price, market=market)

    def flatten(self, bar: int, ts: int, price: float, reason: str, market: bool = True) -> None:
        """Cancel what is working and close the position (session close, kill switch, risk exit):
        at once, or, live, once the cancels are confirmed and the position is known."""
        self._aim(0.0, Goal(bar, ts, price, 0, reason, exit=True, market=market))
        if self.goal is not None:
            self.exit_pending = ""  # the exit waits for the cancels; the guard must not fire again

    # fills and exits ------------------------------------------------------------------------
    def on_fill(self, fill: Fill, bar: int) -> None:
        """After the book applied a fill of this slot: (re)arm or drop the exit guard."""
        self._update_guard(bar)
        left = self.working.get(fill.client_order_id)
        if left is not None:
            if left - fill.qty <= 1e-9:
                self._done(fill.client_order_id, filled=True)
            else:
                self.working[fill.client_order_id] = left - fill.qty

    def _update_guard(self, bar: int) -> None:
        if not self.exit_rules.active or self.guards is None:
            return
        pos = self.book.position(self.symbol)
        lot = self.book.lots.get(self.symbol)
        if pos == 0 or lot is None:
            if self.exit_state is not None:
                self.exit_state = None
                self.guards.remove(self)
            return
        direction = 1 if pos > 0 else -1
        if self.exit_state is None or self.exit_state.direction != direction:
            if self.exit_state is None:
                self.guards.append(self)
            self.exit_state = ExitState(self.exit_rules, direction, lot.avg_price, bar)

    def check_exits(self, bar: int, ts: int, o: float, h: float, l: float) -> None:
        st = self.exit_state
        if st is None or self.exit_pending is not None:
            return
        hit = st.check(bar, o, h, l)
        if hit is None:
            return
        price, reason, market = hit
        self.flatten(bar, ts, price, reason.value, market)
