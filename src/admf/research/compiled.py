"""The compiled engine: a config run through array features, array rules and the kernel.

`run_compiled(cfg, tl)` returns the same `BacktestResult` the event engine returns (the
kernel's fills are applied to real `Portfolio` books, and both engines assemble their result
with `runtime.backtest.assemble_result`). `run_books` is the lean path a sweep uses: kernel
outputs only, no objects per fill.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from admf.config.schema import Config
from admf.core.enums import Side
from admf.core.events import Fill
from admf.data.timeframe import timeframe_ns
from admf.data.timeline import Timeline
from admf.portfolio.portfolio import Portfolio
from admf.research import kernel as K
from admf.research.features import FeatureStore
from admf.research.rules import has_array_form, signal_array
from admf.risk.exits import ExitRules
from admf.risk.limits import Limits
from admf.risk.sizing import Sizing
from admf.runtime.session import session_codes


@dataclass
class BookPlan:
    """One strategy entry of a config, resolved: what the kernel needs for its book."""

    book_id: str
    strategy: str
    params: dict[str, Any]
    sizing: Sizing
    exits: ExitRules
    limits: Limits
    direction: str
    intraday: bool
    filter: str | None
    symbols: list[int]


@dataclass
class BookRun:
    plan: BookPlan
    capital: float
    orders: np.ndarray
    trades: np.ndarray
    signals: np.ndarray
    cash: float
    positions: np.ndarray


class MarketData:
    """A timeline with what every combination shares: per-symbol columns, features, sessions."""

    def __init__(self, tl: Timeline) -> None:
        self.tl = tl
        self.n_sym = len(tl.symbols)
        self.sym = np.ascontiguousarray(tl.sym if self.n_sym > 1 else np.zeros(len(tl), dtype=np.int64),
                                        dtype=np.int64)
        self.o = np.ascontiguousarray(tl.open, dtype=np.float64)
        self.h = np.ascontiguousarray(tl.high, dtype=np.float64)
        self.l = np.ascontiguousarray(tl.low, dtype=np.float64)
        self.c = np.ascontiguousarray(tl.close, dtype=np.float64)
        self._cols: dict[int, tuple[np.ndarray, ...]] = {}
        self.features = FeatureStore(self.cols)
        self.features.symbols = list(tl.symbols)
        self._sess: np.ndarray | None = None
        self._no_sess = np.full(len(tl), -1, dtype=np.int8)

    @cached_property
    def increasing(self) -> bool:
        """Whether the timestamps strictly increase (one symbol, or symbols never on one bar)."""
        ts = self.tl.ts
        return bool(np.all(ts[1:] > ts[:-1]))

    def rows(self, k: int) -> np.ndarray | slice:
        return slice(None) if self.n_sym == 1 else self.tl.rows[k]

    def cols(self, k: int) -> tuple[np.ndarray, ...]:
        got = self._cols.get(k)
        if got is None:
            r = self.rows(k)
            tl = self.tl
            got = tuple(np.ascontiguousarray(x[r]) for x in (tl.ts, tl.open, tl.high, tl.low, tl.close, tl.volume))
            self._cols[k] = got
        return got

    def sessions(self, needed: bool) -> np.ndarray:
        """Session codes from the event engine's own function (runtime.session.session_codes)."""
        if not needed or not len(self.tl):
            return self._no_sess
        if self._sess is None:
            tl = self.tl
            codes, _ = session_codes(tl.ts, tl.sym if self.n_sym > 1 else None, timeframe_ns(tl.timeframe))
            self._sess = np.ascontiguousarray(codes, dtype=np.int8)
        return self._sess

    def on_rows(self, k: int, values: np.ndarray, out: np.ndarray) -> None:
        out[self.rows(k)] = values


def plan_books(cfg: Config, tl: Timeline) -> list[BookPlan]:
    from admf.runtime.backtest import _merge_risk, _sizing, book_ids
    from admf.strategies.params import validate_params
    from admf.strategies.registry import get_strategy

    plans = []
    for i, (e, bid) in enumerate(zip(cfg.strategies, book_ids(cfg.strategies), strict=True)):
        cls = get_strategy(e.type, file=cfg.source, field=f"strategy[{i}]")
        params = validate_params(cls.params, e.params, file=cfg.source, field=f"strategy[{i}].{e.type}")
        risk = _merge_risk(cfg.risk, e.risk)
        plans.append(BookPlan(
            book_id=bid, strategy=e.type, params=params, sizing=_sizing(e.sizing or risk.sizing),
            exits=ExitRules(risk.stop_loss, risk.take_profit, risk.trailing_stop, risk.max_holding_bars),
            limits=Limits(risk.max_position, risk.max_notional, risk.max_gross_exposure), direction=e.direction,
            intraday="intraday" in e.constraints, filter=e.filter,
            symbols=[k for k, s in enumerate(tl.symbols) if not e.symbols or s in e.symbols],
        ))
    return plans


