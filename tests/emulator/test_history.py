"""Historical bars: only the replay's past, aggregation checked against the shared 5m/15m files and
pandas, pagination through alpaca-py and raw page tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

CUT = 12_000  # one-minute bars already played


def _client(emu) -> StockHistoricalDataClient:
    c = StockHistoricalDataClient(emu.api_key, emu.secret_key, url_override=emu.data_url)
    c._retry = 0
    return c


def _frame(bars: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(bars)
    df["t"] = pd.to_datetime(df["t"], utc=True)
    return df.set_index("t")


def test_alpaca_py_pages_through_real_minutes(emulator_factory, shared_data: Path) -> None:
    emu = emulator_factory(data=str(shared_data / "SPY_1m.parquet"), start=CUT, rate_limit=0, data_rate_limit=0)
    ref = pd.read_parquet(shared_data / "SPY_1m.parquet").iloc[:CUT]
    got = _client(emu).get_stock_bars(StockBarsRequest(
        symbol_or_symbols="SPY", timeframe=TimeFrame.Minute, start=datetime(2024, 3, 1, tzinfo=UTC)))
    bars = got.data["SPY"]
    assert len(bars) == CUT  # two pages of alpaca-py's 10000, and nothing from the future
    assert [b.timestamp for b in bars[:2]] == ref["timestamp"].iloc[:2].tolist()
    assert [b.close for b in bars] == ref["close"].tolist()
    assert [b.volume for b in bars] == ref["volume"].astype(float).tolist()
    assert bars[-1].timestamp == ref["timestamp"].iloc[-1]


def test_aggregates_match_the_shared_5m_and_15m_files(emulator_factory, rest, shared_data: Path) -> None:
    emu = emulator_factory(data=str(shared_data / "SPY_1m.parquet"), start=CUT, data_rate_limit=0)
    r = rest(emu)
    minutes = pd.read_parquet(shared_data / "SPY_1m.parquet").iloc[:CUT]
    now = minutes["timestamp"].iloc[-1] + pd.Timedelta(minutes=1)
    for tf, name in (("5Min", "SPY_5m.csv"), ("15Min", "SPY_15m.csv")):
        body = r("GET", "/v2/stocks/bars", params={"symbols": "SPY", "timeframe": tf, "limit": 10000,
                                                    "start": "2024-03-01T00:00:00Z"}).json()
        assert body["next_page_token"] is None
        got = _frame(body["bars"]["SPY"])
        ref = pd.read_csv(shared_data / name, parse_dates=["timestamp"]).set_index("timestamp")
        size = pd.Timedelta(tf.replace("Min", "min"))
        complete = ref[ref.index + size <= now]
        assert got.index[: len(complete)].equals(complete.index)
        for a, b in (("o", "open"), ("h", "high"), ("l", "low"), ("c", "close"), ("v", "volume")):
            assert (got[a].iloc[: len(complete)].to_numpy() == complete[b].to_numpy()).all(), (tf, a)
        # The bucket still forming is built from played minutes only.
        if len(got) > len(complete):
            assert got["c"].iloc[-1] == minutes["close"].iloc[-1]
            assert got["v"].iloc[-1] == minutes[minutes["timestamp"] >= got.index[-1]]["volume"].sum()


def test_daily_weekly_bars_and_sort(emulator_factory, rest) -> None:
    emu = emulator_factory(synthetic_days=8, start=8 * 390 - 100)
    r = rest(emu)
    s = emu.call(lambda srv: srv.market.series["SPY"])
    played = pd.DataFrame({"t": pd.to_datetime(s.t[: s.ptr], utc=True), "o": s.o[: s.ptr], "h": s.h[: s.ptr],
                           "l": s.l[: s.ptr], "c": s.c[: s.ptr], "v": s.v[: s.ptr]})
    day = played["t"].dt.tz_convert("America/New_York").dt.normalize()
    ref = played.groupby(day).agg(o=("o", "first"), h=("h", "max"), l=("l", "min"), c=("c", "last"), v=("v", "sum"))
    body = r("GET", "/v2/stocks/SPY/bars", params={"timeframe": "1Day", "start": "2024-01-01"}).json()
    assert body["symbol"] == "SPY" and body["next_page_token"] is None
    got = _frame(body["bars"])
    assert list(got.index) == [t.tz_convert("UTC") for t in ref.index]
    assert got.index[0].isoformat() == "2024-01-02T05:00:00+00:00"  # New York midnight
    for col in "ohlcv":
        assert got[col].tolist() == ref[col].tolist()
    desc = r("GET", "/v2/stocks/SPY/bars", params={"timeframe": "1D", "start": "2024-01-01", "sort": "desc"}).json()
    assert [b["t"] for b in desc["bars"]] == [b["t"] for b in body["bars"]][::-1]
    weeks = r("GET", "/v2/stocks/SPY/bars", params={"timeframe": "1Week", "start": "2024-01-01"}).json()["bars"]
    assert [w["t"] for w in weeks] == ["2024-01-01T05:00:00Z", "2024-01-08T05:00:00Z"]
    assert sum(w["v"] for w in weeks) == int(played["v"].sum())
    months = r("GET", "/v2/stocks/SPY/bars", params={"timeframe": "1Month", "start": "2024-01-01"}).json()["bars"]
    assert [m["t"] for m in months] == ["2024-01-01T05:00:00Z"]  # New York midnight of the 1st, in ns
    assert months[0]["v"] == int(played["v"].sum()) and months[0]["h"] == played["h"].max()


def test_multi_symbol_pages_follow_symbol_then_time(emulator_factory, rest) -> None:
    emu = emulator_factory(symbols=["SPY", "QQQ"], start=10)
    r = rest(emu)
    params = {"symbols": "SPY,QQQ,NONE", "timeframe": "1Min", "start": "2024-01-02", "limit": 7}
    pages, token = [], None
    while True:
        body = r("GET", "/v2/stocks/bars", params={**params, **({"page_token": token} if token else {})}).json()
        pages.append(body["bars"])
        token = body["next_page_token"]
        if token is None:
            break
    assert [sum(len(v) for v in p.values()) for p in pages] == [7, 7, 6]
    assert list(pages[0]) == ["QQQ"] and list(pages[1]) == ["QQQ", "SPY"] and list(pages[2]) == ["SPY"]
    whole = r("GET", "/v2/stocks/bars", params={**params, "limit": 1000}).json()["bars"]
    assert set(whole) == {"QQQ", "SPY"}  # symbols without bars are absent
    for sym in ("QQQ", "SPY"):
        assert [b for p in pages for b in p.get(sym, [])] == whole[sym]


def test_history_grows_with_the_replay_and_latest_endpoints(emulator, rest) -> None:
    r = rest(emulator)
    params = {"symbols": "SPY", "timeframe": "1Min", "start": "2024-01-02"}
    assert len(r("GET", "/v2/stocks/bars", params=params).json()["bars"]["SPY"]) == 1
    emulator.step(3)
    bars = r("GET", "/v2/stocks/bars", params=params).json()["bars"]["SPY"]
    assert len(bars) == 4 and bars[-1]["c"] == emulator.price("SPY")
    latest = r("GET", "/v2/stocks/bars/latest", params={"symbols": "SPY"}).json()["bars"]["SPY"]
    assert latest == bars[-1]
    c = _client(emulator)
    trade = c.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="SPY"))["SPY"]
    quote = c.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="SPY"))["SPY"]
    assert trade.price == emulator.price("SPY") and quote.bid_price < trade.price < quote.ask_price
    hourly = c.get_stock_bars(StockBarsRequest(symbol_or_symbols="SPY", timeframe=TimeFrame(1, TimeFrameUnit.Hour),
                                               start=datetime(2024, 1, 2, tzinfo=UTC)))
    [h] = hourly.data["SPY"]
    assert h.open == bars[0]["o"] and h.close == bars[-1]["c"] and h.volume == sum(b["v"] for b in bars)
