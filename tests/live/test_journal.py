"""Journal semantics on a real SQLite file (WAL) in tmp_path."""

from __future__ import annotations

import sqlite3
import threading

from admf.core.enums import OrderStatus, OrderType, Side, TimeInForce
from admf.core.events import Fill, OrderRequest, OrderUpdate
from admf.execution.journal import Journal


def _req(cid: str, **kw) -> OrderRequest:
    base = dict(client_order_id=cid, strategy_id="s1", symbol="SPY", side=Side.BUY, qty=10.0)
    base.update(kw)
    return OrderRequest(**base)


def _fill(exec_id: str, cid: str, qty: float, ts: int, price: float = 100.0) -> Fill:
    return Fill(exec_id, cid, "s1", "SPY", Side.BUY, qty, price, ts)


def test_wal_mode_and_intent_round_trip(tmp_path):
    path = tmp_path / "j.sqlite"
    req = _req("a1", order_type=OrderType.LIMIT, limit_price=101.25, tif=TimeInForce.GTC, ts=5, reason="stop_loss")
    with Journal(path) as j:
        assert j.record_intent(req) is True
        assert j.record_intent(req) is False  # a client_order_id is written once
        intent = j.intent("a1")
        assert intent.request == req
        assert intent.sent is False
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_fill_exec_id_is_unique_and_survives_restart(tmp_path):
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    j.record_intent(_req("a1"))
    assert j.record_fill(_fill("x1", "a1", 4.0, 10)) is True
    assert j.record_fill(_fill("x1", "a1", 4.0, 10), source="reconcile") is False
    assert j.record_fill(_fill("x2", "a1", 6.0, 20)) is True
    j.close()
    j2 = Journal(path)
    assert j2.record_fill(_fill("x1", "a1", 4.0, 10)) is False  # dedupe across sessions
    assert [f.qty for f in j2.fills("a1")] == [4.0, 6.0]
    assert j2.has_fill("x2") and not j2.has_fill("x3")
    j2.close()


def test_recover_returns_open_intents_fills_and_last_event(tmp_path):
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    for cid in ("open-unsent", "open-sent", "done"):
        j.record_intent(_req(cid))
    j.set_broker_id("open-sent", "B1")
    j.set_broker_id("done", "B2")
    j.record_transition(OrderUpdate("open-sent", OrderStatus.ACCEPTED, 100, "B1"))
    j.record_transition(OrderUpdate("done", OrderStatus.ACCEPTED, 110, "B2"))
    j.record_fill(_fill("x9", "done", 10.0, 150))
    j.record_transition(OrderUpdate("done", OrderStatus.FILLED, 150, "B2", 10.0, 100.0))
    j.record_fill(_fill("x8", "open-sent", 1.0, 120))
    j.close()

    rec = Journal(path).recover()
    by_cid = {i.client_order_id: i for i in rec.open_intents}
    assert set(by_cid) == {"open-unsent", "open-sent"}
    assert by_cid["open-unsent"].broker_order_id is None
    assert by_cid["open-sent"].broker_order_id == "B1"
    assert by_cid["open-sent"].status == "accepted"
    assert rec.exec_ids == frozenset({"x8", "x9"})
    assert rec.last_event_ts == 150


def test_transitions_and_replace_chain(tmp_path):
    with Journal(tmp_path / "j.sqlite") as j:
        j.record_intent(_req("a1"))
        j.set_broker_id("a1", "B1", "a1")
        j.record_transition(OrderUpdate("a1", OrderStatus.ACCEPTED, 1, "B1"))
        j.set_broker_id("a1", "B2", "a1~1")
        j.record_transition(OrderUpdate("a1", OrderStatus.ACCEPTED, 2, "B2", reason="replaced"))
        j.record_transition(OrderUpdate("a1", OrderStatus.CANCELED, 3, "B2"))
        want = [OrderStatus.ACCEPTED, OrderStatus.ACCEPTED, OrderStatus.CANCELED]
        assert [t.status for t in j.transitions("a1")] == want
        assert j.broker_ids("a1") == [("B1", "a1"), ("B2", "a1~1")]
        assert j.client_id_for_broker_id("B2") == "a1"
        assert j.intent("a1").broker_order_id == "B2"
        assert j.open_intents() == []


def test_concurrent_writers_from_two_threads(tmp_path):
    with Journal(tmp_path / "j.sqlite") as j:
        j.record_intent(_req("a1"))

        def write(prefix: str) -> None:
            for i in range(200):
                j.record_fill(_fill(f"{prefix}{i}", "a1", 1.0, i))
                j.record_fill(_fill(f"shared{i}", "a1", 1.0, i))

        ts = [threading.Thread(target=write, args=(p,)) for p in ("a", "b")]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert len(j.fills("a1")) == 600  # 200 + 200 own + 200 shared written once
