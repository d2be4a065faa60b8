"""Order mapping and wire decoding, checked against alpaca-py and pandas as references."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pandas as pd
import pytest

from admf.adapters.alpaca import models as m
from admf.core.enums import OrderStatus, OrderType, Side, TimeInForce
from admf.core.errors import ConfigError
from admf.core.events import OCO, OrderRequest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ORDER_JSON = b"""{"id":"5b8f7d1e-8f0c-4a77-b6a2-2f4c9c1d0e33","client_order_id":"strat1-0001",
 "created_at":"2026-11-24T15:01:02.118233Z","updated_at":"2026-11-24T15:01:02.120455Z",
 "submitted_at":"2026-11-24T15:01:02.117901Z","filled_at":null,"expired_at":null,"canceled_at":null,
 "failed_at":null,"replaced_at":null,"replaced_by":null,"replaces":null,
 "asset_id":"b0b6dd9d-8b9b-48a9-ba46-b9d54906e415","symbol":"AAPL","asset_class":"us_equity",
 "notional":null,"qty":"10","filled_qty":"4","filled_avg_price":"171.19","order_class":"",
 "order_type":"limit","type":"limit","side":"buy","time_in_force":"day","limit_price":"171.25",
 "stop_price":null,"status":"partially_filled","extended_hours":false,"legs":null,"trail_percent":null,
 "trail_price":null,"hwm":null,"some_new_field":{"x":1}}"""


def test_order_decodes_string_decimals_like_alpaca_py():
    from alpaca.trading.models import Order as PyOrder

    ours = m.ORDER.decode(ORDER_JSON)
    ref = PyOrder(**msgspec.json.decode(ORDER_JSON))
    assert ours.id == str(ref.id)
    assert ours.qty == float(ref.qty) == 10.0
    assert ours.filled_qty == float(ref.filled_qty) == 4.0
    assert ours.filled_avg_price == float(ref.filled_avg_price) == 171.19
    assert ours.limit_price == float(ref.limit_price)
    assert m.to_status(ours.status) is OrderStatus.PARTIALLY_FILLED
    assert ours.updated_ns() == pd.Timestamp("2026-11-24T15:01:02.120455Z").value


def test_unknown_status_values_do_not_break_decoding():
    raw = ORDER_JSON.replace(b'"partially_filled"', b'"some_future_status"')
    o = m.ORDER.decode(raw)
    assert o.status == "some_future_status"
    assert m.to_status(o.status) is None
    assert m.to_status("pending_cancel") is None
    assert m.to_status("pending_new") is OrderStatus.ACCEPTED


@pytest.mark.parametrize(
    "s",
    [
        "2026-11-24T15:01:05.233817Z",
        "2026-11-24T10:15:03.512001922-05:00",
        "2022-04-19T13:45:04.98-04:00",
        "2024-03-26T13:30:00Z",
        "2024-03-26T13:30:00+00:00",
        "2024-03-26T13:30:00.000000001Z",
    ],
)
def test_parse_ts_ns_matches_pandas(s: str):
    assert m.parse_ts_ns(s) == pd.Timestamp(s).value


def test_format_ts_round_trips():
    for ns in (pd.Timestamp("2024-03-26T13:30:00Z").value, pd.Timestamp("2026-11-24T15:01:05.233817123Z").value):
        assert m.parse_ts_ns(m.format_ts(ns)) == ns


def _tick(p: float) -> float:
    return round(p, 2 if p >= 1 else 4)


@pytest.mark.parametrize(
    "req",
    [
        OrderRequest("c-1", "s", "SPY", Side.BUY, 10.0, OrderType.LIMIT, limit_price=521.234, tif=TimeInForce.GTC),
        OrderRequest("c-2", "s", "SPY", Side.SELL, 2.5, OrderType.MARKET),
        OrderRequest("c-3", "s", "PENNY", Side.BUY, 100.0, OrderType.STOP_LIMIT, limit_price=0.51237, stop_price=0.5),
        OrderRequest("c-4", "s", "SPY", Side.SELL, 3.0, OrderType.STOP, stop_price=500.005),
    ],
)
def test_order_body_matches_what_alpaca_py_sends(req: OrderRequest):
    from alpaca.trading.enums import OrderSide
    from alpaca.trading.enums import TimeInForce as PyTif
    from alpaca.trading.requests import (
        LimitOrderRequest,
        MarketOrderRequest,
        StopLimitOrderRequest,
        StopOrderRequest,
    )

    ours = m.order_body(req)
    kw = dict(
        symbol=req.symbol,
        qty=req.qty,
        side=OrderSide(req.side.value),
        time_in_force=PyTif(req.tif.value),
        client_order_id=req.client_order_id,
    )
    cls = {
        OrderType.MARKET: MarketOrderRequest,
        OrderType.LIMIT: LimitOrderRequest,
        OrderType.STOP: StopOrderRequest,
        OrderType.STOP_LIMIT: StopLimitOrderRequest,
    }[req.order_type]
    if req.limit_price is not None:
        kw["limit_price"] = _tick(req.limit_price)
    if req.stop_price is not None:
        kw["stop_price"] = _tick(req.stop_price)
    ref = cls(**kw).to_request_fields()
    assert set(ours) == set(ref)
    for k, v in ref.items():
        if k in ("qty", "limit_price", "stop_price"):
            assert Decimal(ours[k]) == Decimal(str(v)), k
            assert isinstance(ours[k], str)  # decimals go out as strings
        else:
            assert ours[k] == (v.value if hasattr(v, "value") else v), k


def test_price_rounding_follows_the_sub_penny_rule():
    assert m.format_price(171.256) == "171.26"
    assert m.format_price(0.51237) == "0.5124"
    assert m.format_qty(10.0) == "10"
    assert m.format_qty(0.123456789123) == "0.123456789"


def test_check_request_catches_orders_that_cannot_be_accepted():
    ok = OrderRequest("c", "s", "SPY", Side.BUY, 1.0)
    assert m.check_request(ok) is None
    assert "limit_price" in m.check_request(OrderRequest("c", "s", "SPY", Side.BUY, 1.0, OrderType.LIMIT))
    assert "qty" in m.check_request(OrderRequest("c", "s", "SPY", Side.BUY, 0.0))
    assert "qty" in m.check_request(OrderRequest("c", "s", "SPY", Side.BUY, float("nan")))
    assert "client_order_id" in m.check_request(OrderRequest("x" * 49, "s", "SPY", Side.BUY, 1.0))


def test_fill_activity_exec_id_is_the_uuid_after_the_time_prefix():
    raw = b"""[{"activity_type":"FILL","id":"20261124150105233::4e2a9a0c-61c2-4a6e-8b54-0c9a3f7d1b20",
      "transaction_time":"2026-11-24T15:01:05.233817Z","type":"partial_fill","price":"171.19",
      "qty":"4","side":"buy","symbol":"AAPL","leaves_qty":"6","cum_qty":"4",
      "order_id":"5b8f7d1e-8f0c-4a77-b6a2-2f4c9c1d0e33","order_status":"partially_filled"}]"""
    (a,) = m.ACTIVITIES.decode(raw)
    assert a.exec_id() == "4e2a9a0c-61c2-4a6e-8b54-0c9a3f7d1b20"
    assert (a.qty, a.price, a.cum_qty) == (4.0, 171.19, 4.0)


def test_trade_update_qty_is_per_execution():
    raw = (
        b'{"stream":"trade_updates","data":{"event":"partial_fill","execution_id":"e1","order":'
        + ORDER_JSON
        + b',"timestamp":"2026-11-24T15:01:05.233817Z","position_qty":"4","price":"171.19","qty":"3"}}'
    )
    frame = m.FRAME.decode(raw)
    tu = m.TRADE_UPDATE.decode(frame.data)
    assert (tu.event, tu.qty, tu.price, tu.order.filled_qty) == ("partial_fill", 3.0, 171.19, 4.0)


def test_parse_timeframe():
    assert m.parse_timeframe("5m") == ("5Min", 300)
    assert m.parse_timeframe("1Min") == ("1Min", 60)
    assert m.parse_timeframe("1h") == ("1Hour", 3600)
    assert m.parse_timeframe("1Day") == ("1Day", 86400)
    with pytest.raises(ConfigError):
        m.parse_timeframe("30Sec")


def test_oco_body_is_hand_computed_and_what_alpaca_py_sends():
    from alpaca.trading.enums import OrderClass, OrderSide
    from alpaca.trading.enums import TimeInForce as PyTif
    from alpaca.trading.requests import LimitOrderRequest, StopLossRequest, TakeProfitRequest

    req = OrderRequest("x-7", "s", "SPY", Side.SELL, 10.0, OrderType.LIMIT, limit_price=474.284,
                       order_class=OCO, stop_loss=471.906)
    ours = m.order_body(req)
    # the order itself is the take-profit limit; its leg the stop-loss; prices to the cent
    assert ours == {"symbol": "SPY", "qty": "10", "side": "sell", "type": "limit", "time_in_force": "day",
                    "client_order_id": "x-7", "limit_price": "474.28", "order_class": "oco",
                    "take_profit": {"limit_price": "474.28"}, "stop_loss": {"stop_price": "471.91"}}
    ref = LimitOrderRequest(symbol="SPY", qty=10, side=OrderSide.SELL, time_in_force=PyTif.DAY, client_order_id="x-7",
                            limit_price=474.28, order_class=OrderClass.OCO,
                            take_profit=TakeProfitRequest(limit_price=474.28),
                            stop_loss=StopLossRequest(stop_price=471.91)).to_request_fields()
    assert set(ours) == set(ref)
    assert ref["order_class"] == "oco"
    assert {k: Decimal(str(v)) for k, v in ref["take_profit"].items()} == {"limit_price": Decimal("474.28")}
    assert {k: Decimal(str(v)) for k, v in ref["stop_loss"].items()} == {"stop_price": Decimal("471.91")}
    assert m.check_request(req) is None


def test_check_request_refuses_an_oco_that_cannot_work():
    base = dict(client_order_id="c", strategy_id="s", symbol="SPY", side=Side.SELL, qty=10.0)
    no_stop = OrderRequest(**base, order_type=OrderType.LIMIT, limit_price=105.0, order_class=OCO)
    assert "stop_loss" in m.check_request(no_stop)
    market = OrderRequest(**base, order_class=OCO, stop_loss=95.0)
    assert "limit order" in m.check_request(market)
    upside_down = OrderRequest(**base, order_type=OrderType.LIMIT, limit_price=95.0, order_class=OCO, stop_loss=105.0)
    assert "beyond its stop-loss" in m.check_request(upside_down)
    buy = OrderRequest(**{**base, "side": Side.BUY}, order_type=OrderType.LIMIT, limit_price=95.0, order_class=OCO,
                       stop_loss=105.0)
    assert m.check_request(buy) is None  # covering a short: the target is below the stop
    assert "order_class" in m.check_request(OrderRequest(**base, order_class="bracket"))
