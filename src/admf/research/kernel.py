"""The portfolio kernel: one book through the whole timeline, as the event engine runs it.

It is `Engine.step` with `SimulatedBroker`, `StrategySlot`, `ExitState`, `Sizing`, `Limits`,
`Slippage`, `Commission` and `Portfolio.apply_fill` written as one compiled loop, in the same
order on every bar of symbol k:

1. market orders of k still working fill at this bar's open (with slippage), in the order
   they were sent (a reversal is two orders: close, then open);
2. the open position's exit guard checks the bar (exits.py's documented in-bar order) and a
   hit fills at once;
3. the slot decides when its raw signal changed, or on every bar outside the session when it
   is intraday (flat at the session's last bar, at its close);
4. with `fill: close` a decision's orders fill at this bar's close.

Every float is computed with the operations of those classes in their order, so cash,
quantities and P&L equal the event engine's bit for bit. Books are independent (each has its
own cash and limits), so a config with several books runs the kernel once per book.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from admf.research.numeric import frozen

# reasons, as codes (REASONS[code] is the ExitReason value)
SIGNAL, STOP_LOSS, TAKE_PROFIT, TRAILING_STOP, MAX_HOLDING, SESSION_CLOSE = 0, 1, 2, 3, 4, 5
REASONS = ("signal", "stop_loss", "take_profit", "trailing_stop", "max_holding_bars", "session_close")
# order status codes
ACCEPTED, FILLED, CANCELED = 0, 1, 2
STATUSES = ("accepted", "filled", "canceled")
SIZING_KINDS = ("fixed_shares", "notional", "percent_equity", "atr")
SLIPPAGE_KINDS = ("none", "bps", "fixed")
COMMISSION_KINDS = ("none", "per_share", "percent", "fixed")

# layout of the parameter vector (nan = not set)
(P_CASH, P_SIZING, P_SHARES, P_AMOUNT, P_PERCENT, P_RISK, P_ATR_MULT, P_FRACTIONAL,
 P_MAX_POS, P_MAX_NOTIONAL, P_MAX_GROSS, P_STOP, P_TARGET, P_TRAIL, P_MAX_HOLD,
 P_SLIP_KIND, P_SLIP, P_COMM_KIND, P_RATE, P_CMIN, P_CMAX, P_FILL_CLOSE, P_LONG, P_SHORT,
 P_INTRADAY, P_MULTI) = range(26)
N_PARAMS = 26

# order log columns
O_ROW, O_SYM, O_QTY, O_REASON, O_FILL_ROW, O_PRICE, O_FEE, O_STATUS, O_HELD_SINCE = range(9)
# trade log columns
(T_SYM, T_DIR, T_QTY, T_ENTRY_ROW, T_EXIT_ROW, T_ENTRY_PRICE, T_EXIT_PRICE, T_GROSS, T_COSTS, T_PNL,
 T_RETURN, T_EXIT_REASON) = range(12)


# per-symbol state, rows of two arrays `run` allocates (the compiled code allocates nothing: every
# numpy allocation routine it called would be one more function to compile on a cold cache)
F_AVG, F_ENTRY_COSTS, F_LAST, F_STOP, F_TARGET, F_EXT = range(6)
(I_ENTRY_ROW, I_LOT_SEQ, I_HAS_LOT, I_RAW_LAST, I_EFF, I_N_PEND, I_EX_ON, I_EX_DIR, I_EX_BAR,
 I_PEND) = range(10)  # I_PEND and I_PEND + 1: a symbol's working orders (a reversal is two)
N_F, N_I = 6, 11
# reasons as floats where the kernel passes them to a compiled call: an int constant argument is
# typed as its literal value, one more specialization of the callee per value
R_SIGNAL, R_STOP, R_TAKE, R_TRAIL, R_HOLD, R_SESSION = (float(x) for x in range(6))


@njit(cache=True, nogil=True, inline="always")
def _row(a: np.ndarray, n: int, row: float, k: float, q: float, reason: float, fill_row: float, price: float,
         fee: float, status: float, held_since: float) -> None:  # pragma: no cover - compiled
    r = a[n]
    r[O_HELD_SINCE] = held_since
    r[O_ROW] = row
    r[O_SYM] = k
    r[O_QTY] = q
    r[O_REASON] = reason
    r[O_FILL_ROW] = fill_row
    r[O_PRICE] = price
    r[O_FEE] = fee
    r[O_STATUS] = status


@njit(cache=True, nogil=True, inline="always")
def _slip(P: np.ndarray, price: float, sign: int) -> float:  # pragma: no cover - compiled
    kind = P[P_SLIP_KIND]
    if kind == 1.0:
        return price * (1.0 + sign * P[P_SLIP] * 1e-4)
    if kind == 2.0:
        return price + sign * P[P_SLIP]
    return price


@njit(cache=True, nogil=True, inline="always")
def _fee(P: np.ndarray, qty: float, price: float) -> float:  # pragma: no cover - compiled
    kind = P[P_COMM_KIND]
    if kind == 1.0:
        fee = max(P[P_RATE] * qty, P[P_CMIN])
        return min(fee, P[P_CMAX]) if P[P_CMAX] == P[P_CMAX] else fee
    if kind == 2.0:
        fee = max(P[P_RATE] * qty * price, P[P_CMIN])
        return min(fee, P[P_CMAX]) if P[P_CMAX] == P[P_CMAX] else fee
    if kind == 3.0:
        return P[P_RATE]
    return 0.0


@njit(cache=True, nogil=True, inline="always")
def _quantity(P: np.ndarray, price: float, equity: float, atr: float) -> float:  # pragma: no cover
    kind = P[P_SIZING]
    if kind == 0.0:
        q = P[P_SHARES]
    elif kind == 1.0:
        q = P[P_AMOUNT] / price
    elif kind == 2.0:
        q = max(equity, 0.0) * P[P_PERCENT] / price
    else:
        if not atr > 0.0:
            return 0.0
        q = max(equity, 0.0) * P[P_RISK] / (atr * P[P_ATR_MULT])
    if P[P_FRACTIONAL] != 0.0:
        return round(q, 6)
    return float(math.floor(q + 1e-9))


@njit(cache=True, nogil=True)
def _apply(k: int, q: float, px: float, fee: float, row: int, reason: float, cash: float, qty: np.ndarray,
           F: np.ndarray, I: np.ndarray, seq: int, trades: np.ndarray,
           n_tr: int) -> tuple[float, int, int]:  # pragma: no cover - compiled
    """Portfolio.apply_fill on arrays; appends a closed trade to `trades`."""
    avg = F[F_AVG]
    entry_costs = F[F_ENTRY_COSTS]
    entry_row = I[I_ENTRY_ROW]
    has_lot = I[I_HAS_LOT]
    lot_seq = I[I_LOT_SEQ]
    cash = cash - (q * px + fee)
    if not has_lot[k]:
        has_lot[k] = 1
        qty[k] = q
        avg[k] = px
        entry_row[k] = row
        entry_costs[k] = fee
        lot_seq[k] = seq
        seq += 1
        return cash, seq, n_tr
    lq = qty[k]
    if (lq > 0) == (q > 0):
        total = lq + q
        avg[k] = (avg[k] * lq + px * q) / total
        qty[k] = total
        entry_costs[k] += fee
        return cash, seq, n_tr
    closing = min(abs(q), abs(lq))
    direction = 1.0 if lq > 0 else -1.0
    share = closing / abs(lq)
    entry_cost = entry_costs[k] * share
    exit_cost = fee * closing / abs(q)
    ap = avg[k]
    gross = (px - ap) * closing * direction
    pnl = gross - entry_cost - exit_cost
    tr = trades[n_tr]
    tr[T_SYM] = k
    tr[T_DIR] = direction
    tr[T_QTY] = closing
    tr[T_ENTRY_ROW] = entry_row[k]
    tr[T_EXIT_ROW] = row
    tr[T_ENTRY_PRICE] = ap
    tr[T_EXIT_PRICE] = px
    tr[T_GROSS] = gross
    tr[T_COSTS] = entry_cost + exit_cost
    tr[T_PNL] = pnl
    tr[T_RETURN] = pnl / (ap * closing) if ap != 0.0 else 0.0
    tr[T_EXIT_REASON] = reason
    n_tr += 1
    entry_costs[k] -= entry_cost
    remaining = lq + q
    if abs(remaining) < 1e-9:
        has_lot[k] = 0
        qty[k] = 0.0
        # later lots keep their relative order; this one leaves the dict
        old = lot_seq[k]
        lot_seq[k] = -1
        for m in range(len(lot_seq)):
            if lot_seq[m] > old:
                lot_seq[m] -= 1
        seq -= 1
    elif (remaining > 0) == (lq > 0):
        qty[k] = remaining
    else:
        qty[k] = remaining
        avg[k] = px
        entry_row[k] = row
        entry_costs[k] = fee - exit_cost
    return cash, seq, n_tr


@njit(cache=True, nogil=True)
def _arm(k: int, row: int, qty: np.ndarray, F: np.ndarray, I: np.ndarray,
         P: np.ndarray) -> None:  # pragma: no cover - compiled
    """StrategySlot.on_fill with exit rules set: drop the guard when flat, (re)arm it when the
    direction is new."""
    pos = qty[k]
    if pos == 0.0 or not I[I_HAS_LOT, k]:
        I[I_EX_ON, k] = 0
        return
    d = 1 if pos > 0 else -1
    if not I[I_EX_ON, k] or I[I_EX_DIR, k] != d:
        I[I_EX_ON, k] = 1
        I[I_EX_DIR, k] = d
        I[I_EX_BAR, k] = row
        ep = F[F_AVG, k]
        F[F_STOP, k] = ep * (1.0 - d * P[P_STOP]) if P[P_STOP] == P[P_STOP] else np.nan
        F[F_TARGET, k] = ep * (1.0 + d * P[P_TARGET]) if P[P_TARGET] == P[P_TARGET] else np.nan
        F[F_EXT, k] = ep


def _build(exits: bool, intraday: bool, limits: bool, multi: bool, fill_close: bool) -> Any:
    """The kernel for one set of features. The flags are constants of the compiled code: numba
    drops the branches of features a book does not use before it types the function, so a plain
    run compiles none of the code of risk exits, sessions, limits or several symbols."""
    fill_open = not fill_close

    @njit(cache=True, nogil=True)
    def run_book(o, h, l, c, sym, sess, sig, active, fpass, atr, P, orders, trades, sigs, qty, F,
                 I):  # pragma: no cover - compiled
        n = len(c)
        n_sym = len(qty)
        n_ord = 0
        n_sig = 0
        # not the literal 0: a literal argument would compile _apply a second time
        n_tr = np.int64(0)
        seq = np.int64(0)
        cash = P[P_CASH]
        last = F[F_LAST]
        raw_last = I[I_RAW_LAST]
        eff_state = I[I_EFF]
        n_pend = I[I_N_PEND]
        lot_seq = I[I_LOT_SEQ]
        entry_row = I[I_ENTRY_ROW]
        allow_long = P[P_LONG] != 0.0
        allow_short = P[P_SHORT] != 0.0
        for i in range(n):
            k = sym[i] if multi else 0  # one symbol: row i is symbol 0's, the symbol column is not read
            if not active[k]:
                continue
            ci = c[i]
            # 1. working market orders fill at the open
            if fill_open and n_pend[k] > 0:
                for j in range(n_pend[k]):
                    oi = I[I_PEND + j, k]
                    q = orders[oi, O_QTY]
                    sign = 1 if q > 0 else -1
                    px = _slip(P, o[i], sign)
                    fee = _fee(P, abs(q), px)
                    orders[oi, O_FILL_ROW] = i
                    orders[oi, O_PRICE] = px
                    orders[oi, O_FEE] = fee
                    orders[oi, O_STATUS] = FILLED
                    # ---- apply the fill (Portfolio.apply_fill), re-arm the guard (slot.on_fill)
                    cash, seq, n_tr = _apply(k, q, px, fee, i, orders[oi, O_REASON], cash, qty, F, I, seq,
                                             trades, n_tr)
                    if exits:
                        _arm(k, i, qty, F, I, P)
                n_pend[k] = 0
            # 2. exit guard
            if exits and I[I_EX_ON, k]:
                d = I[I_EX_DIR, k]
                is_long = d > 0
                stop = F[F_STOP, k]
                ext = F[F_EXT, k]
                reason = R_STOP
                if P[P_TRAIL] == P[P_TRAIL]:
                    t = ext * (1.0 - d * P[P_TRAIL])
                    if stop != stop or (t > stop if is_long else t < stop):
                        stop = t
                        reason = R_TRAIL
                target = F[F_TARGET, k]
                hit = False
                market = True
                px = 0.0
                oi_ = o[i]
                hi_ = h[i]
                lo_ = l[i]
                if stop == stop and (oi_ <= stop if is_long else oi_ >= stop):
                    hit, px = True, oi_
                elif target == target and (oi_ >= target if is_long else oi_ <= target):
                    hit, px, reason, market = True, oi_, R_TAKE, False
                elif P[P_MAX_HOLD] == P[P_MAX_HOLD] and i - I[I_EX_BAR, k] >= P[P_MAX_HOLD]:
                    hit, px, reason = True, oi_, R_HOLD
                elif stop == stop and (lo_ <= stop if is_long else hi_ >= stop):
                    hit, px = True, stop
                elif target == target and (hi_ >= target if is_long else lo_ <= target):
                    hit, px, reason, market = True, target, R_TAKE, False
                else:
                    if is_long:
                        if hi_ > ext:
                            F[F_EXT, k] = hi_
                    elif lo_ < ext:
                        F[F_EXT, k] = lo_
                if hit:
                    for j in range(n_pend[k]):
                        orders[I[I_PEND + j, k], O_STATUS] = CANCELED
                    n_pend[k] = 0
                    q = -qty[k]
                    sign = 1 if q > 0 else -1
                    fpx = _slip(P, px, sign) if market else px
                    fee = _fee(P, abs(q), fpx)
                    _row(orders, n_ord, i, k, q, reason, i, fpx, fee, FILLED, entry_row[k])
                    n_ord += 1
                    cash, seq, n_tr = _apply(k, q, fpx, fee, i, reason, cash, qty, F, I, seq, trades, n_tr)
                    _arm(k, i, qty, F, I, P)
            if multi:
                last[k] = ci  # marks for the book's equity across symbols
            # 3. the slot decides (outside the session an intraday slot decides on every bar)
            s = sig[i]
            se = sess[i] if intraday else 1
            if s == raw_last[k] and se == 1:
                continue
            changed = s != raw_last[k]
            raw_last[k] = s
            eff = s if (s > 0 and allow_long) or (s < 0 and allow_short) else 0
            if intraday and se != 1:
                if se == 2:
                    for j in range(n_pend[k]):
                        orders[I[I_PEND + j, k], O_STATUS] = CANCELED
                    n_pend[k] = 0
                    if qty[k] != 0.0:
                        q = -qty[k]
                        sign = 1 if q > 0 else -1
                        fpx = _slip(P, ci, sign)
                        fee = _fee(P, abs(q), fpx)
                        _row(orders, n_ord, i, k, q, R_SESSION, i, fpx, fee, FILLED, entry_row[k])
                        n_ord += 1
                        cash, seq, n_tr = _apply(k, q, fpx, fee, i, R_SESSION, cash, qty, F, I, seq, trades,
                                                 n_tr)
                        if exits:
                            _arm(k, i, qty, F, I, P)
                    eff_state[k] = eff
                    sigs[n_sig, 0] = i
                    sigs[n_sig, 1] = 0
                    n_sig += 1
                elif changed:
                    eff_state[k] = eff
                continue
            if eff == eff_state[k]:
                continue
            eff_state[k] = eff
            sigs[n_sig, 0] = i
            sigs[n_sig, 1] = eff
            n_sig += 1
            for j in range(n_pend[k]):
                orders[I[I_PEND + j, k], O_STATUS] = CANCELED
            n_pend[k] = 0
            # target position (StrategySlot._target, Sizing.quantity, Limits.clip)
            target = 0.0
            if eff != 0:
                gross = 0.0
                if multi:
                    tot = 0.0
                    for r in range(seq):
                        for m in range(n_sym):
                            if lot_seq[m] == r:
                                tot = tot + qty[m] * last[m]
                                gross = gross + abs(qty[m]) * last[m]
                    equity = cash + tot
                else:
                    equity = cash + qty[k] * ci
                target = eff * _quantity(P, ci, equity, atr[i])
                if limits:
                    other = 0.0
                    if multi and P[P_MAX_GROSS] == P[P_MAX_GROSS]:
                        other = gross - abs(qty[k]) * ci
                    size = abs(target)
                    if P[P_MAX_POS] == P[P_MAX_POS]:
                        size = min(size, P[P_MAX_POS])
                    if P[P_MAX_NOTIONAL] == P[P_MAX_NOTIONAL]:
                        size = min(size, P[P_MAX_NOTIONAL] / ci)
                    if P[P_MAX_GROSS] == P[P_MAX_GROSS]:
                        room = max(P[P_MAX_GROSS] * equity - other, 0.0)
                        size = min(size, room / ci)
                    if size != abs(target) and P[P_FRACTIONAL] == 0.0:
                        size = float(math.floor(size + 1e-9))
                    target = math.copysign(size, target) if size != 0.0 else 0.0
                if not (fpass[i] & (1 if eff > 0 else 2)):
                    target = 0.0
            pos = qty[k]
            n_new = 0
            q1 = 0.0
            q2 = 0.0
            if pos != 0.0 and target != 0.0 and (pos > 0) != (target > 0):
                q1 = -pos
                q2 = target
                n_new = 2
            else:
                delta = target - pos
                if abs(delta) > 1e-9:
                    q1 = delta
                    n_new = 1
            for j in range(n_new):
                q = q1 if j == 0 else q2
                _row(orders, n_ord, i, k, q, R_SIGNAL, -1, np.nan, 0.0, ACCEPTED, -1)
                if fill_close:
                    sign = 1 if q > 0 else -1
                    px = _slip(P, ci, sign)
                    fee = _fee(P, abs(q), px)
                    orders[n_ord, O_FILL_ROW] = i
                    orders[n_ord, O_PRICE] = px
                    orders[n_ord, O_FEE] = fee
                    orders[n_ord, O_STATUS] = FILLED
                    cash, seq, n_tr = _apply(k, q, px, fee, i, R_SIGNAL, cash, qty, F, I, seq, trades, n_tr)
                    if exits:
                        _arm(k, i, qty, F, I, P)
                else:
                    I[I_PEND + n_pend[k], k] = n_ord
                    n_pend[k] += 1
                n_ord += 1
        return n_ord, n_tr, n_sig, cash

    return run_book


_KERNELS: dict[tuple[bool, ...], Any] = {}


def kernel_for(P: np.ndarray) -> Any:
    """The compiled kernel specialized to the features the parameter vector `P` uses."""
    def on(j: int) -> bool:
        return bool(P[j] == P[j])

    key = (on(P_STOP) or on(P_TARGET) or on(P_TRAIL) or on(P_MAX_HOLD), bool(P[P_INTRADAY] != 0.0),
           on(P_MAX_POS) or on(P_MAX_NOTIONAL) or on(P_MAX_GROSS), bool(P[P_MULTI] != 0.0),
           bool(P[P_FILL_CLOSE] != 0.0))
    fn = _KERNELS.get(key)
    if fn is None:
        fn = _KERNELS[key] = _build(*key)
    return fn


def capacity(sig: np.ndarray, sess: np.ndarray) -> tuple[int, int]:
    """Upper bounds of (orders, signal log rows) of a book: a raw signal change makes at most two
    orders (a reversal) and opens at most one position, which has at most one risk exit; each
    session's last bar makes at most one close."""
    changes = int(np.count_nonzero(sig[1:] != sig[:-1])) + 1 if len(sig) else 0
    lasts = int(np.count_nonzero(sess == 2))
    return 3 * changes + lasts + 16, changes + lasts + 16


