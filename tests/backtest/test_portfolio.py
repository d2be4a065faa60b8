"""The book: idempotent fills, average-price lots, trades with costs, flips, equity by hand; one book per strategy."""

from __future__ import annotations

import numpy as np
import pytest

from admf.core.enums import Side
from admf.core.events import Fill
from admf.portfolio.portfolio import Portfolio
from admf.runtime.backtest import BacktestBuild

_n = 0


def fill(side: str, qty: float, price: float, fee: float = 0.0, symbol: str = "A", exec_id: str | None = None,
         ts: int = 0, reason: str = "signal") -> Fill:
    global _n
    _n += 1
    eid = exec_id or f"e{_n}"
    return Fill(eid, f"c{_n}", "book", symbol, Side(side), qty, price, ts, fee, reason)


def test_duplicate_exec_id_is_applied_once() -> None:
    p = Portfolio("book", 10_000, ["A"])
    f = fill("buy", 10, 50.0, 1.0, exec_id="x-1")
    assert p.apply_fill(f, 0) is True
    assert p.apply_fill(f, 0) is False
    # the same execution reported again by another path (e.g. a poll after the stream)
    assert p.apply_fill(Fill("x-1", "other", "book", "A", Side.BUY, 10, 50.0, 5, 1.0), 3) is False
    assert p.position("A") == 10
    assert p.cash == pytest.approx(10_000 - 500 - 1, abs=1e-12)
    assert p.commissions == 1.0
    assert len(p.fills) == 1 and p.fill_bars == [0]


def test_average_price_and_partial_closes() -> None:
    p = Portfolio("book", 100_000, ["A"])
    p.apply_fill(fill("buy", 100, 10.0, 1.0, ts=1), 1)
    p.apply_fill(fill("buy", 50, 13.0, 0.5, ts=2), 2)
    lot = p.lots["A"]
    assert (lot.qty, lot.avg_price, lot.entry_costs, lot.entry_bar) == (150, pytest.approx(11.0), 1.5, 1)
    # sell 60 of 150 at 12: gross (12 - 11) * 60 = 60; costs 40% of 1.5 entry + the whole 0.6 exit fee
    p.apply_fill(fill("sell", 60, 12.0, 0.6, ts=3), 3)
    t = p.trades[0]
    assert (t["side"], t["qty"], t["entry_price"], t["exit_price"]) == ("long", 60, pytest.approx(11.0), 12.0)
    assert t["gross_pnl"] == pytest.approx(60.0)
    assert t["costs"] == pytest.approx(0.6 + 0.6)
    assert t["pnl"] == pytest.approx(58.8)
    assert t["return"] == pytest.approx(58.8 / (11.0 * 60))
    assert (t["entry_bar"], t["exit_bar"], t["bars_held"]) == (1, 3, 2)
    assert (p.lots["A"].qty, p.lots["A"].avg_price) == (90, pytest.approx(11.0))
    assert p.lots["A"].entry_costs == pytest.approx(0.9)
    # the rest at 10: gross -90, costs 0.9 + 0.9
    p.apply_fill(fill("sell", 90, 10.0, 0.9, ts=4), 4)
    assert p.trades[1]["pnl"] == pytest.approx(-91.8)
    assert p.lots == {} and p.position("A") == 0.0
    assert p.cash == pytest.approx(100_000 + 58.8 - 91.8, abs=1e-9)
    assert p.realized == pytest.approx(60.0 - 90.0)
    assert p.commissions == pytest.approx(1.0 + 0.5 + 0.6 + 0.9)


def test_flip_long_to_short_splits_into_a_trade_and_a_new_lot() -> None:
    p = Portfolio("book", 100_000, ["A"])
    p.apply_fill(fill("buy", 100, 10.0, 1.0, ts=10), 1)
    p.apply_fill(fill("sell", 150, 12.0, 3.0, ts=20, reason="signal"), 4)
    t = p.trades[0]
    # 100 of the 150 close the long: gross 200, costs 1.0 + 3.0 * 100/150
    assert (t["side"], t["qty"], t["gross_pnl"]) == ("long", 100, pytest.approx(200.0))
    assert t["costs"] == pytest.approx(3.0) and t["pnl"] == pytest.approx(197.0)
    lot = p.lots["A"]
    # the other 50 open a short at 12 carrying the remaining third of the fee
    assert (lot.qty, lot.avg_price, lot.entry_ts, lot.entry_bar) == (-50, 12.0, 20, 4)
    assert lot.entry_costs == pytest.approx(1.0)
    p.apply_fill(fill("buy", 50, 11.0, 0.5, ts=30), 6)
    t = p.trades[1]
    assert (t["side"], t["qty"], t["entry_price"], t["exit_price"]) == ("short", 50, 12.0, 11.0)
    assert t["gross_pnl"] == pytest.approx(50.0) and t["costs"] == pytest.approx(1.5)
    assert t["pnl"] == pytest.approx(48.5)
    assert (t["entry_bar"], t["exit_bar"]) == (4, 6)
    assert p.cash == pytest.approx(100_000 + 197.0 + 48.5, abs=1e-9)
    assert sum(x["costs"] for x in p.trades) == pytest.approx(p.commissions)


