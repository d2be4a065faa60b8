"""End to end over real loopback sockets: bar -> signal -> order -> fill -> portfolio; and parity
of a live session with a backtest on the same bars."""

from __future__ import annotations

import pytest

from admf.runtime.backtest import load_timeline, run_variant


def _broker_view(emu) -> tuple[dict[str, float], float]:
    st = emu.state()
    pos = {s: float(p["qty"]) if isinstance(p, dict) else float(p) for s, p in st["positions"].items()}
    return {s: q for s, q in pos.items() if q}, float(st["cash"])


def test_bar_to_fill_reaches_the_portfolio_and_matches_the_broker(harness) -> None:
    h = harness()
    session = h.start()
    h.play(60)
    assert session.stats.bars == 60
    assert session.stats.fills >= 2, "sma_crossover(3, 8) should trade within an hour of minutes"
    positions, cash = _broker_view(h.emu)
    assert session.positions() == pytest.approx(positions)
    assert session.cash() == pytest.approx(cash, abs=0.005)
    # every fill applied once: the book's fills have unique execution ids and sum to the position
    book = next(iter(session.books.values()))
    assert len({f.exec_id for f in book.fills}) == len(book.fills)
    assert sum(f.signed_qty for f in book.fills) == pytest.approx(positions.get("SPY", 0.0))


def test_live_session_makes_the_same_signals_and_orders_as_a_backtest(harness) -> None:
    h = harness()
    session = h.start()
    n = 90
    h.play(n)
    live_slot = session.build.all_slots[0]
    live_orders = [(o.request.side.value, o.request.qty, o.request.ts) for o in session.broker.book_orders.values()]

    cfg = h.cfg.model_copy(update={"execution": h.cfg.execution.model_copy(update={"broker": "simulated",
                                                                                   "execution_mode": "sync"})})
    tl = load_timeline(cfg, bars=n)
    bt = run_variant(cfg, tl)
    bt_signals = [(int(r.ts), int(r.signal)) for r in bt.signals.itertuples()]
    live_signals = [(ts, v) for _, ts, v in live_slot.signals]
    assert len(live_signals) >= 3
    assert live_signals == bt_signals
    bt_orders = [(r.side, float(r.qty), int(r.time.value)) for r in bt.orders.itertuples()]
    assert live_orders == bt_orders
