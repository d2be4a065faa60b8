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


def test_an_oco_intent_and_its_leg_ids_round_trip(tmp_path):
    from admf.core.events import OCO

    req = _req("x1", side=Side.SELL, order_type=OrderType.LIMIT, limit_price=105.0, order_class=OCO, stop_loss=95.0,
               reason="take_profit")
    with Journal(tmp_path / "j.sqlite") as j:
        j.record_intent(req)
        j.set_broker_id("x1", "P1", "x1")
        j.set_broker_id("x1", "L1", "leg-cid", leg="stop_loss")
        assert j.intent("x1").request == req
        assert j.intent("x1").broker_order_id == "P1"  # a leg's id is not the order's own
        assert j.broker_ids("x1") == [("P1", "x1")]
        assert j.replacement_count("x1") == 1
        assert j.leg_ids("x1") == [("L1", "stop_loss")]
        assert j.client_id_for_broker_id("L1") == "x1"
        assert [i.request for i in j.recover().open_intents] == [req]


def test_a_journal_written_before_oco_orders_opens_with_their_columns_added(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)  # the schema of earlier versions, with one intent and its broker id
    db.executescript("""
        CREATE TABLE intents (client_order_id TEXT PRIMARY KEY, strategy_id TEXT NOT NULL, symbol TEXT NOT NULL,
            side TEXT NOT NULL, qty REAL NOT NULL, order_type TEXT NOT NULL, limit_price REAL, stop_price REAL,
            tif TEXT NOT NULL, req_ts INTEGER NOT NULL, reason TEXT NOT NULL, created_ns INTEGER NOT NULL,
            broker_order_id TEXT, status TEXT, filled_qty REAL NOT NULL DEFAULT 0, updated_ns INTEGER NOT NULL);
        CREATE TABLE broker_ids (broker_order_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL,
            wire_client_order_id TEXT NOT NULL);
        INSERT INTO intents VALUES ('o1','s1','SPY','buy',10,'limit',99.5,NULL,'day',7,'order',1,'B1','accepted',0,1);
        INSERT INTO broker_ids VALUES ('B1','o1','o1');
    """)
    db.commit()
    db.close()
    with Journal(path) as j:
        intent = j.intent("o1")
        assert intent.request == _req("o1", order_type=OrderType.LIMIT, limit_price=99.5, ts=7, reason="order")
        assert intent.request.order_class == "" and intent.request.stop_loss is None and intent.request.bracket is None
        assert j.broker_ids("o1") == [("B1", "o1")] and j.leg_ids("o1") == []
        j.record_intent(_req("o2", order_type=OrderType.LIMIT, limit_price=1.0, order_class="oco", stop_loss=2.0,
                             side=Side.SELL))
        assert j.intent("o2").request.stop_loss == 2.0
    with Journal(path) as j:  # opened again: nothing to add twice
        assert len(j.open_intents()) == 2


def test_an_entry_with_a_bracket_round_trips(tmp_path):
    """The (stop, target) the slot attaches to an entry is written with its intent and read back
    by recover(), for the restart to send the exits after the entry fills."""
    path = tmp_path / "j.sqlite"
    entry = _req("e1", order_type=OrderType.LIMIT, limit_price=100.0, reason="order", bracket=(98.5, 103.25))
    plain = _req("e2", order_type=OrderType.LIMIT, limit_price=100.0, reason="order")
    with Journal(path) as j:
        j.record_intent(entry)
        j.record_intent(plain)
        j.set_broker_id("e1", "B1", "e1")
    with Journal(path) as j:  # a restart
        got = {i.client_order_id: i.request for i in j.recover().open_intents}
    assert got == {"e1": entry, "e2": plain}
    assert got["e1"].bracket == (98.5, 103.25) and got["e2"].bracket is None
    row = sqlite3.connect(path).execute("SELECT bracket_stop, bracket_target FROM intents WHERE client_order_id='e1'")
    assert row.fetchone() == (98.5, 103.25)


