"""The paper account: orders, fills, cash, positions and activities, all in exact Decimal.

Synchronous and single-threaded (the server calls it on its event loop only). Every state change
that Alpaca would report on the trade-updates stream is passed to `emit(event, order, extra)`.

Fill model (documented choices where Alpaca's paper engine is private):
* At submission a routed order executes at once against the last trade price (the close of the
  current bar): market orders always, limits when marketable, stops when already triggered.
* When a new bar becomes current, resting orders are evaluated against it by the backtest's
  matching core (execution/matching.py: market at the open, limits at the open or the limit,
  stops at max(open, stop), stop-limits as documented there); trailing stops track the
  high/low-water mark. `fill_volume_cap` caps a bar's fill at that share of its volume.
* Outside the regular session (exchange calendar: 09:30 to the real close, early closes at
  13:00, New York) orders wait as `accepted` and are routed on
  the first eligible bar; extended-hours DAY limits trade 04:00-20:00. DAY orders expire at the
  close of their session, OPG/CLS orders execute on the opening/closing bar, IOC/FOK never rest.
* With `partial_fill_prob` > 0 an eligible fill may be split; the rest waits for the next bar.
* Replace (PATCH) ends the old order `replaced` and admits a new one (new id, `replaces` set) whose
  qty defaults to the old order's unfilled quantity; buying power is checked as if the old order
  were gone. A cancel (DELETE) passes through `pending_cancel` and a replace through
  `pending_replace`, each with its event, then completes at once, as Alpaca's stream shows them.
* Bracket, OCO and OTO orders: see groups.py (legs held until the entry fills, one cancels the
  other, a bar reaching both legs fills the stop-loss first).
* Buying power: multiplier 1 = cash; 2 = (equity - initial margin) * 2 with 50 % initial margin on
  gross exposure; 4 = the same times 4. Open opening orders reserve their value. A queued order
  that no longer fits at routing time is `rejected`.
* Not modelled: wash-trade and PDT rules, fees, dividends, borrow.
"""

from __future__ import annotations

import contextlib
import heapq
import random
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import Any

from admf.emulator import calendar as cal
from admf.emulator import groups
from admf.emulator.clock import ReplayClock
from admf.emulator.config import EmulatorConfig
from admf.emulator.fills import bar_price, price_now
from admf.emulator.market import FAKEPACA, Market, Series
from admf.emulator.orders import (
    _EXCHANGES,
    _NAMESPACE,
    HUNDRED,
    Emit,
    Order,
    Position,
    asset_uuid,
    forbidden,
    not_found,
    parse_order,
)
from admf.emulator.wire import (
    NS,
    ZERO,
    WireError,
    activity_id,
    dec,
    dstr,
    fdec,
    iso_us,
    parse_bool,
    parse_time,
    q9,
    unprocessable,
)
from admf.execution.matching import participation