def test_flip_short_to_long() -> None:
    p = Portfolio("book", 1_000, ["A"])
    p.apply_fill(fill("sell", 10, 20.0), 0)
    p.apply_fill(fill("buy", 30, 18.0), 1)
    assert p.trades[0]["side"] == "short" and p.trades[0]["pnl"] == pytest.approx(20.0)
    assert (p.lots["A"].qty, p.lots["A"].avg_price) == (20, 18.0)
    assert p.cash == pytest.approx(1_000 + 200 - 540)
    assert p.equity({"A": 19.0}) == pytest.approx(1_000 + 20.0 + 20 * (19 - 18))


def test_short_average_price() -> None:
    p = Portfolio("book", 0, ["A"])
    p.apply_fill(fill("sell", 100, 10.0), 0)
    p.apply_fill(fill("sell", 300, 14.0), 1)
    assert (p.lots["A"].qty, p.lots["A"].avg_price) == (-400, pytest.approx(13.0))
    assert p.gross_exposure({"A": 12.0}) == pytest.approx(4_800.0)
    assert p.equity({"A": 12.0}) == pytest.approx(1_000 + 4_200 - 4_800)


def test_equity_curve_one_symbol_by_hand() -> None:
    close = np.array([10.0, 11.0, 12.0, 11.5, 13.0])
    p = Portfolio("book", 1_000, ["A"])
    p.apply_fill(fill("buy", 10, 10.5, 1.0), 1)  # cash 1000 - 105 - 1 = 894
    p.apply_fill(fill("sell", 4, 12.5, 0.5), 3)  # cash 894 + 50 - 0.5 = 943.5
    eq = p.equity_curve(None, close)
    expected = [1_000.0, 894 + 10 * 11.0, 894 + 10 * 12.0, 943.5 + 6 * 11.5, 943.5 + 6 * 13.0]
    assert eq.tolist() == pytest.approx(expected, abs=1e-9)


def test_equity_curve_two_symbols_marks_each_at_its_latest_close() -> None:
    sym = np.array([0, 1, 0, 1, 0, 1])
    close = np.array([10.0, 50.0, 11.0, 52.0, 12.0, 49.0])
    p = Portfolio("book", 100_000, ["A", "B"])
    p.apply_fill(fill("buy", 10, 10.5, 1.0, symbol="A"), 2)  # cash 99 894
    p.apply_fill(fill("sell", 5, 51.0, symbol="B"), 3)  # cash 100 149
    eq = p.equity_curve(sym, close)
    expected = [100_000, 100_000, 99_894 + 10 * 11, 100_149 + 10 * 11 - 5 * 52, 100_149 + 10 * 12 - 5 * 52,
                100_149 + 10 * 12 - 5 * 49]
    assert eq.tolist() == pytest.approx(expected, abs=1e-9)


# one book per strategy ------------------------------------------------------------------------------

BARS = [(10.0, 10.5, 9.5, 10.0), (10.0, 10.5, 9.5, 10.0), (10.2, 10.7, 10.0, 10.5), (10.6, 11.0, 10.4, 10.8),
        (11.0, 11.3, 10.8, 11.2), (11.1, 11.4, 10.9, 11.0), (10.9, 11.0, 10.5, 10.6), (10.5, 10.8, 10.3, 10.7)]


def _two(bt, a: str, b: str, **extra_b):
    return bt.config(strategies=[{"bt_scripted": {"script": a}, "name": "a"},
                                 {"bt_scripted": {"script": b}, "name": "b", **extra_b}])


