"""Market-data endpoints clients other than ours call: single-symbol latest trade/quote, snapshots,
message-only error bodies and a date-only `end`. alpaca-py where it has the call, raw HTTP else."""

from __future__ import annotations

from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest, StockSnapshotRequest
from alpaca.data.timeframe import TimeFrame


def _client(emu) -> StockHistoricalDataClient:  # type: ignore[no-untyped-def]
    c = StockHistoricalDataClient(emu.api_key, emu.secret_key, url_override=emu.data_url)
    c._retry = 0
    return c


def test_single_symbol_latest_trade_and_quote(emulator, rest) -> None:  # type: ignore[no-untyped-def]
    r = rest(emulator)
    emulator.step(2)
    many = r("GET", "/v2/stocks/trades/latest", params={"symbols": "SPY"}).json()["trades"]["SPY"]
    one = r("GET", "/v2/stocks/SPY/trades/latest")
    assert one.status_code == 200
    assert one.json() == {"symbol": "SPY", "trade": many}
    assert one.json()["trade"]["p"] == emulator.price("SPY")
    q = r("GET", "/v2/stocks/spy/quotes/latest").json()
    assert q["symbol"] == "SPY" and q["quote"]["bp"] < emulator.price("SPY") < q["quote"]["ap"]
    missing = r("GET", "/v2/stocks/NOPE/trades/latest")
    assert missing.status_code == 404 and set(missing.json()) == {"message"}


def test_snapshots_through_alpaca_py_and_raw(emulator_factory, rest) -> None:  # type: ignore[no-untyped-def]
    emu = emulator_factory(symbols=["SPY", "QQQ"], start=400)  # day 1 (390 bars) and 10 bars of day 2
    snap = _client(emu).get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=["SPY", "QQQ"]))
    assert set(snap) == {"SPY", "QQQ"}
    day = _client(emu).get_stock_bars(StockBarsRequest(symbol_or_symbols="SPY", timeframe=TimeFrame.Day,
                                                       start="2024-01-01")).data["SPY"]
    assert len(day) == 2
    s = snap["SPY"]
    assert s.latest_trade.price == emu.price("SPY") == s.minute_bar.close
    assert s.daily_bar.open == day[1].open and s.daily_bar.volume == day[1].volume
    assert s.previous_daily_bar.close == day[0].close and s.previous_daily_bar.high == day[0].high
    raw = rest(emu)("GET", "/v2/stocks/SPY/snapshot").json()
    assert raw["symbol"] == "SPY" and raw["latestTrade"]["p"] == emu.price("SPY")
    assert set(raw) == {"symbol", "latestTrade", "latestQuote", "minuteBar", "dailyBar", "prevDailyBar"}


def test_data_errors_carry_a_message_only_and_trading_errors_a_code(emulator, rest) -> None:  # type: ignore[no-untyped-def]
    r = rest(emulator)
    bad_tf = r("GET", "/v2/stocks/bars", params={"symbols": "SPY", "timeframe": "30Sec"})
    assert bad_tf.status_code == 400 and bad_tf.json() == {"message": "invalid timeframe: 30Sec"}
    bad_start = r("GET", "/v2/stocks/SPY/bars", params={"timeframe": "1Min", "start": "yesterday"})
    assert bad_start.status_code == 400 and set(bad_start.json()) == {"message"}
    unknown = r("GET", "/v2/stocks/SPY/nothing")
    assert unknown.status_code == 404 and set(unknown.json()) == {"message"}
    trading = r("GET", "/v2/orders/not-an-order")
    assert trading.status_code == 404 and "code" in trading.json()


def test_a_date_only_end_is_that_whole_day(emulator_factory, rest) -> None:  # type: ignore[no-untyped-def]
    emu = emulator_factory(start=500)  # all of 2024-01-02 (390 bars) and 110 of 2024-01-03
    r = rest(emu)
    p = {"timeframe": "1Min", "start": "2024-01-02", "limit": 10000}
    day1 = r("GET", "/v2/stocks/SPY/bars", params={**p, "end": "2024-01-02"}).json()["bars"]
    assert len(day1) == 390 and day1[-1]["t"] == "2024-01-02T20:59:00Z"
    both = r("GET", "/v2/stocks/SPY/bars", params={**p, "end": "2024-01-03"}).json()["bars"]
    assert len(both) == 500
    midnight = r("GET", "/v2/stocks/SPY/bars", params={**p, "end": "2024-01-02T00:00:00Z"}).json()["bars"]
    assert midnight == []  # a full timestamp still means that instant