class Broker:
    def __init__(self, cfg: EmulatorConfig, market: Market, clock: ReplayClock, emit: Emit | None = None) -> None:
        self.cfg = cfg
        self.market = market
        self.clock = clock
        self.emit: Emit = emit or (lambda event, order, extra: None)
        # Returns a reason to reject an accepted order on the stream (the reject_orders fault), or None.
        self.reject_hook: Callable[[Order], str | None] | None = None
        self._pending_reject: tuple[Order, str] | None = None
        self.rng = random.Random(cfg.seed)
        self.account_id = str(uuid.uuid5(_NAMESPACE, "account:" + cfg.api_key))
        self.account_number = "PA" + self.account_id.replace("-", "")[:10].upper()
        self.created_at = clock.now()
        self.cash = Decimal(cfg.initial_cash)
        self.last_equity = self.cash
        self.last_maintenance = ZERO
        self.orders: dict[str, Order] = {}
        self.by_cid: dict[str, Order] = {}
        self.order_list: list[Order] = []
        self.open_by_symbol: dict[str, list[Order]] = {}
        self.positions: dict[str, Position] = {}
        self.activities: list[dict[str, Any]] = []
        self.activity_index: dict[str, int] = {}
        self.lastday: dict[str, Decimal] = {}
        self.day: str = ""
        self.seq = 0
        self._expiry: list[tuple[int, int, str]] = []
        self.assets = {s: self._asset(s) for s in cfg.symbols}
        self.asset_by_id = {a["id"]: s for s, a in self.assets.items()}
        # persistence bookkeeping (read and cleared by the state store)
        self.dirty_orders: set[str] = set()
        self.new_activities: list[dict[str, Any]] = []

    # assets

    def _asset(self, symbol: str) -> dict[str, Any]:
        return {
            "id": asset_uuid(symbol),
            "class": "us_equity",
            "exchange": _EXCHANGES.get(symbol, "NASDAQ"),
            "symbol": symbol,
            "name": f"{symbol} (emulated)",
            "status": "active",
            "tradable": True,
            "marginable": True,
            "maintenance_margin_requirement": 30,
            "margin_requirement_long": "50",
            "margin_requirement_short": "50",
            "shortable": bool(self.cfg.shorting_enabled),
            "easy_to_borrow": True,
            "fractionable": True,
            "attributes": ["fractional_eh_enabled", "has_options"],
        }

    def resolve_symbol(self, key: str) -> str | None:
        if key in self.assets:
            return key
        if key in self.asset_by_id:
            return self.asset_by_id[key]
        base = key.split(":")[0]
        return base if base in self.assets else None

    def list_assets(self, status: str | None, asset_class: str | None, exchange: str | None) -> list[dict]:
        out = list(self.assets.values())
        if status:
            out = [a for a in out if a["status"] == status]
        if asset_class:
            out = [a for a in out if a["class"] == asset_class]
        if exchange:
            out = [a for a in out if a["exchange"] == exchange]
        return out

    def get_asset(self, key: str) -> dict:
        sym = self.resolve_symbol(key)
        if sym is None:
            raise not_found(f"asset not found for {key}")
        return self.assets[sym]

    # prices and money

    def price(self, symbol: str) -> Decimal | None:
        p = self.market.price(symbol)
        return None if p is None else fdec(p)

    def _mark(self, pos: Position) -> Decimal:
        p = self.price(pos.symbol)
        return pos.avg() if p is None else p

    def _totals(self) -> tuple[Decimal, Decimal]:
        long_mv = ZERO
        short_mv = ZERO
        for pos in self.positions.values():
            mv = pos.qty * self._mark(pos)
            if pos.qty > 0:
                long_mv += mv
            else:
                short_mv += mv
        return long_mv, short_mv

    def equity(self) -> Decimal:
        long_mv, short_mv = self._totals()
        return self.cash + long_mv + short_mv

    def _reserved(self) -> Decimal:
        total = ZERO
        for lst in self.open_by_symbol.values():
            for o in lst:
                if o.opening and o.is_open:
                    total += self._order_value(o, o.remaining())
        return total

    def _order_value(self, o: Order, qty: Decimal | None) -> Decimal:
        if qty is None:
            return (o.notional or ZERO) - o.filled_value
        if o.type in ("limit", "stop_limit"):
            px = o.limit_price
        elif o.type == "stop":
            px = max(o.stop_price or ZERO, self.price(o.symbol) or ZERO)
        else:
            px = self.price(o.symbol)
        return qty * (px or ZERO)

    def _base_buying_power(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        long_mv, short_mv = self._totals()
        equity = self.cash + long_mv + short_mv
        initial = (long_mv - short_mv) / 2
        maintenance = long_mv * Decimal("0.25") + (-short_mv) * Decimal("0.30")
        regt = max(equity - initial, ZERO) * 2
        m = self.cfg.multiplier
        if m == "1":
            base = max(self.cash, ZERO)
        elif m == "2":
            base = regt
        else:
            base = max(equity - initial, ZERO) * 4
        return base, regt, initial, maintenance

    def buying_power(self) -> Decimal:
        base = self._base_buying_power()[0]
        return max(base - self._reserved(), ZERO)

    def account(self) -> dict[str, Any]:
        long_mv, short_mv = self._totals()
        equity = self.cash + long_mv + short_mv
        base, regt, initial, maintenance = self._base_buying_power()
        reserved = self._reserved()
        bp = max(base - reserved, ZERO)
        out: dict[str, Any] = {
            "id": self.account_id,
            "admin_configurations": {},
            "user_configurations": None,
            "account_number": self.account_number,
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "options_approved_level": 0,
            "options_trading_level": 0,
            "currency": "USD",
            "buying_power": dstr(bp),
            "regt_buying_power": dstr(max(regt - reserved, ZERO)),
            "effective_buying_power": dstr(bp),
            "non_marginable_buying_power": dstr(max(self.cash - reserved, ZERO)),
            "options_buying_power": dstr(max(self.cash, ZERO)),
            "cash": dstr(self.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "portfolio_value": dstr(equity),
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": iso_us(self.created_at),
            "trade_suspended_by_user": False,
            "multiplier": self.cfg.multiplier,
            "shorting_enabled": bool(self.cfg.shorting_enabled),
            "equity": dstr(equity),
            "last_equity": dstr(self.last_equity),
            "long_market_value": dstr(long_mv),
            "short_market_value": dstr(short_mv),
            "position_market_value": dstr(long_mv - short_mv),
            "initial_margin": dstr(initial),
            "maintenance_margin": dstr(maintenance),
            "last_maintenance_margin": dstr(self.last_maintenance),
            "sma": "0",
            "crypto_tier": 1,
            "intraday_adjustments": "0",
            "pending_reg_taf_fees": "0",
            "balance_asof": self.day or None,
        }
        if self.cfg.pdt_fields:
            out["pattern_day_trader"] = False
            out["daytrade_count"] = 0
            out["daytrading_buying_power"] = dstr(bp if self.cfg.multiplier == "4" else ZERO)
            out["bod_dtbp"] = "0"
        return out

    # positions

    def _position_wire(self, pos: Position) -> dict[str, Any]:
        cur = self.price(pos.symbol)
        price = cur if cur is not None else pos.avg()
        mv = pos.qty * price
        pl = mv - pos.cost
        with localcontext() as ctx:
            ctx.prec = 40
            plpc = (pl / abs(pos.cost)).quantize(Decimal("1e-10")) if pos.cost else ZERO
            last = self.lastday.get(pos.symbol, price)
            ref = last if pos.opened_day and pos.opened_day < self.day else pos.avg()
            ipl = pos.qty * (price - ref)
            ref_value = abs(pos.qty * ref)
            iplpc = (ipl / ref_value).quantize(Decimal("1e-10")) if ref_value else ZERO
            change = ((price - last) / last).quantize(Decimal("1e-10")) if last else ZERO
        return {
            "asset_id": asset_uuid(pos.symbol),
            "symbol": pos.symbol,
            "exchange": _EXCHANGES.get(pos.symbol, "NASDAQ"),
            "asset_class": "us_equity",
            "asset_marginable": True,
            "qty": dstr(pos.qty),
            "avg_entry_price": dstr(pos.avg()),
            "side": "long" if pos.qty > 0 else "short",
            "market_value": dstr(mv),
            "cost_basis": dstr(q9(pos.cost)),
            "unrealized_pl": dstr(q9(pl)),
            "unrealized_plpc": dstr(plpc),
            "unrealized_intraday_pl": dstr(q9(ipl)),
            "unrealized_intraday_plpc": dstr(iplpc),
            "current_price": dstr(price),
            "lastday_price": dstr(last),
            "change_today": dstr(change),
            "qty_available": dstr(self._qty_available(pos.symbol)),
        }

    def _held(self, symbol: str, closing_side: str) -> Decimal:
        """Shares held by every open order on the side that would reduce the position."""
        held = ZERO
        for o in self.open_by_symbol.get(symbol, ()):
            # a stop-loss leg holds the same shares as its take-profit sibling: count them once
            if o.side == closing_side and o.is_open and o.qty is not None and o.leg != groups.STOP_LOSS:
                held += o.remaining() or ZERO
        return held

    def _qty_available(self, symbol: str) -> Decimal:
        """Signed like the position, never past zero (open orders may exceed a position)."""
        pos = self.positions.get(symbol)
        if pos is None:
            return ZERO
        if pos.qty > 0:
            return max(pos.qty - self._held(symbol, "sell"), ZERO)
        return min(pos.qty + self._held(symbol, "buy"), ZERO)

    def list_positions(self) -> list[dict[str, Any]]:
        return [self._position_wire(p) for _, p in sorted(self.positions.items())]

    def get_position(self, key: str) -> dict[str, Any]:
        sym = self.resolve_symbol(key) or key
        pos = self.positions.get(sym)
        if pos is None:
            raise not_found("position does not exist")
        return self._position_wire(pos)

    # order intake

    def _new_order(self, now: int) -> Order:
        o = Order()
        o.id = str(uuid.uuid4())
        o.created_at = o.updated_at = o.submitted_at = now
        self.seq += 1
        o.seq = self.seq
        return o

    def submit(self, body: Any, *, internal: bool = False) -> dict[str, Any]:
        """POST /v2/orders. Returns the order as it stood when accepted; fills may follow at once."""
        if not isinstance(body, dict):
            raise unprocessable("request body must be a JSON object")
        o = self._validate(body)
        specs = groups.parse_legs(body, o)
        self._check_position(o, internal)
        if o.order_class == "oco" and o.opening:
            raise unprocessable("oco orders must close a position (exit only)")
        now = self.clock.stamp()
        o.created_at = o.updated_at = o.submitted_at = now
        self._admit(o, now)
        legs = groups.make_legs(self, o, specs, now) if specs else []
        if o.order_class == "oco":
            groups.activate(self, o)  # both members work at once; the stop-loss is tried first
            for leg in legs:
                if o.status == "new":
                    self._execute_now(leg)
        snapshot = o.wire(legs)
        self._after_admit(o)
        return snapshot

    def _validate(self, body: dict[str, Any]) -> Order:
        o = self._new_order(self.clock.now())
        parse_order(body, o)
        sym_key, tif, cid = body["symbol"], o.tif, body.get("client_order_id")
        sym = self.resolve_symbol(sym_key)
        if sym is None:
            raise unprocessable(f'asset "{sym_key}" not found' if sym_key != FAKEPACA
                                else f'asset "{sym_key}" is not tradable')
        o.symbol = sym
        o.asset_id = self.assets[sym]["id"]
        if cid is not None and cid in self.by_cid:
            raise unprocessable("client_order_id must be unique")
        o.client_order_id = cid or str(uuid.uuid4())
        if self.cfg.enforce_hours and tif in ("opg", "cls"):
            mins = self._et_minutes(self.clock.now())
            if tif == "opg" and 9 * 60 + 28 <= mins < 19 * 60:
                raise unprocessable("opg orders are not accepted between 9:28am and 7:00pm ET", code=42210000)
            if tif == "cls" and 15 * 60 + 50 <= mins < 19 * 60:
                raise unprocessable("cls orders are not accepted between 3:50pm and 7:00pm ET", code=42210000)
        return o

    @staticmethod
    def _et_minutes(ns: int) -> int:
        dt = datetime.fromtimestamp(ns // NS, cal.NY)
        return dt.hour * 60 + dt.minute

    def _check_position(self, o: Order, internal: bool) -> None:
        """Opening vs closing, qty available, shorting rules and buying power (403s)."""
        pos = self.positions.get(o.symbol)
        pq = pos.qty if pos else ZERO
        if o.buy:
            o.intent = "buy_to_close" if pq < 0 else "buy_to_open"
        else:
            o.intent = "sell_to_close" if pq > 0 else "sell_to_open"
        closing = (o.buy and pq < 0) or (not o.buy and pq > 0)
        if closing:
            o.opening = False
            avail = abs(self._qty_available(o.symbol))
            need = o.qty
            if need is None:
                px = self.price(o.symbol) or ZERO
                need = q9(((o.notional or ZERO) / px).quantize(Decimal("1e-9"), ROUND_DOWN)) if px else ZERO
            if need > avail:
                raise forbidden(
                    f"insufficient qty available for order (requested: {dstr(need)}, available: {dstr(avail)})",
                    symbol=o.symbol, available=dstr(avail), existing_qty=dstr(abs(pq)),
                    held_for_orders=dstr(abs(pq) - avail),
                )
            return
        o.opening = True
        if not o.buy:
            if not self.cfg.shorting_enabled:
                raise forbidden("account is not allowed to short")
            if o.qty is None or o.qty != o.qty.to_integral_value():
                raise forbidden("fractional orders are not allowed to short")
        if internal:
            return
        value = self._order_value(o, o.qty)
        if value > self.buying_power():
            raise forbidden("insufficient buying power")

    def _eligible(self, o: Order, ns: int) -> bool:
        if not self.cfg.enforce_hours:
            return True
        return cal.is_ext_open(ns) if o.extended_hours else cal.is_open(ns)

    def _set_expiry(self, o: Order, now: int) -> None:
        if not self.cfg.enforce_hours:
            return
        if o.tif == "day":
            o.expire_ns = cal.next_ext_session(now)[1] if o.extended_hours else cal.next_session(now)[1]
        elif o.tif == "opg":
            o.target_open = cal.next_open_close(now)[0] if not cal.is_open(now) else cal.next_session(
                cal.next_session(now)[1])[0]
            o.expire_ns = cal.next_session(o.target_open)[1]
        elif o.tif == "cls":
            o.expire_ns = cal.next_session(now)[1]
        if o.expire_ns:
            heapq.heappush(self._expiry, (o.expire_ns, o.seq, o.id))

    def _admit(self, o: Order, now: int) -> None:
        self.orders[o.id] = o
        self.by_cid[o.client_order_id] = o
        self.order_list.append(o)
        self.open_by_symbol.setdefault(o.symbol, []).append(o)
        self._set_expiry(o, now)
        reason = self.reject_hook(o) if self.reject_hook is not None else None
        routed = reason is None and self._eligible(o, now) and o.tif != "opg"
        o.status = "new" if routed else "accepted"
        self.dirty_orders.add(o.id)
        if reason is not None:
            self._pending_reject = (o, reason)
        elif routed:
            self.emit("new", o, None)

    def _after_admit(self, o: Order) -> None:
        if self._pending_reject is not None and self._pending_reject[0] is o:
            self._pending_reject = None
            self._reject(o, self.clock.stamp())
            return
        if o.status == "new" and o.tif not in ("opg", "cls"):
            self._execute_now(o)
        if o.tif in ("ioc", "fok") and o.is_open and o.status != "accepted":
            self._cancel(o, self.clock.stamp())

    # execution

    def _execute_now(self, o: Order) -> None:
        p = self.price(o.symbol)
        if p is None:
            return
        hwm = o.hwm
        px = price_now(o, p)
        if o.hwm != hwm or o.triggered:
            self.dirty_orders.add(o.id)
        if px is not None:
            self._fill(o, px, self.clock.stamp(), allow_partial=o.tif != "fok")

    def _bar_price(self, o: Order, s: Series, i: int) -> Decimal | None:
        px = bar_price(o, float(s.o[i]), float(s.h[i]), float(s.l[i]))
        self.dirty_orders.add(o.id)  # the water mark or trigger may have moved
        return px

    def on_bar(self, s: Series, i: int, bar_start: int, bar_end: int) -> None:
        """A bar of s became current: route waiting orders and run the resting ones against it."""
        orders = self.open_by_symbol.get(s.symbol)
        if not orders:
            return
        rth = cal.is_open(bar_start) if self.cfg.enforce_hours else True
        for o in groups.stop_first(orders):
            if not o.is_open or not self._eligible(o, bar_start):
                continue
            if o.tif == "opg":
                if o.target_open is not None and bar_start < o.target_open:
                    continue
                if not self._route(o):
                    continue
                px = self._bar_price(o, s, i) if o.type in ("market", "limit") else None
                now = self.clock.stamp()
                if px is not None:
                    self._fill(o, px, now, allow_partial=False)
                if o.is_open:
                    self._expire(o, now)
                continue
            if o.tif == "cls":
                close = cal.next_session(bar_start)[1] if self.cfg.enforce_hours else None
                if close is None or bar_end < close:
                    continue
                if not self._route(o):
                    continue
                cp = fdec(s.c[i])
                marketable = o.type == "market" or (
                    o.type == "limit" and o.limit_price is not None
                    and (cp <= o.limit_price if o.buy else cp >= o.limit_price))
                px = cp if marketable else None
                now = self.clock.stamp()
                if px is not None:
                    self._fill(o, px, now, allow_partial=False)
                if o.is_open:
                    self._expire(o, now)
                continue
            if o.type == "trailing_stop" and not rth:
                continue
            if not self._route(o):
                continue
            px = self._bar_price(o, s, i)
            if px is not None:
                self._fill(o, px, self.clock.stamp(), allow_partial=o.tif != "fok", bar_volume=float(s.v[i]))
            if o.tif in ("ioc", "fok") and o.is_open:
                self._cancel(o, self.clock.stamp())

    def _route(self, o: Order) -> bool:
        """Send a queued order to the (emulated) venue; False when it is rejected instead."""
        if o.status != "accepted":
            return True
        if o.opening and self._order_value(o, o.remaining()) > self.buying_power() + self._order_value(
                o, o.remaining()):
            self._reject(o, self.clock.stamp())
            return False
        o.status = "new"
        o.updated_at = self.clock.stamp()
        self.dirty_orders.add(o.id)
        self.emit("new", o, None)
        return True

    def _reject(self, o: Order, now: int) -> None:
        o.status = "rejected"
        o.failed_at = o.updated_at = now
        self._close_order(o)
        self.dirty_orders.add(o.id)
        self.emit("rejected", o, None)
        if o.order_class:
            groups.on_end(self, o)

    def _fill(self, o: Order, price: Decimal, now: int, allow_partial: bool = True,
              bar_volume: float | None = None) -> None:
        rem = o.remaining()
        if rem is None:  # notional: shares bought with what is left of the dollars
            left = (o.notional or ZERO) - o.filled_value
            rem = (left / price).quantize(Decimal("1e-9"), ROUND_DOWN)
            if rem <= 0:
                self._cancel(o, now)
                return
        q = rem
        cap = self.cfg.fill_volume_cap
        if cap is not None and bar_volume is not None and allow_partial and o.qty is not None:
            whole = o.qty == o.qty.to_integral_value()
            room = participation(float(rem), bar_volume, cap, not whole)
            if room < float(rem):
                q = Decimal(int(room)) if whole else q9(Decimal(repr(room)))
            if q <= 0:
                return  # no room in this bar: the order keeps working
        p = self.cfg.partial_fill_prob
        if allow_partial and p > 0 and self.rng.random() < p:
            whole = rem == rem.to_integral_value() and (o.qty is None or o.qty == o.qty.to_integral_value())
            if whole and rem > 1:
                q = Decimal(self.rng.randint(1, int(rem) - 1))
            elif not whole and rem > Decimal("0.000000002"):
                q = q9((rem * Decimal(str(round(self.rng.uniform(0.1, 0.9), 6)))).quantize(
                    Decimal("1e-9"), ROUND_DOWN)) or rem
        self._apply_fill(o.symbol, o.buy, q, price, now)
        o.filled_qty += q
        o.filled_value += q * price
        o.updated_at = now
        done = o.filled_qty >= o.qty if o.qty is not None else q == rem
        event = "fill" if done else "partial_fill"
        o.status = "filled" if done else "partially_filled"
        if done:
            o.filled_at = now
            self._close_order(o)
        self.dirty_orders.add(o.id)
        exec_id = str(uuid.uuid4())
        pos = self.positions.get(o.symbol)
        position_qty = pos.qty if pos else ZERO
        act = {
            "id": activity_id(now, exec_id),
            "activity_type": "FILL",
            "transaction_time": iso_us(now),
            "type": event,
            "price": dstr(price),
            "qty": dstr(q),
            "side": o.side,
            "symbol": o.symbol,
            "leaves_qty": dstr(o.remaining() if o.qty is not None else ZERO),
            "order_id": o.id,
            "cum_qty": dstr(o.filled_qty),
            "order_status": o.status,
        }
        self.activity_index[str(act["id"])] = len(self.activities)
        self.activities.append(act)
        self.new_activities.append(act)
        self.emit(event, o, {
            "execution_id": exec_id, "price": dstr(price), "qty": dstr(q), "position_qty": dstr(position_qty),
        })
        if o.order_class:
            groups.on_fill(self, o, q)

    def _apply_fill(self, symbol: str, buy: bool, q: Decimal, price: Decimal, now: int) -> None:
        dq = q if buy else -q
        self.cash -= dq * price
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol, opened_day=self.day)
        old = pos.qty
        new = old + dq
        with localcontext() as ctx:
            ctx.prec = 40
            if old == 0 or (old > 0) == (dq > 0):
                pos.cost += dq * price
            elif abs(dq) <= abs(old):
                pos.cost = pos.cost * new / old if new else ZERO
            else:
                pos.cost = new * price
                pos.opened_day = self.day
        pos.qty = new
        if new == 0:
            del self.positions[symbol]

    def _close_order(self, o: Order) -> None:
        lst = self.open_by_symbol.get(o.symbol)
        if lst is not None:
            with contextlib.suppress(ValueError):
                lst.remove(o)

    def _cancel(self, o: Order, now: int) -> None:
        o.status = "canceled"
        o.canceled_at = o.updated_at = now
        self._close_order(o)
        self.dirty_orders.add(o.id)
        self.emit("canceled", o, None)
        if o.order_class:
            groups.on_end(self, o)

    def _expire(self, o: Order, now: int) -> None:
        o.status = "expired"
        o.expired_at = o.updated_at = now
        self._close_order(o)
        self.dirty_orders.add(o.id)
        self.emit("expired", o, None)
        if o.order_class:
            groups.on_end(self, o)

    # time

    def on_time(self, now: int) -> None:
        """Expire orders whose session ended at or before now."""
        heap = self._expiry
        while heap and heap[0][0] <= now:
            when, _, oid = heapq.heappop(heap)
            o = self.orders.get(oid)
            if o is not None and o.is_open and o.expire_ns == when:
                self._expire(o, self.clock.stamp())

    def on_new_day(self, day: str) -> None:
        """Before the first bar of a new New York date: the last prices become lastday prices."""
        if self.day and day != self.day:
            self.last_equity = self.equity()
            self.last_maintenance = self._base_buying_power()[3]
            for sym in self.market.series:
                p = self.price(sym)
                if p is not None:
                    self.lastday[sym] = p
        self.day = day

    # lookups and listing

    def _get(self, order_id: str) -> Order:
        o = self.orders.get(order_id)
        if o is None:
            raise not_found("order not found")
        return o

    def get_order(self, order_id: str, nested: bool = False) -> dict[str, Any]:
        o = self._get(order_id)
        return o.wire(groups.legs_of(self, o) if nested else None)

    def get_by_client_id(self, cid: str | None) -> dict[str, Any]:
        o = self.by_cid.get(cid or "")
        if o is None:
            raise not_found("order not found")
        return o.wire()

    def list_orders(self, q: dict[str, str]) -> list[dict[str, Any]]:
        status = q.get("status") or "open"
        if status not in ("open", "closed", "all"):
            raise unprocessable(f"invalid status: {status}")
        try:
            limit = int(q.get("limit") or 50)
        except ValueError:
            raise unprocessable("invalid limit") from None
        if limit <= 0:
            raise unprocessable("limit must be > 0")
        limit = min(limit, 500)
        direction = q.get("direction") or "desc"
        if direction not in ("asc", "desc"):
            raise unprocessable(f"invalid direction: {direction}")
        after = parse_time(q["after"], "after") if q.get("after") else None
        until = parse_time(q["until"], "until") if q.get("until") else None
        side = q.get("side")
        symbols = {s.strip() for s in q["symbols"].split(",") if s.strip()} if q.get("symbols") else None
        nested = parse_bool(q.get("nested"))
        seq = self.order_list if direction == "asc" else reversed(self.order_list)
        out = []
        for o in seq:
            if status == "open" and not o.is_open:
                continue
            if status == "closed" and o.is_open:
                continue
            if after is not None and o.submitted_at <= after:
                continue
            if until is not None and o.submitted_at >= until:
                continue
            if side and o.side != side:
                continue
            if symbols is not None and o.symbol not in symbols:
                continue
            if nested and o.parent_id:
                continue  # listed inside its parent
            out.append(o.wire(groups.legs_of(self, o) if nested else None))
            if len(out) >= limit:
                break
        return out

    # replace and cancel

    def cancel(self, order_id: str) -> None:
        o = self._get(order_id)
        if not o.is_open:
            raise unprocessable(f'order is already in "{o.status}" state', code=42210000)
        self._pending(o, "pending_cancel")
        self._cancel(o, self.clock.stamp())

    def _pending(self, o: Order, status: str) -> None:
        """The transient state Alpaca reports while a cancel or replace is being worked."""
        o.status = status
        o.updated_at = self.clock.stamp()
        self.dirty_orders.add(o.id)
        self.emit(status, o, None)

    def cancel_all(self) -> list[dict[str, Any]]:
        out = []
        for o in [o for o in self.order_list if o.is_open]:
            if not o.is_open:  # cancelled with its group earlier in this loop
                continue
            self._pending(o, "pending_cancel")
            self._cancel(o, self.clock.stamp())
            out.append({"id": o.id, "status": 200, "body": o.wire()})
        return out

    def replace(self, order_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise unprocessable("request body must be a JSON object")
        old = self._get(order_id)
        if not old.is_open:
            raise unprocessable(f'order is already in "{old.status}" state', code=42210000)
        if old.parent_id and old not in self.open_by_symbol.get(old.symbol, ()):
            raise unprocessable("a held leg cannot be replaced before its entry fills", code=42210000)
        allowed = {"qty", "time_in_force", "limit_price", "stop_price", "trail", "client_order_id"}
        fields = {k: v for k, v in body.items() if k in allowed and v is not None}
        if not fields:
            raise unprocessable("no replaceable field given (qty, time_in_force, limit_price, stop_price, trail, "
                                "client_order_id)")
        if old.notional is not None:
            raise unprocessable("notional orders cannot be replaced", code=42210000)
        new_body: dict[str, Any] = {
            "symbol": old.symbol, "side": old.side, "type": old.type,
            "time_in_force": fields.get("time_in_force", old.tif),
            "qty": fields.get("qty", dstr(old.remaining())),
            "extended_hours": old.extended_hours,
        }
        if old.limit_price is not None:
            new_body["limit_price"] = fields.get("limit_price", dstr(old.limit_price))
        if old.type in ("stop", "stop_limit"):
            new_body["stop_price"] = fields.get("stop_price", dstr(old.stop_price))
        elif "stop_price" in fields:
            raise unprocessable(f"stop_price cannot be set on a {old.type} order")
        if "limit_price" in fields and old.limit_price is None:
            raise unprocessable(f"limit_price cannot be set on a {old.type} order")
        if old.type == "trailing_stop":
            trail = fields.get("trail")
            if old.trail_price is not None:
                new_body["trail_price"] = trail if trail is not None else dstr(old.trail_price)
            else:
                new_body["trail_percent"] = trail if trail is not None else dstr(old.trail_percent)
        elif "trail" in fields:
            raise unprocessable("trail can only be set on a trailing_stop order")
        cid = fields.get("client_order_id")
        if cid is not None:
            new_body["client_order_id"] = cid
        q = dec(new_body["qty"], "qty")
        if q != q.to_integral_value() and old.qty is not None and old.qty == old.qty.to_integral_value():
            raise unprocessable("qty must be integer")
        new = self._validate(new_body)
        # The replacement is checked as if the old order were gone (its hold is released), and with
        # it its one-cancels-other peers, which hold the same shares.
        lst = self.open_by_symbol.setdefault(old.symbol, [])
        saved = list(lst)
        gone = {id(p) for p in [old, *groups.peers(self, old)]}
        lst[:] = [p for p in lst if id(p) not in gone]
        try:
            self._check_position(new, internal=False)
        finally:
            lst[:] = saved
        self._pending(old, "pending_replace")
        now = self.clock.stamp()
        old.status = "replaced"
        old.replaced_at = old.updated_at = now
        old.replaced_by = new.id
        self._close_order(old)
        self.dirty_orders.add(old.id)
        self.emit("replaced", old, None)
        new.replaces = old.id
        new.hwm = old.hwm
        new.triggered = old.triggered
        if old.order_class:
            groups.transfer(self, old, new)
        new.created_at = new.updated_at = new.submitted_at = self.clock.stamp()
        self._admit(new, new.submitted_at)
        snapshot = new.wire()
        self._after_admit(new)
        return snapshot

    # closing positions

    def close_position(self, key: str, qty: str | None, percentage: str | None) -> dict[str, Any]:
        sym = self.resolve_symbol(key) or key
        pos = self.positions.get(sym)
        if pos is None:
            raise not_found("position does not exist")
        if qty and percentage:
            raise unprocessable("only one of qty or percentage may be given")
        size = abs(pos.qty)
        if qty:
            q = dec(qty, "qty")
            if q <= 0:
                raise unprocessable("qty must be > 0")
        elif percentage:
            pct = dec(percentage, "percentage")
            if not ZERO < pct <= HUNDRED:
                raise unprocessable("percentage must be within (0, 100]")
            q = (size * pct / HUNDRED).quantize(Decimal("1e-9"), ROUND_DOWN)
        else:
            q = size
        body = {"symbol": sym, "qty": dstr(q), "side": "sell" if pos.qty > 0 else "buy",
                "type": "market", "time_in_force": "day"}
        return self.submit(body, internal=True)

    def close_all(self, cancel_orders: bool) -> list[dict[str, Any]]:
        if cancel_orders:
            self.cancel_all()
        out = []
        for sym in sorted(self.positions):
            try:
                out.append({"symbol": sym, "status": 200, "body": self.close_position(sym, None, None)})
            except WireError as e:
                out.append({"symbol": sym, "status": e.status, "body": e.body()})
        return out

    # activities

    def list_activities(self, q: dict[str, str], only: str | None) -> list[dict[str, Any]]:
        types = only or q.get("activity_types") or q.get("activity_type")
        if types:
            wanted = {t.strip().upper() for t in types.split(",")}
            if "FILL" not in wanted:
                return []
        direction = q.get("direction") or "desc"
        if direction not in ("asc", "desc"):
            raise unprocessable(f"invalid direction: {direction}")
        date = q.get("date")
        after = q.get("after")
        until = q.get("until")
        if date and (after or until):
            raise unprocessable("date cannot be combined with after or until")
        try:
            size = int(q.get("page_size") or (0 if date else 100))
        except ValueError:
            raise unprocessable("invalid page_size") from None
        if size < 0 or (size == 0 and not date):
            raise unprocessable("page_size must be > 0")
        if not date:
            size = min(size, 100)
        elif size == 0:
            size = len(self.activities) + 1  # a date alone pages nothing
        lo = parse_time(after, "after") if after else None
        hi = parse_time(until, "until") if until else None
        if date:
            day_start = parse_time(date, "date")
            lo, hi = day_start - 1, day_start + 86_400 * NS
        acts = self.activities
        idx = range(len(acts)) if direction == "asc" else range(len(acts) - 1, -1, -1)
        token = q.get("page_token")
        if token:
            at = self.activity_index.get(token)
            if at is None:
                raise unprocessable("invalid page_token")
            idx = range(at + 1, len(acts)) if direction == "asc" else range(at - 1, -1, -1)
        out = []
        for i in idx:
            a = acts[i]
            if lo is not None or hi is not None:
                t = parse_time(a["transaction_time"])
                if (lo is not None and t <= lo) or (hi is not None and t >= hi):
                    continue
            out.append(a)
            if len(out) >= size:
                break
        return out

    # state

    def to_state(self) -> dict[str, Any]:
        return {
            "cash": str(self.cash),
            "last_equity": str(self.last_equity),
            "last_maintenance": str(self.last_maintenance),
            "created_at": self.created_at,
            "day": self.day,
            "seq": self.seq,
            "positions": {s: [str(p.qty), str(p.cost), p.opened_day] for s, p in self.positions.items()},
            "lastday": {s: str(p) for s, p in self.lastday.items()},
            "rng": list(self.rng.getstate()[1]) + [self.rng.getstate()[0]],
        }

    def load_state(self, meta: dict[str, Any], orders: list[dict], activities: list[dict]) -> None:
        self.cash = Decimal(meta["cash"])
        self.last_equity = Decimal(meta["last_equity"])
        self.last_maintenance = Decimal(meta["last_maintenance"])
        self.created_at = meta["created_at"]
        self.day = meta["day"]
        self.seq = meta["seq"]
        self.positions = {s: Position(s, Decimal(q), Decimal(c), d) for s, (q, c, d) in meta["positions"].items()}
        self.lastday = {s: Decimal(p) for s, p in meta["lastday"].items()}
        rng = meta.get("rng")
        if rng:
            self.rng.setstate((rng[-1], tuple(rng[:-1]), None))
        self.orders.clear()
        self.by_cid.clear()
        self.order_list.clear()
        self.open_by_symbol.clear()
        self._expiry.clear()
        for d in sorted(orders, key=lambda d: d["seq"]):
            o = Order.from_state(d)
            self.orders[o.id] = o
            self.by_cid[o.client_order_id] = o
            self.order_list.append(o)
            if o.is_open:
                self.open_by_symbol.setdefault(o.symbol, []).append(o)
                if o.expire_ns:
                    heapq.heappush(self._expiry, (o.expire_ns, o.seq, o.id))
        self.activities = list(activities)
        self.activity_index = {a["id"]: i for i, a in enumerate(self.activities)}
        self.dirty_orders.clear()
        self.new_activities.clear()