def test_two_strategies_get_their_own_books(bt) -> None:
    cfg = _two(bt, "0 1 1 1 0 0 0 0", "0 0 -1 -1 -1 0 0 0")
    build = BacktestBuild(cfg, bt.timeline(BARS))
    build.engine.run()
    a, b = build.books["a"], build.books["b"]
    # split allocation: 50 000 each
    assert a.initial_cash == b.initial_cash == 50_000
    assert [f.client_order_id for f in a.fills] == ["a-TEST-1", "a-TEST-2"]
    assert [f.client_order_id for f in b.fills] == ["b-TEST-1", "b-TEST-2"]
    assert {f.strategy_id for f in a.fills} == {"a"} and {f.strategy_id for f in b.fills} == {"b"}
    # a: long 100 at bar 2's open 10.2, out at bar 5's open 11.1; b: short 100 at 10.6 (bar 3), covered at 10.9
    assert [(t["side"], t["entry_price"], t["exit_price"]) for t in a.trades] == [("long", 10.2, 11.1)]
    assert [(t["side"], t["entry_price"], t["exit_price"]) for t in b.trades] == [("short", 10.6, 10.9)]
    assert a.cash == pytest.approx(50_000 + 90.0) and b.cash == pytest.approx(50_000 - 30.0)


def test_account_equity_is_the_sum_of_the_books(bt) -> None:
    res = bt.run(bt.timeline(BARS), strategies=[{"bt_scripted": {"script": "0 1 1 1 1 1 1 1"}, "name": "a"},
                                                {"bt_scripted": {"script": "0 0 -1 -1 -1 -1 -1 -1"}, "name": "b"}])
    ea, eb = res.books["a"]["equity"], res.books["b"]["equity"]
    close = np.array([c for *_, c in BARS])
    # a: long 100 from 10.2 (bar 2); b: short 100 from 10.6 (bar 3)
    exp_a = [50_000.0] * 2 + [50_000 + 100 * (c - 10.2) for c in close[2:]]
    exp_b = [50_000.0] * 3 + [50_000 - 100 * (c - 10.6) for c in close[3:]]
    assert ea.tolist() == pytest.approx(exp_a, abs=1e-9)
    assert eb.tolist() == pytest.approx(exp_b, abs=1e-9)
    assert res.equity.tolist() == pytest.approx((ea + eb).tolist(), abs=1e-9)
    assert res.books["a"]["positions"] == {"TEST": 100.0} and res.books["b"]["positions"] == {"TEST": -100.0}


def test_a_risk_exit_of_one_book_leaves_the_other_alone(bt) -> None:
    bars = [*BARS[:3], (10.4, 10.5, 9.9, 10.2), *BARS[4:]]  # low 9.9 <= 10.2 * 0.98 = 9.996
    cfg = _two(bt, "0 1 1 1 1 1 1 0", "0 1 1 1 1 1 1 0", risk={"stop_loss": 0.02})
    build = BacktestBuild(cfg, bt.timeline(bars))
    build.engine.run()
    a, b = build.books["a"], build.books["b"]
    # a has no stop: still long (the last signal's sell fills after the data ends, so it never fills)
    assert a.trades == [] and a.position("TEST") == 100.0
    assert [(t["exit_reason"], t["exit_bar"]) for t in b.trades] == [("stop_loss", 3)]
    assert b.trades[0]["exit_price"] == pytest.approx(10.2 * 0.98)
    assert b.position("TEST") == 0.0
    assert all(f.client_order_id.startswith("b-TEST-") for f in b.fills)
    assert all(f.client_order_id.startswith("a-TEST-") for f in a.fills)


def test_unnamed_entries_of_one_type_get_distinct_books(bt) -> None:
    res = bt.run(bt.timeline(BARS), strategies=[{"bt_scripted": {"script": "0 1 1 0 0 0 0 0"}},
                                                {"bt_scripted": {"script": "0 -1 -1 0 0 0 0 0"}}],
                 portfolio={"initial_capital": 10_000, "allocation": "each"})
    assert set(res.books) == {"bt_scripted", "bt_scripted_2"}
    by_book = res.trades.set_index("strategy_id")
    assert by_book.loc["bt_scripted", "side"] == "long" and by_book.loc["bt_scripted_2", "side"] == "short"
    assert (res.fills["client_order_id"].str.rsplit("-", n=2).str[0] == res.fills["strategy_id"]).all()
    # "each": every book starts with the full capital
    assert res.equity.iloc[0] == 20_000
