"""A strategy slot: one strategy on one symbol, trading its own book.

It turns changes of the strategy's signal into orders (sizing, limits, filter, direction,
session rules) and guards the open position with exit rules. It talks to the broker and the
book through their small interfaces only, so backtest and live share it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from admf.core.enums import ExitReason, Side
from admf.core.events import Fill, OrderRequest
from admf.risk.exits import ExitRules, ExitState
from admf.risk.limits import Limits
from admf.risk.sizing import Sizing

# session code of a bar: outside regular hours, inside, or the session's last bar
OFF, IN, LAST = 0, 1, 2


class StrategySlot:
    def __init__(
        self,
        *,
        strategy: Any,
        book: Any,
        broker: Any,
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
        self.working: dict[str, float] = {}  # client_order_id -> quantity still to fill
        self.deferred: tuple[str, OrderRequest, int, float, int] | None = None  # opening leg of a flip
        self.target = 0.0  # the position the last decision asked for
        self.exit_pending: str | None = None  # a risk or session exit sent and not yet filled
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
        self.deferred = None
        for coid in list(self.working):  # a cancel reports back into on_order_done, which pops
            self.broker.cancel(coid, ts)
        self.working.clear()

    def on_order_done(self, client_order_id: str) -> None:
        """The order ended without filling completely (canceled, rejected, expired)."""
        self.working.pop(client_order_id, None)
        if self.deferred is not None and self.deferred[0] == client_order_id:
            self.deferred = None  # the close failed: do not open the other side
        if self.exit_pending == client_order_id:
            self.exit_pending = None  # the exit failed: the guard tries again on the next bar

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
        self._cancel_working(ts)
        target = self._target(eff, c)
        if eff != 0 and self.entry_filter is not None and not self.entry_filter(eff, o, h, l, c, v):
            target = 0.0
        self.target = target
        pos = self.book.position(self.symbol)
        if pos and target and (pos > 0) != (target > 0):
            # a flip is two orders, close then open: brokers refuse one order that reverses a position
            close = self._order(-pos, ts, bar, c, ExitReason.SIGNAL.value)
            opening = self._order(target, ts, bar, c, ExitReason.SIGNAL.value)
            self._send(close, bar, c, day)
            if getattr(self.broker, "split_flips", False):
                self.deferred = (close.client_order_id, opening, bar, c, day)
            else:
                self._send(opening, bar, c, day)
            return
        delta = target - pos
        if abs(delta) > 1e-9:
            self._send(self._order(delta, ts, bar, c, ExitReason.SIGNAL.value), bar, c, day)

    def _send(self, req: OrderRequest, bar: int, c: float, day: int) -> None:
        self.working[req.client_order_id] = req.qty
        self.broker.submit(req, self.sym, bar, c, day)

    def _exit(self, req: OrderRequest, bar: int, price: float, market: bool) -> None:
        # registered before sending: a simulated broker fills it inside fill_now
        self.working[req.client_order_id] = req.qty
        self.exit_pending = req.client_order_id
        self.broker.fill_now(req, self.sym, bar, price, market=market)

    def flatten(self, bar: int, ts: int, price: float, reason: str) -> None:
        """Cancel what is working and close the position at market (session close, kill switch)."""
        self._cancel_working(ts)
        self.target = 0.0
        pos = self.book.position(self.symbol)
        if pos:
            self._exit(self._order(-pos, ts, bar, price, reason), bar, price, True)

    def reconcile_target(self, ts: int, price: float) -> None:
        """Live: once nothing is working, send what still separates the position from the target.

        A fill that arrives after its order was thought cancelled (a late update) leaves the
        book off the target; this brings it back. A backtest never needs it: its fills are
        synchronous, so the position always equals the target when nothing is working.
        """
        if self.working or self.deferred is not None or self.exit_pending is not None:
            return
        delta = self.target - self.book.position(self.symbol)
        if abs(delta) > 1e-9:
            self._send(self._order(delta, ts, -1, price, "retarget"), -1, price, 0)

    # fills and exits ------------------------------------------------------------------------
    def on_fill(self, fill: Fill, bar: int) -> None:
        """After the book applied a fill of this slot: (re)arm or drop the exit guard."""
        left = self.working.get(fill.client_order_id)
        if left is not None:
            if left - fill.qty <= 1e-9:
                del self.working[fill.client_order_id]
                if self.exit_pending == fill.client_order_id:
                    self.exit_pending = None
                d = self.deferred
                if d is not None and d[0] == fill.client_order_id:
                    self.deferred = None
                    self._send(d[1], d[2], d[3], d[4])
            else:
                self.working[fill.client_order_id] = left - fill.qty
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
        self._cancel_working(ts)
        self.target = 0.0
        pos = self.book.position(self.symbol)
        self._exit(self._order(-pos, ts, bar, price, reason.value), bar, price, market)