def test_a_journal_written_before_entry_brackets_opens_with_their_columns_added(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)  # the schema of the version with OCO exits and no entry brackets
    db.executescript("""
        CREATE TABLE intents (client_order_id TEXT PRIMARY KEY, strategy_id TEXT NOT NULL, symbol TEXT NOT NULL,
            side TEXT NOT NULL, qty REAL NOT NULL, order_type TEXT NOT NULL, limit_price REAL, stop_price REAL,
            tif TEXT NOT NULL, req_ts INTEGER NOT NULL, reason TEXT NOT NULL, created_ns INTEGER NOT NULL,
            broker_order_id TEXT, status TEXT, filled_qty REAL NOT NULL DEFAULT 0, updated_ns INTEGER NOT NULL,
            order_class TEXT NOT NULL DEFAULT '', stop_loss REAL);
        CREATE TABLE broker_ids (broker_order_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL,
            wire_client_order_id TEXT NOT NULL, leg TEXT NOT NULL DEFAULT '');
        INSERT INTO intents VALUES ('o1','s1','SPY','sell',10,'limit',105,NULL,'day',7,'take_profit',1,'B1',
            'accepted',0,1,'oco',95);
    """)
    db.commit()
    db.close()
    with Journal(path) as j:
        old = j.intent("o1").request
        assert (old.order_class, old.stop_loss, old.bracket) == ("oco", 95.0, None)
        j.record_intent(_req("o2", order_type=OrderType.LIMIT, limit_price=100.0, bracket=(99.0, 102.0)))
    with Journal(path) as j:  # opened again: nothing to add twice
        assert [i.request.bracket for i in j.open_intents()] == [None, (99.0, 102.0)]


def test_a_journal_with_a_table_of_its_own_for_leg_ids_gets_them_folded_in(tmp_path):
    from admf.execution.legs import UNNAMED_LEG

    path = tmp_path / "core.sqlite"
    with Journal(path) as j:
        j.record_intent(_req("o1"))
        j.set_broker_id("o1", "B1", "o1")
    db = sqlite3.connect(path)  # the live core's first version: leg ids in a `legs` table
    db.executescript("""
        CREATE TABLE legs (broker_order_id TEXT PRIMARY KEY, client_order_id TEXT NOT NULL);
        INSERT INTO legs VALUES ('L1', 'o1');
    """)
    db.commit()
    db.close()
    with Journal(path) as j:
        assert j.leg_ids("o1") == [("L1", UNNAMED_LEG)] and j.broker_ids("o1") == [("B1", "o1")]
        assert j.client_id_for_broker_id("L1") == "o1"
    db = sqlite3.connect(path)
    assert db.execute("SELECT name FROM sqlite_master WHERE name='legs'").fetchall() == []
    db.close()


def test_last_brackets_is_the_latest_filled_bracketed_entry_per_book_and_symbol(tmp_path):
    """A restart re-arms the exit of these: entries with a bracket that filled, the newest one of
    each (strategy, symbol); one not filled, or without a bracket, is not one of them."""
    with Journal(tmp_path / "j.sqlite") as j:
        j.record_intent(_req("e1", bracket=(98.0, 103.0)))
        j.record_fill(_fill("x1", "e1", 10.0, 1))
        j.record_intent(_req("e2", bracket=(97.0, 104.0)))  # newer, filled partly
        j.record_fill(_fill("x2", "e2", 4.0, 2))
        j.record_intent(_req("e3", bracket=(96.0, 105.0)))  # newest, never filled
        j.record_intent(_req("m1"))  # no bracket, filled
        j.record_fill(_fill("x3", "m1", 10.0, 3))
        j.record_intent(_req("q1", symbol="QQQ", strategy_id="s2", bracket=(380.0, 390.0)))
        j.record_fill(Fill("x4", "q1", "s2", "QQQ", Side.BUY, 5.0, 385.0, 4))
        got = {(i.request.strategy_id, i.request.symbol): i.request for i in j.last_brackets()}
    assert {k: (r.client_order_id, r.bracket) for k, r in got.items()} == {
        ("s1", "SPY"): ("e2", (97.0, 104.0)), ("s2", "QQQ"): ("q1", (380.0, 390.0))}
    with Journal(tmp_path / "empty.sqlite") as j:
        assert j.last_brackets() == []