def unsupported(cfg: Config) -> list[str]:
    """Strategies of `cfg` without an array form (they need the event engine): those not in
    the array forms, and any that places its own orders or trades several symbols together."""
    from admf.strategies.registry import all_strategies

    known = all_strategies()

    def event_only(name: str) -> bool:
        cls = known.get(name)
        return cls is not None and (cls.uses_orders or cls.multi_symbol)

    return [e.type for e in cfg.strategies if not has_array_form(e.type) or event_only(e.type)]


def _params(cfg: Config, plan: BookPlan, capital: float, multi: bool) -> np.ndarray:
    sz, ex, lim = plan.sizing, plan.exits, plan.limits
    x = cfg.execution
    return K.params_vector(
        cash=capital, sizing=K.SIZING_KINDS.index(sz.kind), shares=sz.shares, amount=sz.amount, percent=sz.percent,
        risk=sz.risk_per_trade, atr_mult=sz.atr_multiple, fractional=sz.fractional, max_pos=lim.max_position,
        max_notional=lim.max_notional, max_gross=lim.max_gross_exposure, stop=ex.stop_loss, target=ex.take_profit,
        trail=ex.trailing_stop, max_hold=ex.max_holding_bars, slip_kind=K.SLIPPAGE_KINDS.index(x.slippage.type),
        slip=x.slippage.value, comm_kind=K.COMMISSION_KINDS.index(x.commission.type), rate=x.commission.rate,
        cmin=x.commission.min, cmax=x.commission.max, fill_close=x.fill == "close",
        long=plan.direction in ("both", "long"), short=plan.direction in ("both", "short"),
        intraday=plan.intraday, multi=multi,
    )


def book_arrays(md: MarketData, cfg: Config, plan: BookPlan) -> tuple[np.ndarray, ...]:
    """(active, signal, filter bits, atr) of one book over the timeline rows."""
    n = len(md.tl)
    active = np.zeros(md.n_sym, dtype=np.bool_)
    active[plan.symbols] = True
    sig = np.zeros(n, dtype=np.int8)
    fpass = np.full(n, 3, dtype=np.int8)
    atr = np.full(n, np.nan) if plan.sizing.kind == "atr" else _NAN_CACHE.get(n)
    for k in plan.symbols:
        cols = md.cols(k)
        md.on_rows(k, signal_array(md.features, k, plan.strategy, plan.params, cols[4]), sig)
        if plan.filter:
            from admf.research.filters import filter_bits

            md.on_rows(k, filter_bits(plan.filter, md.features, k, cols, file=cfg.source), fpass)
        if plan.sizing.kind == "atr":
            md.on_rows(k, md.features.get(k, "atr", period=plan.sizing.atr_period)["value"], atr)
    return active, sig, fpass, atr


class _NanCache:
    """One read-only nan array per length (the atr input of books that do not size by ATR)."""

    def __init__(self) -> None:
        self._by_n: dict[int, np.ndarray] = {}

    def get(self, n: int) -> np.ndarray:
        a = self._by_n.get(n)
        if a is None:
            a = np.full(n, np.nan)
            a.flags.writeable = False
            self._by_n = {n: a}
        return a


_NAN_CACHE = _NanCache()


def run_books(cfg: Config, md: MarketData) -> list[BookRun]:
    plans = plan_books(cfg, md.tl)
    capital = cfg.portfolio.initial_capital
    per_book = capital / len(plans) if cfg.portfolio.allocation == "split" else capital
    sess = md.sessions(any(p.intraday for p in plans))
    out = []
    for plan in plans:
        active, sig, fpass, atr = book_arrays(md, cfg, plan)
        P = _params(cfg, plan, per_book, md.n_sym > 1)
        orders, trades, sigs, cash, qty = K.run(md.o, md.h, md.l, md.c, md.sym, sess, sig, active, fpass, atr, P,
                                                md.n_sym)
        out.append(BookRun(plan, per_book, orders, trades, sigs, float(cash), qty))
    return out


