"""A strategy slot: one strategy on one symbol, trading its own book.

It turns changes of the strategy's signal into orders (sizing, limits, filter, direction,
session rules) and guards the open position with exit rules. It talks to the broker and the
book through their small interfaces only, so backtest and live share it.

An order strategy (`uses_orders`) places its own orders through the slot (`place`, the desk of
strategies/orders.py). Brackets are managed here: the entry goes alone; once it has filled
completely (or ended partly filled) the slot sends the exits for the filled quantity, on the
other side, a stop-loss (a stop order) and a take-profit (a limit), one cancelling the other:
- in a backtest as two orders: the stop-loss, then the take-profit; the first fill of either
  cancels the other; a leg that ends unfilled (cancelled, expired) takes the other with it. Both
  rest at the SimulatedBroker from the bar after the entry's fill, the stop-loss matched first,
  so a bar touching both legs fills the stop (the conservative rule of the risk exits);
- live as ONE order of order class OCO (`OrderRequest.order_class`: the take-profit limit with
  its stop-loss leg), which the broker works as one-cancels-other. The live order manager keeps
  one order per symbol at the broker (`split_flips`), so two separate legs could not both work
  there, and if they could, both might fill; the OCO's worst case is its quantity once. The
  emulator matches the OCO's members by the same core and rule (stop-loss first). One
  difference: the OCO starts at the broker's current price (the entry's fill bar's close), so a
  close already beyond a leg exits at once at that price; a backtest exits on the next bar.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from admf.core.enums import ExitReason, OrderType, Side, TimeInForce
from admf.core.events import OCO, Fill, OrderRequest
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
        clock: Callable[[int], tuple[int, int]] | None = None,
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
        self.exits_active = exits.active  # the rules are frozen; read on every fill
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
        # the order API (order strategies only)
        self.clock = clock  # bar time -> (bar index, session day) for the orders it places
        self.step: BarStep | None = None  # a multi-symbol strategy's time step
        self.now: tuple[int, int, float, int] = (0, 0, 0.0, 0)  # (bar, ts, close, day) of the last bar
        self.reqs: dict[str, OrderRequest] = {}  # the strategy's open orders
        self.leg_of: dict[str, str] = {}  # order id -> entry / stop_loss / take_profit
        self.brackets: dict[str, tuple[float, float]] = {}  # entry id -> (stop, target), legs not sent yet
        self.entry_filled: dict[str, float] = {}
        self.peer: dict[str, str] = {}  # a working leg -> the other leg of its OCO pair
        self.rearm_entry: OrderRequest | None = None  # a restart: the entry whose exit may be gone
        self.api_fills: list[Fill] = []
        self.refused: list[str] = []
        self.muted = False  # a live session's warm-up: the strategy sees bars, its orders are not sent
        if getattr(strategy, "uses_orders", False) or getattr(strategy, "multi_symbol", False):
            self.on_bar = self._order_bar  # a multi-symbol strategy trades through orders only

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
        if client_order_id in self.reqs:
            self._order_ended(client_order_id, filled)
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
        self.brackets.clear()  # a decision or exit ends the strategy's brackets: no legs follow
        self.peer.clear()
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
        if fill.client_order_id in self.reqs:
            self._order_fill(fill)
        left = self.working.get(fill.client_order_id)
        if left is not None:
            if left - fill.qty <= 1e-9:
                self._done(fill.client_order_id, filled=True)
            else:
                self.working[fill.client_order_id] = left - fill.qty

    def _update_guard(self, bar: int) -> None:
        if not self.exits_active or self.guards is None:
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

    # the order API (the desk of strategies/orders.py) ---------------------------------------
    def _order_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        bar, day = self.clock(ts) if self.clock is not None else (0, 0)
        self.now = (bar, ts, c, day)
        if self.rearm_entry is not None and not self.muted:
            self._rearm(self.rearm_entry)
        if self.step is not None:
            self.step.arrive(self.symbol, ts, o, h, l, c, v)
        else:
            self.strategy.on_bar(ts, o, h, l, c, v)
        return self.raw_last  # never a change: the engine calls decide only for the session rules

    def _worst(self, sign: int) -> float:
        """The position if every open order of this side fills."""
        pos = self.book.position(self.symbol)
        tp = ExitReason.TAKE_PROFIT.value
        return pos + sign * sum(q for cid, q in self.working.items() if cid in self.reqs
                                and self.reqs[cid].side.sign == sign
                                and not (cid in self.peer and self.leg_of.get(cid) == tp))  # an OCO pair counts once

    def place(self, side: Side, qty: float, kind: OrderType, limit: float | None, stop: float | None,
              bracket: tuple[float, float] | None, tif: TimeInForce) -> str | None:
        bar, ts, c, day = self.now
        worst = self._worst(side.sign) + side.sign * qty
        price = limit or stop or c
        lim = self.limits
        why = ""
        if self.muted:
            why = "warm-up bars are not traded"
        elif self.exit_pending is not None or self.goal is not None:
            why = "a risk or session exit is on its way"
        elif lim.max_position is not None and abs(worst) > lim.max_position + 1e-9:
            why = f"max_position {lim.max_position:g}: the position could reach {worst:g}"
        elif lim.max_notional is not None and abs(worst) * price > lim.max_notional + 1e-6:
            why = f"max_notional {lim.max_notional:g}: the position could reach {abs(worst) * price:,.2f}"
        if why:
            self.refused.append(f"{side.value} {qty:g} {self.symbol} refused: {why}")
            return None
        req = self._request(side, qty, kind, limit, stop, tif, "order", bracket=bracket)
        if bracket is not None:
            self.brackets[req.client_order_id] = bracket
            self.leg_of[req.client_order_id] = "entry"
            self.entry_filled[req.client_order_id] = 0.0
        self._send(req, bar, c, day)
        return req.client_order_id

    def _order_fill(self, fill: Fill) -> None:
        self.api_fills.append(fill)
        cid = fill.client_order_id
        if cid in self.entry_filled:
            self.entry_filled[cid] += fill.qty
        other = self.peer.pop(cid, None)
        if other is not None:  # one cancels the other: the first fill of a leg
            self.peer.pop(other, None)
            self._cancel_one(other)

    def _order_ended(self, cid: str, filled: bool) -> None:
        req = self.reqs.pop(cid)
        leg = self.leg_of.pop(cid, "")
        done = self.entry_filled.pop(cid, 0.0)
        bracket = self.brackets.pop(cid, None)
        if bracket is not None and done > 1e-9:
            self._send_exits(req, done, bracket)
            return
        other = self.peer.pop(cid, None)
        if other is not None and leg and not filled:  # a leg ended unfilled: the pair goes
            self.peer.pop(other, None)
            self._cancel_one(other)

    def _send_exits(self, entry: OrderRequest, qty: float, bracket: tuple[float, float]) -> None:
        """The bracket exits of `qty` of the position `entry` opened, at its (stop, target)."""
        stop, target = bracket
        exit_side = Side.SELL if entry.side is Side.BUY else Side.BUY
        bar, _, c, day = self.now
        if self.split_flips:  # live: one OCO order, the broker's one-cancels-other (see the module doc)
            oco = self._request(exit_side, qty, OrderType.LIMIT, target, None, entry.tif,
                                ExitReason.TAKE_PROFIT.value, order_class=OCO, stop_loss=stop)
            self.leg_of[oco.client_order_id] = OCO
            self._send(oco, bar, c, day)
            return
        sl = self._request(exit_side, qty, OrderType.STOP, None, stop, entry.tif, ExitReason.STOP_LOSS.value)
        tp = self._request(exit_side, qty, OrderType.LIMIT, target, None, entry.tif, ExitReason.TAKE_PROFIT.value)
        self.peer[sl.client_order_id] = tp.client_order_id
        self.peer[tp.client_order_id] = sl.client_order_id
        # the stop-loss goes first: a broker matching a bar works its orders in order
        self._send(sl, bar, c, day)
        if tp.client_order_id in self.peer:  # the stop did not fill at once
            self._send(tp, bar, c, day)
        else:
            self.reqs.pop(tp.client_order_id, None)
            self.leg_of.pop(tp.client_order_id, None)

    def rearm(self, entry: OrderRequest) -> None:
        """A restart: `entry` is the last bracketed entry of this book and symbol that filled. Its
        exit may be gone (canceled when the session stopped, or never sent: a crash after the
        fill); the first live bar sends it again if the position is still held that way."""
        if entry.bracket is not None and self.on_bar == self._order_bar:
            self.rearm_entry = entry

    def _rearm(self, entry: OrderRequest) -> None:
        """One exit for the whole held position, unless it is flat or the other way, an exit
        works for it (an adopted OCO, any working order of the exit side), the entry itself
        still works (its exits follow its fill), or a risk or session exit is on its way."""
        self.rearm_entry = None
        sign = entry.side.sign
        pos = self.book.position(self.symbol)
        if pos * sign <= 1e-9 or entry.bracket is None or self.exit_pending is not None or self.goal is not None:
            return
        if entry.client_order_id in self.working or any(
                cid in self.reqs and self.reqs[cid].side.sign != sign for cid in self.working):
            return
        self._send_exits(entry, abs(pos), entry.bracket)

    def _request(self, side: Side, qty: float, kind: OrderType, limit: float | None, stop: float | None,
                 tif: TimeInForce, reason: str, order_class: str = "", stop_loss: float | None = None,
                 bracket: tuple[float, float] | None = None) -> OrderRequest:
        """A new order of the strategy (its own, or a bracket leg: `reason` is then the leg)."""
        self.n_orders += 1
        req = OrderRequest(client_order_id=f"{self.id_prefix}{self.n_orders}", strategy_id=self.strategy_id,
                           symbol=self.symbol, side=side, qty=qty, order_type=kind, limit_price=limit,
                           stop_price=stop, tif=tif, ts=self.now[1], reason=reason, order_class=order_class,
                           stop_loss=stop_loss, bracket=bracket)
        self.reqs[req.client_order_id] = req
        if reason != "order":
            self.leg_of[req.client_order_id] = reason
        return req

    def adopt(self, req: OrderRequest, left: float) -> None:
        """An order an earlier session left open (a restart): working for this slot with `left` to
        fill; an order strategy sees it among its open orders and its limits count it (an OCO exit
        once). A restored entry keeps its bracket (journaled with it): the exits follow its fill,
        for all it filled, before the restart too."""
        cid = req.client_order_id
        self.working[cid] = left
        if self.on_bar == self._order_bar:
            self.reqs[cid] = req
            if req.order_class:
                self.leg_of[cid] = req.order_class
            elif req.bracket is not None:
                self.brackets[cid] = req.bracket
                self.leg_of[cid] = "entry"
                self.entry_filled[cid] = req.qty - left

    def _cancel_one(self, cid: str) -> None:
        if cid in self.working and not self.broker.cancel(cid, self.now[1]):
            self._done(cid, filled=False)

    def cancel_order(self, order_id: str) -> bool:
        if order_id not in self.reqs or order_id not in self.working:
            return False
        self._cancel_one(order_id)
        return True

    def cancel_orders(self) -> None:
        self.brackets.clear()
        for cid in list(self.reqs):
            self.peer.pop(cid, None)
            self._cancel_one(cid)

    def position_qty(self) -> float:
        return float(self.book.position(self.symbol))

    def average_price(self) -> float | None:
        lot = self.book.lots.get(self.symbol)
        return lot.avg_price if lot is not None and self.book.position(self.symbol) else None

    def working_qty(self) -> float:
        return sum(q * self.reqs[cid].side.sign for cid, q in self.working.items() if cid in self.reqs)

    def order_views(self) -> list[tuple[OrderRequest, float, str]]:
        """(request, quantity still to fill, leg) of every open order of the strategy."""
        return [(r, self.working[cid], self.leg_of.get(cid, "")) for cid, r in self.reqs.items() if cid in self.working]

    def fill_list(self) -> list[Fill]:
        return self.api_fills


class BarStep:
    """A multi-symbol strategy's time step: calls `on_bars` once every one of its symbols has a
    bar of that time (bars of one time arrive together on the timeline and live)."""

    __slots__ = ("strategy", "n", "ts", "bars")

    def __init__(self, strategy: Any, symbols: list[str]) -> None:
        self.strategy = strategy
        self.n = len(symbols)
        self.ts = -1
        self.bars: dict[str, tuple[float, float, float, float, float]] = {}

    def arrive(self, symbol: str, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        if ts != self.ts:
            self.ts = ts
            self.bars = {}
        self.bars[symbol] = (o, h, l, c, v)
        if len(self.bars) == self.n:
            self.strategy.on_bars(ts, self.bars)
