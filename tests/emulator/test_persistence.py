"""State in SQLite: a restart, or a new emulator on the same file, sees the same account."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from admf.emulator.testing import start_emulator


def _snapshot(r) -> dict:
    return {
        "account": r("GET", "/v2/account").json(),
        "orders": r("GET", "/v2/orders", params={"status": "all", "direction": "asc"}).json(),
        "positions": r("GET", "/v2/positions").json(),
        "fills": r("GET", "/v2/account/activities/FILL").json(),
        "clock": r("GET", "/v2/clock").json(),
    }


def _trade(emu, r) -> str:
    assert r.order(qty=4, client_order_id="p-buy").status_code == 200
    low = round(emu.price("SPY") * 0.999, 2)
    rest_id = r.order(qty=2, type="limit", limit_price=str(low), client_order_id="p-rest").json()["id"]
    cid = r.order(qty=1, type="limit", limit_price="1", client_order_id="p-cxl").json()["id"]
    assert r("DELETE", f"/v2/orders/{cid}").status_code == 204
    emu.step(2)
    return rest_id


def test_restart_reloads_the_same_state(emulator_factory, rest, tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    emu = emulator_factory(state_file=str(db))
    r = rest(emu)
    _trade(emu, r)
    before = _snapshot(r)
    emu.restart()
    assert _snapshot(r) == before
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == len(before["orders"]) == 3
        assert con.execute("SELECT COUNT(*) FROM activities").fetchone()[0] == len(before["fills"])


def test_a_new_emulator_resumes_from_the_file(rest, tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    first = start_emulator(state_file=str(db))
    try:
        r = rest(first)
        rest_id = _trade(first, r)
        before = _snapshot(r)
        played = first.state()["bars_played"]
    finally:
        first.stop()
    second = start_emulator(state_file=str(db))
    try:
        r = rest(second)
        after = _snapshot(r)
        assert after == before and second.state()["bars_played"] == played
        dup = r.order(qty=1, client_order_id="p-buy")
        assert dup.status_code == 422 and dup.json()["message"] == "client_order_id must be unique"
        # The resting DAY limit survived: it either fills on a later bar or expires at the close.
        second.advance_to("2024-01-02T21:00:00Z")
        final = r("GET", f"/v2/orders/{rest_id}").json()["status"]
        assert final in ("filled", "expired")
        assert r("GET", "/v2/orders").json() == []
    finally:
        second.stop()


def test_reset_starts_over(emulator_factory, rest, tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    emu = emulator_factory(state_file=str(db))
    r = rest(emu)
    _trade(emu, r)
    emu.reset()
    assert r("GET", "/v2/orders", params={"status": "all"}).json() == []
    assert r("GET", "/v2/positions").json() == []
    assert r("GET", "/v2/account").json()["cash"] == "100000"
    assert emu.state()["bars_played"] == 1
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0


def test_restart_without_a_file_keeps_memory_state(emulator, rest) -> None:
    r = rest(emulator)
    _trade(emulator, r)
    before = _snapshot(r)
    emulator.restart()
    assert _snapshot(r) == before