def _fills_of(run: BookRun, tl: Timeline) -> tuple[list[Fill], list[int], list[str]]:
    """The book's fills in the order the event engine applies them, and every order's id."""
    o = run.orders
    bid = run.plan.book_id
    counters = [0] * len(tl.symbols)
    ids = []
    for sym in o[:, K.O_SYM].astype(np.int64).tolist():
        counters[sym] += 1
        ids.append(f"{bid}-{tl.symbols[sym]}-{counters[sym]}")
    order = K.fill_order(o)
    f = o[order]  # the filled orders' columns as Python lists (no numpy scalar per field)
    bars = f[:, K.O_FILL_ROW].astype(np.int64).tolist()
    cols = zip(order.tolist(), f[:, K.O_QTY].tolist(), f[:, K.O_SYM].astype(np.int64).tolist(),
               f[:, K.O_PRICE].tolist(), tl.ts[bars].tolist(), f[:, K.O_FEE].tolist(),
               f[:, K.O_REASON].astype(np.int64).tolist(), strict=True)
    fills = []
    for j, q, sym, price, ts, fee, reason in cols:
        coid = ids[j]
        fills.append(Fill(coid + "-1", coid, bid, tl.symbols[sym], Side.BUY if q > 0 else Side.SELL, abs(q), price,
                          ts, fee, K.REASONS[reason]))
    return fills, bars, ids


def run_compiled(cfg: Config, tl: Timeline, *, label: str = "", md: MarketData | None = None,
                 records: bool = True) -> Any:
    """A backtest of `cfg` on the compiled engine: a `BacktestResult` shaped as the event engine's.
    records=False leaves its orders and signals empty (a sweep's top N keeps trades and equity)."""
    from admf.runtime.backtest import assemble_result

    t0 = time.perf_counter()
    md = md or MarketData(tl)
    runs = run_books(cfg, md)
    elapsed = time.perf_counter() - t0
    books: dict[str, Portfolio] = {}
    order_rows: list[tuple[Any, ...]] = []
    sig_rows: list[tuple[str, str, int, int, int]] = []
    for b, run in enumerate(runs):
        book = Portfolio(run.plan.book_id, run.capital, tl.symbols)
        fills, bars, ids = _fills_of(run, tl)
        for f, bar in zip(fills, bars, strict=True):
            book.apply_fill(f, bar)
        books[run.plan.book_id] = book
        if records:
            _records(run, b, ids, tl, order_rows, sig_rows)
    order_rows.sort(key=lambda x: x[0])
    orders = pd.DataFrame([r for _, r in order_rows], columns=ORDER_COLUMNS)
    orders["time"] = pd.to_datetime(orders["time"].astype("int64"), utc=True)
    result = assemble_result(cfg, tl, books, orders, sig_rows, label=label, elapsed=elapsed)
    result.engine = "compiled"
    return result


ORDER_COLUMNS = ["client_order_id", "strategy_id", "symbol", "side", "qty", "type", "limit_price", "stop_price", "time",
                 "reason", "status"]


def _records(run: BookRun, b: int, ids: list[str], tl: Timeline, order_rows: list[tuple[Any, ...]],
             sig_rows: list[tuple[str, str, int, int, int]]) -> None:
    """Book b's orders (with their sort key) and signal records, as the event engine logs them."""
    ts = tl.ts
    o = run.orders
    for j, coid in enumerate(ids):
        row, q, reason = int(o[j, K.O_ROW]), float(o[j, K.O_QTY]), int(o[j, K.O_REASON])
        # several books' guards on one bar exit in the order they were armed (by entry bar, then book)
        guard = reason in (K.STOP_LOSS, K.TAKE_PROFIT, K.TRAILING_STOP, K.MAX_HOLDING)
        key = (row, 0, int(o[j, K.O_HELD_SINCE]), b, j) if guard else (row, 1, 0, b, j)
        order_rows.append((key, {
            "client_order_id": coid, "strategy_id": run.plan.book_id, "symbol": tl.symbols[int(o[j, K.O_SYM])],
            "side": "buy" if q > 0 else "sell", "qty": abs(q), "type": "market", "limit_price": None,
            "stop_price": None, "time": int(ts[row]), "reason": K.REASONS[reason],
            "status": K.STATUSES[int(o[j, K.O_STATUS])]}))
    s = run.signals
    if len(s):
        rows = s[:, 0].astype(np.int64)
        syms = np.asarray(tl.sym)[rows] if len(tl.symbols) > 1 else np.zeros(len(rows), dtype=np.int64)
        for j in np.argsort(syms, kind="stable").tolist():
            r = int(rows[j])
            sig_rows.append((run.plan.book_id, tl.symbols[int(syms[j])], r, int(ts[r]), int(s[j, 1])))


__all__ = ["BookPlan", "BookRun", "MarketData", "plan_books", "run_books", "run_compiled", "unsupported"]
