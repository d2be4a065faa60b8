"""Bracket, OCO and OTO orders on hand-made bars; every price computed by hand from the bar table."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from admf.emulator import EmulatorConfig, EmulatorServer
from admf.emulator.wire import WireError

# 2024-01-02 (Tue), regular session, UTC = New York + 5h
BARS = """timestamp,open,high,low,close,volume
2024-01-02 14:30:00+00:00,100,101,99,100.5,1000
2024-01-02 14:31:00+00:00,100.5,102,100.2,101,1000
2024-01-02 14:32:00+00:00,101,101.5,98,99,1000
2024-01-02 14:33:00+00:00,99,99.5,97,98,1000
2024-01-02 14:34:00+00:00,98,103,97.5,102,1000
2024-01-02 14:35:00+00:00,102,102.5,101.5,102,1000
"""


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(**kw):  # type: ignore[no-untyped-def]
        p = tmp_path / "bars.csv"
        p.write_text(BARS)
        srv = EmulatorServer(EmulatorConfig(data=str(p), symbols=("XYZ",), start=1, **kw))
        log: list = []
        emit = srv.broker.emit

        def record(event, order, extra):  # type: ignore[no-untyped-def]
            log.append((event, order.leg or "entry", extra["price"] if extra else None))
            emit(event, order, extra)

        srv.broker.emit = record
        return srv, log

    return make


def bracket(srv, tp: str, sl: str, **kw) -> dict:  # type: ignore[no-untyped-def]
    body = {"symbol": "XYZ", "side": "buy", "type": "market", "qty": "10", "time_in_force": "day",
            "order_class": "bracket", "take_profit": {"limit_price": tp}, "stop_loss": {"stop_price": sl}, **kw}
    return srv.broker.submit(body)


def legs(srv, snap: dict) -> dict:  # type: ignore[no-untyped-def]
    parent = srv.broker.orders[snap["id"]]
    return {srv.broker.orders[i].leg: srv.broker.orders[i] for i in parent.legs}


def position(srv) -> Decimal:  # type: ignore[no-untyped-def]
    p = srv.broker.positions.get("XYZ")
    return p.qty if p else Decimal(0)


def test_take_profit_fills_and_cancels_the_stop(server) -> None:  # type: ignore[no-untyped-def]
    srv, log = server()
    snap = bracket(srv, "101.8", "98.5")
    assert snap["order_class"] == "bracket" and len(snap["legs"]) == 2
    lg = legs(srv, snap)
    # the market entry fills at the last trade (100.5); the take-profit turns new, the stop-loss stays held
    assert log == [("new", "entry", None), ("fill", "entry", "100.5"), ("new", "take_profit", None)]
    assert lg["take_profit"].status == "new" and lg["stop_loss"].status == "held"
    srv.step()  # 14:31: high 102 >= 101.8 from an open of 100.5 -> the limit, 101.8
    assert log[3:] == [("fill", "take_profit", "101.8"), ("canceled", "stop_loss", None)]
    assert position(srv) == 0


def test_stop_loss_fills_and_cancels_the_take_profit(server) -> None:  # type: ignore[no-untyped-def]
    srv, log = server()
    bracket(srv, "103", "99.5")
    srv.step()  # 14:31: low 100.2, high 102: neither
    srv.step()  # 14:32: low 98 <= 99.5 from an open of 101 -> the stop, 99.5
    assert log[3:] == [("fill", "stop_loss", "99.5"), ("canceled", "take_profit", None)]
    assert position(srv) == 0


def test_a_bar_reaching_both_legs_fills_the_stop_first(server) -> None:  # type: ignore[no-untyped-def]
    srv, log = server()
    bracket(srv, "101.5", "100.3")
    srv.step()  # 14:31: O100.5 H102 L100.2 reaches 101.5 and 100.3: the loss is taken, at min(100.5, 100.3)
    assert log[3:] == [("fill", "stop_loss", "100.3"), ("canceled", "take_profit", None)]


def test_legs_wait_for_the_entry_and_start_on_the_next_bar(server) -> None:  # type: ignore[no-untyped-def]
    srv, log = server()
    snap = bracket(srv, "101.5", "98", type="limit", limit_price="99")
    lg = legs(srv, snap)
    srv.step()  # 14:31 reaches the take-profit 101.5, but the entry has not filled: held legs do nothing
    assert [e for e in log if e[1] != "entry"] == [] and lg["take_profit"].status == "held"
    srv.step()  # 14:32: open 101, low 98 -> the entry at its limit 99; its low 98 also reaches the stop,
    # but the legs start with the next bar
    assert log[-2:] == [("fill", "entry", "99"), ("new", "take_profit", None)]
    srv.step()  # 14:33: open 99, low 97 <= 98 -> the stop at 98
    assert log[-2:] == [("fill", "stop_loss", "98"), ("canceled", "take_profit", None)]


def test_oco_exit_and_oto(server) -> None:  # type: ignore[no-untyped-def]
    srv, log = server()
    srv.broker.submit({"symbol": "XYZ", "side": "buy", "type": "market", "qty": "10", "time_in_force": "day"})
    oco = srv.broker.submit({"symbol": "XYZ", "side": "sell", "type": "limit", "limit_price": "101.8", "qty": "10",
                             "time_in_force": "gtc", "order_class": "oco", "take_profit": {"limit_price": "101.8"},
                             "stop_loss": {"stop_price": "99.5"}})
    assert oco["order_class"] == "oco" and oco["status"] == "new"
    srv.step()  # 14:31 high 102: the limit 101.8 fills, its stop is canceled
    assert log[-2:] == [("fill", "entry", "101.8"), ("canceled", "stop_loss", None)]
    assert position(srv) == 0
    oto = srv.broker.submit({"symbol": "XYZ", "side": "buy", "type": "market", "qty": "5", "time_in_force": "day",
                             "order_class": "oto", "stop_loss": {"stop_price": "99.5", "limit_price": "99.8"}})
    [leg] = legs(srv, oto).values()
    assert leg.type == "stop_limit" and log[-1] == ("fill", "entry", "101")
    srv.step()  # 14:32: O101 L98 triggers the sell stop 99.5 inside the bar, below its limit 99.8: no fill
    assert position(srv) == 5  # (the matching core's rule: the way back up may have come first)
    srv.step()  # 14:33: a sell limit 99.8 from the open 99, high 99.5: no
    srv.step()  # 14:34: open 98, high 103 >= 99.8 -> 99.8
    assert log[-1] == ("fill", "stop_loss", "99.8") and position(srv) == 0


def test_cancel_passes_pending_cancel_and_takes_the_group(server) -> None:  # type: ignore[no-untyped-def]
    srv, log = server()
    snap = bracket(srv, "101.5", "98", type="limit", limit_price="90")
    srv.broker.cancel(snap["id"])
    assert log[1:] == [("pending_cancel", "entry", None), ("canceled", "entry", None),
                       ("canceled", "take_profit", None), ("canceled", "stop_loss", None)]
    snap = bracket(srv, "101.5", "98", type="limit", limit_price="90", client_order_id="b2")
    srv.broker.cancel(legs(srv, snap)["stop_loss"].id)  # a held leg: the whole group goes
    assert all(not srv.broker.orders[i].is_open for i in [snap["id"], *srv.broker.orders[snap["id"]].legs])


def test_replace_passes_pending_replace_and_keeps_the_leg_in_its_group(server) -> None:  # type: ignore[no-untyped-def]
    srv, log = server()
    snap = bracket(srv, "103", "97")
    stop = legs(srv, snap)["stop_loss"]
    new = srv.broker.replace(stop.id, {"stop_price": "99.5"})
    assert log[-3:] == [("pending_replace", "stop_loss", None), ("replaced", "stop_loss", None),
                        ("new", "stop_loss", None)]
    assert srv.broker.orders[snap["id"]].legs[1] == new["id"]
    srv.step()
    srv.step()  # 14:32: the moved stop 99.5 fills; the take-profit goes
    assert log[-2:] == [("fill", "stop_loss", "99.5"), ("canceled", "take_profit", None)]


def test_a_partial_take_profit_shrinks_the_stop(server) -> None:  # type: ignore[no-untyped-def]
    srv, _ = server(partial_fill_prob=1.0)
    snap = srv.broker.submit({"symbol": "XYZ", "side": "buy", "type": "market", "qty": "10", "time_in_force": "day",
                              "order_class": "bracket", "take_profit": {"limit_price": "101.8"},
                              "stop_loss": {"stop_price": "90"}})
    parent = srv.broker.orders[snap["id"]]
    while parent.is_open:  # partial fills at the last price until the entry is complete
        srv.broker._execute_now(parent)
    lg = legs(srv, snap)
    srv.step()
    tp, sl = lg["take_profit"], lg["stop_loss"]
    assert Decimal(0) < tp.filled_qty < Decimal(10)
    assert sl.qty == 10 - tp.filled_qty and sl.is_open


@pytest.mark.parametrize(("extra", "message"), [
    ({"take_profit": {"limit_price": "99"}, "stop_loss": {"stop_price": "100"}}, "beyond"),
    ({"take_profit": {"limit_price": "101"}}, "both"),
    ({"time_in_force": "ioc"}, "day or gtc"),
    ({"order_class": "oto"}, "exactly one"),
    ({"order_class": "triangle"}, "invalid order_class"),
    ({"order_class": "oco", "side": "sell", "type": "limit", "limit_price": "101"}, "exit"),
])
def test_bad_groups_are_422(server, extra, message) -> None:  # type: ignore[no-untyped-def]
    srv, _ = server()
    body = {"symbol": "XYZ", "side": "buy", "type": "market", "qty": "10", "time_in_force": "day",
            "order_class": "bracket", "take_profit": {"limit_price": "101"}, "stop_loss": {"stop_price": "99"}}
    body.update(extra)
    if extra.get("take_profit") and not extra.get("stop_loss") and body["order_class"] == "bracket":
        body.pop("stop_loss")
    with pytest.raises(WireError, match=message) as e:
        srv.broker.submit(body)
    assert e.value.status == 422
    assert srv.broker.order_list == []


def test_alpaca_py_submits_a_bracket_and_lists_its_legs(emulator, trading_client) -> None:  # type: ignore[no-untyped-def]
    from alpaca.trading.enums import OrderClass, OrderSide, QueryOrderStatus, TimeInForce
    from alpaca.trading.requests import (
        GetOrdersRequest,
        LimitOrderRequest,
        StopLossRequest,
        TakeProfitRequest,
    )

    tc = trading_client(emulator)
    px = emulator.price("SPY")
    o = tc.submit_order(LimitOrderRequest(
        symbol="SPY", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=round(px * 0.5, 2),
        order_class=OrderClass.BRACKET, take_profit=TakeProfitRequest(limit_price=round(px * 1.5, 2)),
        stop_loss=StopLossRequest(stop_price=round(px * 0.4, 2), limit_price=round(px * 0.39, 2))))
    assert o.order_class == OrderClass.BRACKET and len(o.legs) == 2
    tp, sl = o.legs
    assert (tp.type, tp.side, float(tp.limit_price)) == ("limit", OrderSide.SELL, round(px * 1.5, 2))
    assert (sl.type, float(sl.stop_price), sl.status) == ("stop_limit", round(px * 0.4, 2), "held")
    nested = tc.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, nested=True))
    assert [len(x.legs or []) for x in nested] == [2]
    flat = tc.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert {str(x.id) for x in flat} == {str(o.id), str(tp.id), str(sl.id)}
    tc.cancel_order_by_id(o.id)
    after = tc.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True))
    assert after[0].status == "canceled" and {leg.status for leg in after[0].legs} == {"canceled"}
