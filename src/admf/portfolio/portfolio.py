"""A book: cash, positions, P&L and round-trip trades. Fills are applied once, by execution id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from admf.core.enums import Side
from admf.core.events import Fill
from admf.core.units import QTY_EPS


@dataclass(slots=True)
class Lot:
    """The open position of one symbol in one book (average-price accounting)."""

    qty: float  # signed
    avg_price: float
    entry_ts: int
    entry_bar: int
    entry_costs: float


class Portfolio:
    """One book. `apply_fill` is idempotent; equity per bar is rebuilt from the fill log."""

    def __init__(self, book_id: str, initial_cash: float, symbols: Sequence[str]) -> None:
        self.book_id = book_id
        self.initial_cash = float(initial_cash)
        self.cash = float(initial_cash)
        self.symbols = list(symbols)
        self.sym_index = {s: i for i, s in enumerate(self.symbols)}
        self.lots: dict[str, Lot] = {}
        self.realized = 0.0
        self.commissions = 0.0
        self.seen: set[str] = set()
        self.fills: list[Fill] = []
        self.fill_bars: list[int] = []
        self.trades: list[dict] = []

    def position(self, symbol: str) -> float:
        lot = self.lots.get(symbol)
        return lot.qty if lot is not None else 0.0

    def positions(self) -> dict[str, float]:
        return {s: lot.qty for s, lot in self.lots.items()}

    def equity(self, prices: dict[str, float]) -> float:
        return self.cash + sum(lot.qty * prices[s] for s, lot in self.lots.items())

    def gross_exposure(self, prices: dict[str, float]) -> float:
        return sum(abs(lot.qty) * prices[s] for s, lot in self.lots.items())

    def apply_fill(self, fill: Fill, bar: int = -1) -> bool:
        """Apply one execution; returns False (and changes nothing) if it was seen before."""
        if fill.exec_id in self.seen:
            return False
        self.seen.add(fill.exec_id)
        self.fills.append(fill)
        self.fill_bars.append(bar)
        q = fill.qty if fill.side is Side.BUY else -fill.qty  # Fill.signed_qty, inlined: once per fill
        px = fill.price
        fee = fill.commission
        self.cash -= q * px + fee
        self.commissions += fee
        sym = fill.symbol
        lot = self.lots.get(sym)
        if lot is None:
            self.lots[sym] = Lot(q, px, fill.ts, bar, fee)
            return True
        if (lot.qty > 0) == (q > 0):
            total = lot.qty + q
            lot.avg_price = (lot.avg_price * lot.qty + px * q) / total
            lot.qty = total
            lot.entry_costs += fee
            return True
        closing = min(abs(q), abs(lot.qty))
        direction = 1.0 if lot.qty > 0 else -1.0
        share = closing / abs(lot.qty)
        entry_cost = lot.entry_costs * share
        exit_cost = fee * closing / abs(q)
        gross = (px - lot.avg_price) * closing * direction
        pnl = gross - entry_cost - exit_cost
        self.realized += gross
        self.trades.append({
            "strategy_id": self.book_id, "symbol": sym, "side": "long" if direction > 0 else "short",
            "qty": closing, "entry_time": lot.entry_ts, "exit_time": fill.ts, "entry_price": lot.avg_price,
            "exit_price": px, "gross_pnl": gross, "costs": entry_cost + exit_cost, "pnl": pnl,
            "return": pnl / (lot.avg_price * closing) if lot.avg_price else 0.0,
            "entry_bar": lot.entry_bar, "exit_bar": bar, "bars_held": bar - lot.entry_bar,
            "exit_reason": fill.reason,
        })
        lot.entry_costs -= entry_cost
        remaining = lot.qty + q
        if abs(remaining) < QTY_EPS:
            del self.lots[sym]
        elif (remaining > 0) == (lot.qty > 0):
            lot.qty = remaining
        else:  # flipped: the rest of this fill opens a new lot
            self.lots[sym] = Lot(remaining, px, fill.ts, bar, fee - exit_cost)
        return True

    def equity_curve(self, sym: np.ndarray | None, close: np.ndarray) -> np.ndarray:
        """Equity at every row of a timeline, each symbol marked at its latest close."""
        n = len(close)
        cash = np.full(n, self.initial_cash)
        equity = np.zeros(n)
        if self.fills:
            bars = np.asarray(self.fill_bars, dtype=np.int64)
            dq = np.array([f.signed_qty for f in self.fills])
            dcash = np.array([-(f.signed_qty * f.price) - f.commission for f in self.fills])
            delta = np.zeros(n)
            np.add.at(delta, bars, dcash)
            cash += np.cumsum(delta)
            fill_sym = np.array([self.sym_index[f.symbol] for f in self.fills])
        for k in range(len(self.symbols)):
            if not self.fills:
                break
            mask = fill_sym == k
            if not mask.any():
                continue
            pos_delta = np.zeros(n)
            np.add.at(pos_delta, bars[mask], dq[mask])
            pos = np.cumsum(pos_delta)
            last = _last_close(sym, close, k)
            equity += pos * np.nan_to_num(last)
        return cash + equity


def _last_close(sym: np.ndarray | None, close: np.ndarray, k: int) -> np.ndarray:
    """The close of symbol k carried forward over every row of the timeline."""
    if sym is None or len(sym) == 0 or (sym == k).all():
        return close
    idx = np.where(sym == k, np.arange(len(sym)), -1)
    np.maximum.accumulate(idx, out=idx)
    out = np.where(idx >= 0, close[np.maximum(idx, 0)], np.nan)
    return out
