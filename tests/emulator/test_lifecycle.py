"""Order lifecycle on hand-made bars, with every fill price computed by hand from the bar table."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from admf.emulator import EmulatorConfig, EmulatorServer
from admf.emulator.wire import WireError, parse_time

# 2024-01-02 (Tue) and 2024-01-03, UTC. 14:29 is 09:29 New York (pre-market), 20:59 the last regular
# minute, 21:05 after hours.
BARS = """timestamp,open,high,low,close,volume
2024-01-02 14:29:00+00:00,100,100,100,100,1000
2024-01-02 14:30:00+00:00,100,101,99,100.5,1000
2024-01-02 14:31:00+00:00,100.5,102,100.2,101,1000
2024-01-02 14:32:00+00:00,101,101.5,98,99,1000
2024-01-02 14:33:00+00:00,99,99.5,97,98,1000
2024-01-02 20:59:00+00:00,98,98.4,97.9,98.2,1000
2024-01-02 21:05:00+00:00,98.2,98.3,97,97.5,1000
2024-01-03 14:29:00+00:00,96,96,96,96,1000
2024-01-03 14:30:00+00:00,95,96,94,95.5,1000
2024-01-03 14:31:00+00:00,95.5,96.5,95,96,1000
"""
D = Decimal


@pytest.fixture
def server(tmp_path: Path):
    def make(start: int = 2, **kw) -> tuple[EmulatorServer, list]:
        p = tmp_path / "bars.csv"
        p.write_text(BARS)
        srv = EmulatorServer(EmulatorConfig(data=str(p), symbols=("XYZ",), start=start, **kw))
        log: list = []
        emit = srv.broker.emit

        def record(event, order, extra):
            log.append((event, order.client_order_id, extra["price"] if extra else None,
                        extra["qty"] if extra else None))
            emit(event, order, extra)

        srv.broker.emit = record
        return srv, log

    return make


def order(srv: EmulatorServer, cid: str, **body) -> dict:
    body.setdefault("symbol", "XYZ")
    body.setdefault("side", "buy")
    body.setdefault("type", "market")
    body.setdefault("time_in_force", "day")
    return srv.broker.submit({**body, "client_order_id": cid})


def status(srv: EmulatorServer, cid: str) -> str:
    return srv.broker.by_cid[cid].status


def test_market_and_marketable_limit_fill_at_last_price(server) -> None:
    srv, log = server()  # current bar 14:30, last price 100.5
    order(srv, "m", qty=2)
    order(srv, "l", qty=1, type="limit", limit_price="102")
    assert log == [("new", "m", None, None), ("fill", "m", "100.5", "2"),
                   ("new", "l", None, None), ("fill", "l", "100.5", "1")]


def test_resting_limits_fill_on_later_bars(server) -> None:
    srv, log = server()
    order(srv, "buy", qty=1, type="limit", limit_price="99.5")
    srv.step()  # 14:31 low 100.2: not touched
    assert status(srv, "buy") == "new"
    srv.step()  # 14:32 open 101, low 98: fills at the limit
    assert log[-1] == ("fill", "buy", "99.5", "1")
    order(srv, "sell", qty=1, side="sell", type="limit", limit_price="98.5", time_in_force="gtc")
    assert log[-1] == ("fill", "sell", "99", "1")  # marketable on arrival: last price 99


def test_gap_through_limit_fills_at_open(server) -> None:
    srv, log = server()
    order(srv, "long", qty=3)
    order(srv, "tp", qty=3, side="sell", type="limit", limit_price="100.8")
    srv.step()  # 14:31 opens 100.5 < 100.8, high 102: fills at the limit
    assert log[-1] == ("fill", "tp", "100.8", "3")
    order(srv, "b2", qty=1, type="limit", limit_price="100.6")  # last 101, not marketable
    srv.step()  # 14:32 opens 101 > 100.6, low 98: fills at the limit
    assert log[-1] == ("fill", "b2", "100.6", "1")
    srv2, log2 = server(start=3)  # last price 101
    order(srv2, "b3", qty=1, type="limit", limit_price="100")
    srv2.step(2)  # 14:32 opens 101, low 98 touches 100
    assert log2[-1] == ("fill", "b3", "100", "1")


def test_stops_and_trailing_stop(server) -> None:
    srv, log = server()
    order(srv, "long", qty=5)
    order(srv, "sl", qty=2, side="sell", type="stop", stop_price="99")
    order(srv, "trail", qty=3, side="sell", type="trailing_stop", trail_price="1", time_in_force="gtc")
    srv.step()  # 14:31: trail stop 99.5 not hit (low 100.2), water mark moves to 102 -> stop 101
    assert srv.broker.by_cid["trail"].wire()["stop_price"] == "101"
    srv.step()  # 14:32 open 101 low 98: stop at 99 fills at 99; trailing stop fills at min(open, 101) = 101
    fills = {c: p for e, c, p, _ in log if e == "fill"}
    assert fills == {"long": "100.5", "sl": "99", "trail": "101"}
    order(srv, "bstop", qty=1, type="stop", stop_price="99.4")
    srv.step()  # 14:33 high 99.5 >= 99.4: fills at max(open 99, 99.4)
    assert log[-1] == ("fill", "bstop", "99.4", "1")


def test_stop_limit_triggers_then_rests_as_limit(server) -> None:
    srv, log = server()
    order(srv, "sls", qty=1, type="stop_limit", stop_price="101.8", limit_price="101.2")
    # 14:31: high 102 triggers at max(100.5, 101.8) = 101.8 inside the bar, beyond the limit: the low
    # 100.2 may have come before the trigger, so no fill (the matching core's rule, as in a backtest)
    srv.step()
    assert status(srv, "sls") == "new" and srv.broker.by_cid["sls"].triggered
    srv.step()  # 14:32 rests as a limit 101.2: the open 101 is within it -> 101
    assert log[-1] == ("fill", "sls", "101", "1")


def test_day_orders_expire_at_the_close(server) -> None:
    srv, log = server()
    order(srv, "day", qty=1, type="limit", limit_price="50")
    order(srv, "gtc", qty=1, type="limit", limit_price="50", time_in_force="gtc")
    srv.step(3)  # through 14:33
    assert status(srv, "day") == "new"
    srv.step()  # 20:59 bar ends at 16:00 New York: DAY orders expire
    assert status(srv, "day") == "expired" and status(srv, "gtc") == "new"
    assert log[-1] == ("expired", "day", None, None)
    assert srv.broker.by_cid["day"].wire()["expired_at"].startswith("2024-01-02T21:00:00")


def test_after_hours_orders_queue_until_the_open(server) -> None:
    srv, log = server(start=7)  # after the 21:05 bar: closed, last price 97.5
    snap = order(srv, "queued", qty=2)
    assert snap["status"] == "accepted" and log == []
    ext = order(srv, "ext", qty=1, type="limit", limit_price="97.6", extended_hours=True)
    assert ext["status"] == "new" and log[-1] == ("fill", "ext", "97.5", "1")
    srv.step()  # 09:29 pre-market bar: still queued
    assert status(srv, "queued") == "accepted"
    srv.step()  # first regular bar of 01-03: routed, filled at its open
    assert log[-2:] == [("new", "queued", None, None), ("fill", "queued", "95", "2")]


def test_opg_cls_ioc_fok(server) -> None:
    srv, log = server(start=7)
    srv.advance_to(parse_time("2024-01-03T00:30:00Z"))  # 19:30 New York: past the opg cut-off
    order(srv, "opg", qty=1, time_in_force="opg")
    srv.step(2)
    assert ("fill", "opg", "95", "1") in log
    srv2, log2 = server()
    order(srv2, "cls", qty=1, time_in_force="cls")
    srv2.step(3)
    assert status(srv2, "cls") == "new"
    srv2.step()  # the bar that ends at the close: fills at its close
    assert ("fill", "cls", "98.2", "1") in log2
    srv3, log3 = server()
    order(srv3, "ioc", qty=1, type="limit", limit_price="1", time_in_force="ioc")
    order(srv3, "fok", qty=4, time_in_force="fok")
    assert [(e, c) for e, c, *_ in log3] == [("new", "ioc"), ("canceled", "ioc"), ("new", "fok"), ("fill", "fok")]
    with pytest.raises(WireError) as e:
        order(srv3, "opg2", qty=1, time_in_force="opg")  # 09:31 New York: inside the 09:28-19:00 cut-off
    assert e.value.status == 422


def test_notional_and_fractional(server) -> None:
    srv, log = server()
    order(srv, "n", notional="1000")
    qty = (D(1000) / D("100.5")).quantize(D("1e-9"), rounding="ROUND_DOWN")
    assert log[-1] == ("fill", "n", "100.5", str(qty))
    assert srv.broker.by_cid["n"].wire()["qty"] is None
    order(srv, "f", qty="0.25")
    assert srv.broker.positions["XYZ"].qty == qty + D("0.25")


def test_hand_computed_cash_and_positions(server) -> None:
    srv, _ = server()
    b = srv.broker
    order(srv, "b1", qty=10)  # @100.5
    srv.step()  # price 101
    order(srv, "s1", qty=4, side="sell")  # @101
    pos = b.get_position("XYZ")
    assert pos["qty"] == "6" and pos["avg_entry_price"] == "100.5" and pos["cost_basis"] == "603"
    assert pos["market_value"] == "606" and pos["unrealized_pl"] == "3"
    assert b.cash == D(100000) - 10 * D("100.5") + 4 * D(101)
    order(srv, "s2", qty=6, side="sell")  # flat
    srv.step()  # price 99
    order(srv, "short", qty=5, side="sell")  # @99
    srv.step()  # price 98
    order(srv, "cover", qty=2)  # @98
    pos = b.get_position("XYZ")
    assert pos["qty"] == "-3" and pos["side"] == "short" and pos["avg_entry_price"] == "99"
    assert pos["market_value"] == "-294" and pos["unrealized_pl"] == "3"
    cash = D(100000) - 10 * D("100.5") + 4 * D(101) + 6 * D(101) + 5 * D(99) - 2 * D(98)
    acct = b.account()
    assert D(acct["cash"]) == cash and D(acct["equity"]) == cash - 3 * D(98)
    assert D(acct["short_market_value"]) == D(-294) and D(acct["long_market_value"]) == 0
    # Reg T: buying power = (equity - initial margin) * 2, initial margin 50 % of gross exposure.
    assert D(acct["buying_power"]) == (cash - 294 - D(147)) * 2
    fills = b.list_activities({"direction": "asc"}, "FILL")
    assert [(f["side"], f["qty"], f["price"]) for f in fills] == [
        ("buy", "10", "100.5"), ("sell", "4", "101"), ("sell", "6", "101"), ("sell", "5", "99"), ("buy", "2", "98")]
