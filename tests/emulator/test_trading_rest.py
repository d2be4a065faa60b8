"""Contract: alpaca-py's TradingClient against the emulator; every response parses into its models."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Asset, Calendar, Clock, Order, Position, TradeAccount
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetCalendarRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
)

from admf.emulator.wire import iso_et


def _d(x: float) -> Decimal:
    return Decimal(repr(x))


def test_market_order_fill_moves_cash_and_position(emulator, trading_client) -> None:
    tc = trading_client(emulator)
    price = _d(emulator.price("SPY"))
    o = tc.submit_order(MarketOrderRequest(symbol="SPY", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
                                           client_order_id="m-1"))
    assert isinstance(o, Order) and o.status == OrderStatus.NEW and o.client_order_id == "m-1"
    got = tc.get_order_by_id(o.id)
    assert got.status == OrderStatus.FILLED and Decimal(got.filled_qty) == 3
    assert Decimal(got.filled_avg_price) == price
    acct = tc.get_account()
    assert isinstance(acct, TradeAccount)
    assert Decimal(acct.cash) == Decimal(100000) - 3 * price
    assert Decimal(acct.equity) == Decimal(100000)  # marked at the fill price
    [pos] = tc.get_all_positions()
    assert isinstance(pos, Position) and pos.symbol == "SPY" and Decimal(pos.qty) == 3
    assert Decimal(pos.avg_entry_price) == price and Decimal(pos.cost_basis) == 3 * price
    assert tc.get_open_position("SPY").qty == "3"
    fills = tc.get("/account/activities/FILL")
    assert [(f["type"], f["qty"], f["order_id"]) for f in fills] == [("fill", "3", str(o.id))]
    assert Decimal(fills[0]["price"]) == price


def test_order_listing_filters(emulator_factory, trading_client) -> None:
    emu = emulator_factory(symbols=["SPY", "QQQ"])
    tc = trading_client(emu)
    placed = []
    for i, (sym, side) in enumerate([("SPY", "buy"), ("QQQ", "buy"), ("SPY", "sell"), ("QQQ", "sell")]):
        price = round(emu.price(sym) * (0.5 if side == "buy" else 1.5), 2)
        placed.append(tc.submit_order(LimitOrderRequest(symbol=sym, qty=1, limit_price=price, side=side,
                                                        time_in_force=TimeInForce.GTC, client_order_id=f"l{i}")))
    filled = tc.submit_order(MarketOrderRequest(symbol="SPY", qty=1, side="buy", time_in_force="day"))
    ids = [str(o.id) for o in placed]
    open_ = tc.get_orders()
    assert [str(o.id) for o in open_] == ids[::-1]  # default: open, newest first
    closed = tc.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
    assert [o.id for o in closed] == [filled.id]
    assert len(tc.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))) == 5
    sells = tc.get_orders(GetOrdersRequest(side=OrderSide.SELL))
    assert {o.client_order_id for o in sells} == {"l2", "l3"}
    qqq = tc.get_orders(GetOrdersRequest(symbols=["QQQ"], direction="asc"))
    assert [o.client_order_id for o in qqq] == ["l1", "l3"]
    first_two = tc.get_orders(GetOrdersRequest(limit=2, direction="asc"))
    assert [o.client_order_id for o in first_two] == ["l0", "l1"]
    # after/until are exclusive bounds on submitted_at.
    mid = tc.get_orders(GetOrdersRequest(status="all", after=placed[0].submitted_at, until=placed[3].submitted_at,
                                         direction="asc"))
    assert [o.client_order_id for o in mid] == ["l1", "l2"]


def test_replace_then_cancel(emulator, trading_client) -> None:
    tc = trading_client(emulator)
    low = round(emulator.price("SPY") * 0.9, 2)
    o = tc.submit_order(LimitOrderRequest(symbol="SPY", qty=2, limit_price=low, side="buy", time_in_force="day",
                                          client_order_id="r-1"))
    new = tc.replace_order_by_id(o.id, ReplaceOrderRequest(qty=5, limit_price=round(low - 1, 2)))
    assert new.id != o.id and str(new.replaces) == str(o.id)
    assert Decimal(new.qty) == 5 and Decimal(new.limit_price) == _d(round(low - 1, 2))
    old = tc.get_order_by_client_id("r-1")
    assert old.status == OrderStatus.REPLACED and str(old.replaced_by) == str(new.id)
    assert tc.cancel_order_by_id(new.id) is None
    assert tc.get_order_by_id(new.id).status == OrderStatus.CANCELED
    with pytest.raises(APIError) as e:
        tc.cancel_order_by_id(new.id)
    assert e.value.status_code == 422 and e.value.code == 42210000
    assert e.value.message == 'order is already in "canceled" state'


def test_cancel_all_and_liquidation(emulator_factory, trading_client) -> None:
    emu = emulator_factory(symbols=["SPY", "QQQ"])
    tc = trading_client(emu)
    spy, qqq = _d(emu.price("SPY")), _d(emu.price("QQQ"))
    tc.submit_order(MarketOrderRequest(symbol="SPY", qty=10, side="buy", time_in_force="day"))
    tc.submit_order(MarketOrderRequest(symbol="QQQ", qty=4, side="sell", time_in_force="day"))  # short
    resting = [tc.submit_order(LimitOrderRequest(symbol="SPY", qty=1, limit_price=1.0, side="buy",
                                                 time_in_force="gtc")) for _ in range(2)]
    cancelled = tc.cancel_orders()
    assert sorted(str(c.id) for c in cancelled) == sorted(str(o.id) for o in resting)
    assert all(c.status == 200 for c in cancelled) and tc.get_orders() == []
    short = tc.get_open_position("QQQ")
    assert short.side == "short" and Decimal(short.qty) == -4 and Decimal(short.market_value) == -4 * qqq
    part = tc.close_position("SPY", ClosePositionRequest(qty="4"))
    assert part.side == OrderSide.SELL and Decimal(part.qty) == 4
    assert Decimal(tc.get_open_position("SPY").qty) == 6
    out = tc.close_all_positions(cancel_orders=True)
    assert sorted(r.symbol for r in out) == ["QQQ", "SPY"] and all(r.status == 200 for r in out)
    assert tc.get_all_positions() == []
    # Round trip at unchanged prices: cash is back where it started.
    assert Decimal(tc.get_account().cash) == Decimal(100000) + 0 * (spy + qqq)
    with pytest.raises(APIError) as e:
        tc.get_open_position("SPY")
    assert e.value.status_code == 404 and e.value.message == "position does not exist"


def test_clock_calendar_assets(emulator, trading_client) -> None:
    tc = trading_client(emulator)
    clock = tc.get_clock()
    assert isinstance(clock, Clock) and clock.is_open
    now = emulator.now_ns()
    assert clock.timestamp.isoformat().startswith(iso_et(now)[:19])
    assert clock.next_close.isoformat() == "2024-01-02T16:00:00-05:00"
    days = tc.get_calendar(GetCalendarRequest(start=date(2024, 3, 25), end=date(2024, 4, 2)))
    assert all(isinstance(d, Calendar) for d in days)
    assert [d.date.isoformat() for d in days] == ["2024-03-25", "2024-03-26", "2024-03-27", "2024-03-28",
                                                  "2024-04-01", "2024-04-02"]
    assert days[0].open.hour == 9 and days[0].close.hour == 16
    assets = tc.get_all_assets()
    assert [a.symbol for a in assets] == ["SPY"] and isinstance(assets[0], Asset)
    assert tc.get_asset("SPY").exchange == "ARCA"
    assert tc.get_asset(str(assets[0].id)).symbol == "SPY"
    with pytest.raises(APIError) as e:
        tc.get_asset("NOPE")
    assert e.value.status_code == 404 and e.value.code == 40410000


def test_fill_activities_page_by_token(emulator, rest) -> None:
    r = rest(emulator)
    for i in range(5):
        r.order(qty=i + 1)
    everything = r("GET", "/v2/account/activities/FILL", params={"direction": "asc"}).json()
    assert [a["qty"] for a in everything] == ["1", "2", "3", "4", "5"]
    assert len({a["id"] for a in everything}) == 5 and all("::" in a["id"] for a in everything)
    pages, token = [], None
    while True:
        params = {"page_size": 2, **({"page_token": token} if token else {})}
        page = r("GET", "/v2/account/activities", params={"activity_types": "FILL", **params}).json()
        if not page:
            break
        pages.append(page)
        token = page[-1]["id"]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [a for p in pages for a in p] == everything[::-1]  # default direction: newest first
    assert r("GET", "/v2/account/activities", params={"activity_types": "DIV"}).json() == []
    assert len(r("GET", "/v2/account/activities/FILL", params={"date": "2024-01-02"}).json()) == 5
    assert r("GET", "/v2/account/activities/FILL", params={"date": "2024-01-03"}).json() == []
