"""The report of a real run: its size, every chart (read back from the figures' JSON), and a real browser."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from admf.analytics import charts
from admf.analytics.packing import PACKED_TYPE, UNPACK_JS, pack, packed_script, read_packed
from admf.config.loader import load_config
from admf.runtime.backtest import backtest

REPO = Path(__file__).resolve().parents[2]
README_CONFIG = REPO / "config" / "bollinger" / "test.yaml"


def figures(text: str) -> dict[str, dict]:
    ids = re.findall(rf'<script id="(admf-[\w-]+)-json" type="{PACKED_TYPE}">', text)
    return {i: json.loads(read_packed(text, f"{i}-json")) for i in ids}


def trace_names(fig: dict) -> list[str]:
    return [t.get("name", "") for t in fig["data"]]


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory) -> tuple[object, Path]:
    out = tmp_path_factory.mktemp("runs")
    r = backtest(load_config(README_CONFIG, env={}), out=out)
    return r, r.run_dir / "report.html"


def test_readme_report_is_small_and_has_one_bundle(readme_run) -> None:
    _, report = readme_run
    text = report.read_text(encoding="utf-8")
    assert report.stat().st_size <= 2_000_000
    # the installed plotly package's full bundle, packed once and nowhere in plain text
    assert text.count('<script id="admf-plotly"') == 1
    assert read_packed(text, "admf-plotly") == get_plotlyjs().encode("utf-8")
    assert "plotly.js v" not in text and "<script src=" not in text


def test_readme_report_has_every_chart(readme_run) -> None:
    r, report = readme_run
    figs = figures(report.read_text(encoding="utf-8"))
    assert set(figs) == {"admf-price-SPY", "admf-equity", "admf-monthly", "admf-returns", "admf-rolling-sharpe"}
    price = figs["admf-price-SPY"]
    types = [t["type"] for t in price["data"]]
    assert types.count("candlestick") == 1
    candles = price["data"][types.index("candlestick")]
    assert len(candles["x"]) == len(candles["open"]) == len(candles["close"]) > 100
    names = trace_names(price)
    for line in ("bollinger(20, 2) upper", "bollinger(20, 2) middle", "bollinger(20, 2) lower",
                 "long entry", "short entry", "exit"):
        assert line in names, line
    assert price["layout"]["xaxis"]["type"] == "date"
    eq = figs["admf-equity"]
    assert trace_names(eq) == ["strategy", "buy and hold SPY", "drawdown"]
    assert figs["admf-monthly"]["data"][0]["type"] == "heatmap"
    assert [t["type"] for t in figs["admf-returns"]["data"]] == ["bar"]
    assert "Rolling Sharpe" in figs["admf-rolling-sharpe"]["layout"]["title"]["text"]
    # every trade is in the table, not the first 200
    table = json.loads(read_packed(report.read_text(encoding="utf-8"), "admf-trades-data"))
    assert len(table["rows"]) == len(r.trades) == r.metrics["trade_count"] > 200
    first = r.trades.iloc[0]
    col = [c["key"] for c in table["columns"]]
    row = table["rows"][0]
    assert row[col.index("entry_time")] == first["entry_time"].tz_convert("America/New_York").strftime(
        "%Y-%m-%d %H:%M:%S")
    assert row[col.index("pnl")] == pytest.approx(first["pnl"])


def test_buy_and_hold_and_monthly_returns_by_hand() -> None:
    idx = pd.DatetimeIndex(["2024-01-31 15:00", "2024-02-01 15:00", "2024-02-29 15:00", "2024-03-01 15:00"],
                           tz="UTC")
    a = pd.Series([10.0, 11.0, 12.0, 9.0], index=idx)
    b = pd.Series([20.0, 20.0], index=idx[[1, 3]])  # starts a bar later: its half is cash until then
    bh = charts.buy_and_hold({"A": a, "B": b}, idx, 1000.0)
    np.testing.assert_allclose(bh.to_numpy(), [500 + 500, 550 + 500, 600 + 500, 450 + 500])
    eq = pd.Series([100.0, 110.0, 121.0, 108.9], index=idx)
    m = charts.monthly_returns(eq, 100.0)
    assert m.loc[2024, 1] == pytest.approx(0.0)
    assert m.loc[2024, 2] == pytest.approx(21.0)  # 121 / 100 - 1
    assert m.loc[2024, 3] == pytest.approx(-10.0)
    assert np.isnan(m.loc[2024, 4])


def test_candles_merge_whole_timeframes() -> None:
    idx = pd.date_range("2024-01-02 14:30", periods=78, freq="5min", tz="UTC")  # one New York session
    rng = np.random.default_rng(3)
    close = 100 + rng.normal(0, 1, 78).cumsum()
    bars = pd.DataFrame({"open": close - 0.1, "high": close + 1, "low": close - 1, "close": close}, index=idx)
    c, last, span = charts.candles(bars, max_candles=10)
    assert span == "1 h" and len(c) == 7  # 09:30, 10:30, ..., 15:30
    assert c["open"].iloc[0] == bars["open"].iloc[0] and c["close"].iloc[0] == bars["close"].iloc[11]
    assert c["high"].iloc[1] == bars["high"].iloc[12:24].max() and last[-1] == 77
    same, _, span2 = charts.candles(bars, max_candles=100)
    assert span2 == "" and len(same) == 78


def test_several_books_get_the_per_book_chart(tmp_path) -> None:
    raw = {"name": "two", "data_dir": str(REPO / "data"), "data": "SPY_5m", "end": "2024-02-15",
           "strategy": [{"bollinger_bands": {"period": 20}}, {"sma_crossover": {"fast": 5, "slow": 20}}]}
    r = backtest(raw, out=tmp_path)
    figs = figures((r.run_dir / "report.html").read_text(encoding="utf-8"))
    assert trace_names(figs["admf-books"]) == ["bollinger_bands", "sma_crossover"]
    assert {"sma(5)", "sma(20)", "bollinger(20, 2) upper"} <= set(trace_names(figs["admf-price-SPY"]))


@contextmanager
def chromium_page() -> Iterator[Any]:
    """A page of the system chromium through Playwright; a skip when either is missing or cannot start."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.skip("no chromium installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        except Exception as exc:  # a browser that cannot start here is a skip, not a failure
            pytest.skip(f"chromium does not start: {exc}")
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def test_report_renders_in_a_real_browser(readme_run) -> None:
    _, report = readme_run
    with chromium_page() as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(report.as_uri())
        page.wait_for_function("document.querySelectorAll('.admf-chart .main-svg').length >= 5")
        drawn = page.evaluate("""() => Array.from(document.querySelectorAll('.admf-chart')).map(
            d => [d.id, d.querySelectorAll('.main-svg').length, (d._fullData || []).length])""")
        assert errors == []
        assert {d[0] for d in drawn} == {"admf-price-SPY", "admf-equity", "admf-monthly", "admf-returns",
                                        "admf-rolling-sharpe"}
        assert all(svgs > 0 and traces > 0 for _, svgs, traces in drawn), drawn
        boxes = page.evaluate("document.querySelectorAll('#admf-price-SPY g.trace.boxes path').length")
        assert boxes > 100  # candles drawn
        # the trade table (unpacked on its own): 50 rows a page, sorted by net P&L on a click, then paged
        page.wait_for_selector("#admf-trades tbody tr")
        assert page.locator("#admf-trades tbody tr").count() == 50
        page.locator("#admf-trades th", has_text="net P&L").click()
        cells = page.locator("#admf-trades tbody tr td:nth-child(12)").all_inner_texts()
        values = [float(c.replace("$", "").replace(",", "")) for c in cells]
        assert values == sorted(values) and cells[0].startswith("-$")
        page.locator("#admf-trades button", has_text="next").click()
        assert "page 2 of" in page.locator("#admf-trades .pager").inner_text()


def test_the_browser_unpacks_every_length(tmp_path) -> None:
    """The JS base85 decoder and inflate give back exactly what Python packed (every tail length)."""
    texts = ["", "a", "ab", "abc", "abcd", "abcde", "</script> \u00e9\u20ac", "x" * 1000 + "y"]
    page_html = "<!DOCTYPE html><html><head><meta charset='utf-8'><script>" + UNPACK_JS + "</script></head><body>"
    page_html += "".join(packed_script(f"p{i}", pack(t.encode())) for i, t in enumerate(texts)) + "</body></html>"
    (tmp_path / "p.html").write_text(page_html, encoding="utf-8")
    with chromium_page() as page:
        page.goto((tmp_path / "p.html").as_uri())
        got = page.evaluate(f"Promise.all({list(range(len(texts)))}.map(i => admf.unpack('p' + i)))")
    assert got == texts