def run(o: np.ndarray, h: np.ndarray, l: np.ndarray, c: np.ndarray, sym: np.ndarray, sess: np.ndarray,
        sig: np.ndarray, active: np.ndarray, fpass: np.ndarray, atr: np.ndarray, P: np.ndarray,
        n_sym: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]:
    """The kernel with its buffers and state: (orders, trades, signals, cash, positions). sig: raw
    signal of the row's symbol; fpass: filter bits (1 long, 2 short) or 3; sess: session code
    per row or -1. Inputs go in one layout (read-only, C-contiguous), so each kernel compiles once."""
    if n_sym > 1 and P[P_MULTI] == 0.0:
        raise ValueError("several symbols need multi=1 in the kernel's parameters")
    n_o, n_s = capacity(sig, sess)
    orders = np.empty((n_o, 9))
    trades = np.empty((n_o, 12))
    sigs = np.empty((n_s, 2))
    qty = np.zeros(n_sym)
    F = np.zeros((N_F, n_sym))
    F[[F_LAST, F_STOP, F_TARGET]] = np.nan
    I = np.zeros((N_I, n_sym), dtype=np.int64)
    I[I_LOT_SEQ] = -1  # insertion order of the book's lots (dict order)
    f8, i8 = np.float64, np.int8
    no, nt, ns, cash = kernel_for(P)(
        frozen(o, f8), frozen(h, f8), frozen(l, f8), frozen(c, f8), frozen(sym, np.int64), frozen(sess, i8),
        frozen(sig, i8), frozen(active, np.bool_), frozen(fpass, i8), frozen(atr, f8), frozen(P, f8), orders, trades,
        sigs, qty, F, I)
    return orders[:no], trades[:nt], sigs[:ns], float(cash), qty


def fill_order(orders: np.ndarray) -> np.ndarray:
    """Rows of the filled orders in the order their fills were applied: by fill bar, then by
    order row (already that order unless a working order filled after a later one's decision)."""
    filled = np.flatnonzero(orders[:, O_STATUS] == FILLED)
    rows = orders[filled, O_FILL_ROW]
    if len(rows) > 1 and not bool(np.all(rows[1:] >= rows[:-1])):
        filled = filled[np.lexsort((filled, rows))]
    return filled


def params_vector(**kw: float | None) -> np.ndarray:
    """The kernel's parameter vector from named values (unnamed ones are nan = not set)."""
    P = np.full(N_PARAMS, np.nan)
    names = {n: i for i, n in enumerate(
        ("cash", "sizing", "shares", "amount", "percent", "risk", "atr_mult", "fractional", "max_pos",
         "max_notional", "max_gross", "stop", "target", "trail", "max_hold", "slip_kind", "slip", "comm_kind",
         "rate", "cmin", "cmax", "fill_close", "long", "short", "intraday", "multi"))}
    for key, value in kw.items():
        P[names[key]] = np.nan if value is None else float(value)
    return P


__all__ = ["REASONS", "STATUSES", "capacity", "fill_order", "kernel_for", "params_vector", "run"]
