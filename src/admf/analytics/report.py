"""A run's report: one self-contained HTML file (plotly.js inline once, packed; works offline).

Charts (div ids): admf-price-<SYMBOL> (candles, trades, indicators; one per symbol),
admf-equity (equity against buy-and-hold, drawdown), admf-monthly (monthly returns heatmap),
admf-returns (distribution of trade returns), admf-rolling-sharpe, admf-books (equity per
book, when there are several), then a sortable, paged table of every trade (plain JS, New
York times). plotly.js (the installed plotly package's bundle), each figure's JSON and the
trades are packed (deflate + base85, see `packing`) and unpacked by the browser; a reader gets
them back with `packing.read_packed(page, "<div id>-json")`.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from admf.analytics import charts
from admf.analytics.annualization import utc_index
from admf.analytics.metrics import METRIC_KEYS, metrics_to_json
from admf.analytics.packing import UNPACK_JS, figure_json, pack, packed_plotly, packed_script
from admf.analytics.tables import LABELS, format_metric, format_metrics_table, rank_table

__all__ = ["write_html_report", "report_figures", "format_metrics_table", "rank_table", "MAX_PLOT_POINTS"]

MAX_PLOT_POINTS = charts.MAX_POINTS

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1280px;color:#222;
padding:0 16px}
h1{font-size:1.4em;margin-bottom:4px} h2{font-size:1.1em;margin-top:28px}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap} th{background:#f4f4f4}
td.k,td.t{text-align:left} .note{color:#777;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:12px} .grid>div{min-width:0}
#admf-trades th{cursor:pointer;user-select:none} #admf-trades th.asc:after{content:" \\25B2"}
#admf-trades th.desc:after{content:" \\25BC"} .pos{color:#1e7b45} .neg{color:#b8323f}
.pager{margin:8px 0;font-size:13px} .pager button{margin:0 4px}
.metrics{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
"""

# Trades table: columns [key, label, kind]; kinds: t text, n number, d dollars, p percent (from a fraction).
TRADE_TABLE = [
    ("strategy_id", "book", "t"), ("symbol", "symbol", "t"), ("side", "side", "t"), ("qty", "qty", "n"),
    ("entry_time", "entry (New York)", "t"), ("exit_time", "exit (New York)", "t"),
    ("entry_price", "entry price", "d"), ("exit_price", "exit price", "d"), ("gross_pnl", "gross P&L", "d"),
    ("costs", "costs", "d"), ("pnl", "net P&L", "d"), ("return", "return", "p"), ("bars_held", "bars", "n"),
    ("exit_reason", "exit reason", "t"),
]

_TABLE_JS = """
admf.json('admf-trades-data').then(function(D){
var cols=D.columns,rows=D.rows,el=document.getElementById('admf-trades'),page=0,per=50,key=-1,dir=1;
var usd=new Intl.NumberFormat('en-US',{style:'currency',currency:'USD'});
var num=new Intl.NumberFormat('en-US',{maximumFractionDigits:4});
function fmt(v,k){if(v===null)return '';if(k==='d')return usd.format(v);
 if(k==='p')return (v*100).toFixed(3)+'%';if(k==='n')return num.format(v);return String(v);}
function cls(v,c){return (c.kind==='d'||c.kind==='p')&&v!==null&&(c.key==='pnl'||c.key==='gross_pnl'||
 c.key==='return')?(v>0?'pos':(v<0?'neg':'')):'';}
function render(){
 var n=rows.length,pages=Math.max(1,Math.ceil(n/per));page=Math.min(page,pages-1);
 var h='<table><thead><tr><th data-i="-1">#</th>';
 cols.forEach(function(c,i){h+='<th data-i="'+i+'" class="'+(i===key?(dir>0?'asc':'desc'):'')+'">'+c.label+'</th>';});
 h+='</tr></thead><tbody>';
 rows.slice(page*per,page*per+per).forEach(function(r){h+='<tr><td>'+(r[r.length-1]+1)+'</td>';
  cols.forEach(function(c,i){var v=r[i];h+='<td class="'+(c.kind==='t'?'t ':'')+cls(v,c)+'">'+
   String(fmt(v,c.kind)).replace(/&/g,'&amp;').replace(/</g,'&lt;')+'</td>';});h+='</tr>';});
 h+='</tbody></table><div class="pager"><button data-p="-1">&lsaquo; prev</button>page '+(page+1)+' of '+pages+
  ' ('+n.toLocaleString('en-US')+' trades)<button data-p="1">next &rsaquo;</button></div>';
 el.innerHTML=h;
}
el.addEventListener('click',function(e){var t=e.target;
 if(t.dataset.p){page=Math.max(0,page+parseInt(t.dataset.p,10));render();return;}
 if(t.dataset.i!==undefined){var i=parseInt(t.dataset.i,10);if(i===key){dir=-dir;}else{key=i;dir=1;}
  var j=i<0?cols.length:i;rows.sort(function(a,b){var x=a[j],y=b[j];if(x===y)return 0;if(x===null)return 1;
   if(y===null)return -1;return (x<y?-1:1)*dir;});page=0;render();}});
render();
}).catch(function(e){document.getElementById('admf-trades').textContent='The trades could not be shown: '+e;});
"""


def report_figures(
    *,
    equity: pd.Series,
    trades: pd.DataFrame | None,
    initial_capital: float | None = None,
    periods_per_year: float | None = None,
    prices: Mapping[str, pd.DataFrame] | None = None,
    indicators: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    books: Mapping[str, pd.Series] | None = None,
    benchmark: pd.Series | None = None,
    max_points: int = MAX_PLOT_POINTS,
) -> dict[str, Any]:
    """Every chart of the report, by div id, as plotly figures (what `result.plot()` shows)."""
    trades = trades if trades is not None else pd.DataFrame()
    initial = initial_capital if initial_capital and initial_capital > 0 else (
        float(equity.iloc[0]) if len(equity) else 1.0)
    figs: dict[str, Any] = {}
    for sym, bars in (prices or {}).items():
        mine = trades[trades["symbol"] == sym] if len(trades) and "symbol" in trades else None
        figs[f"admf-price-{sym}"] = charts.price_figure(sym, bars, mine, (indicators or {}).get(sym))
    if benchmark is None and prices:
        benchmark = charts.buy_and_hold({s: b["close"] for s, b in prices.items()}, equity.index, initial)
    figs["admf-equity"] = charts.equity_figure(equity, initial, benchmark, max_points=max_points)
    figs["admf-monthly"] = charts.monthly_figure(equity, initial)
    if len(trades) and "return" in trades:
        figs["admf-returns"] = charts.trade_returns_figure(trades)
    figs["admf-rolling-sharpe"] = charts.rolling_sharpe_figure(equity, initial, periods_per_year,
                                                               max_points=max_points)
    if books and len(books) > 1:
        figs["admf-books"] = charts.books_figure(books, max_points=max_points)
    return figs


def _metrics_html(metrics: Mapping[str, Any]) -> str:
    keys = [k for k in METRIC_KEYS if k in metrics] + [k for k in metrics if k not in METRIC_KEYS]
    rows = "".join(
        f'<tr><td class="k">{html.escape(LABELS.get(k, k))}</td>'
        f"<td>{html.escape(format_metric(k, metrics[k]))}</td></tr>"
        for k in keys
    )
    return f"<table><tr><th>Metric</th><th>Value</th></tr>{rows}</table>"


def _books_html(books: Mapping[str, Mapping[str, Any]]) -> str:
    keys = ("total_return", "sharpe", "max_drawdown", "trade_count", "win_rate", "final_equity")
    head = "".join(f"<th>{html.escape(LABELS.get(k, k))}</th>" for k in keys)
    rows = "".join(
        f'<tr><td class="k">{html.escape(b)}</td>'
        + "".join(f"<td>{html.escape(format_metric(k, m.get(k)))}</td>" for k in keys) + "</tr>"
        for b, m in books.items())
    return f"<table><tr><th>book</th>{head}</tr>{rows}</table>"


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def trades_payload(trades: pd.DataFrame) -> dict[str, Any]:
    """Every trade as rows of plain values (times as New York wall-clock text, sortable as text)."""
    cols = [(k, label, kind) for k, label, kind in TRADE_TABLE if k in trades.columns]
    data = []
    for k, _, _ in cols:
        s = trades[k]
        if k.endswith("_time"):
            data.append(charts.ny_times(s).strftime("%Y-%m-%d %H:%M:%S").tolist())
        else:
            data.append([_cell(v) for v in s.tolist()])
    rows = [[*r, i] for i, r in enumerate(zip(*data, strict=True))] if data else []
    return {"columns": [{"key": k, "label": label, "kind": kind} for k, label, kind in cols], "rows": rows}


def write_html_report(
    path: str | Path,
    *,
    name: str,
    metrics: Mapping[str, Any],
    equity: pd.Series,
    trades: pd.DataFrame | None,
    benchmark: pd.Series | None = None,
    prices: Mapping[str, pd.DataFrame] | None = None,
    indicators: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    books: Mapping[str, pd.Series] | None = None,
    book_metrics: Mapping[str, Mapping[str, Any]] | None = None,
    max_points: int = MAX_PLOT_POINTS,
) -> Path:
    """Write the report to `path` (parents created) and return it.

    `prices` (OHLC per symbol, UTC index) adds the price charts and, unless `benchmark` is
    given, a buy-and-hold benchmark of those symbols; `indicators` maps symbol -> line name
    -> values as long as that symbol's bars; `books` (equity per book) adds per-book equity.
    The metrics are embedded as JSON in <script id="admf-metrics" type="application/json">,
    each figure packed in <script id="<div id>-json">, every trade packed in <script
    id="admf-trades-data"> (`packing.read_packed` reads them back).
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    trades = trades if trades is not None else pd.DataFrame()
    utc_index(equity.index)  # a clear error for an equity curve without timestamps
    initial = metrics.get("initial_capital")
    ppy = metrics.get("periods_per_year")
    figs = report_figures(
        equity=equity, trades=trades, initial_capital=initial if isinstance(initial, int | float) else None,
        periods_per_year=float(ppy) if isinstance(ppy, int | float) else None, prices=prices,
        indicators=indicators, books=books, benchmark=benchmark, max_points=max_points)

    parts = [
        '<!DOCTYPE html><html><head><meta charset="utf-8">',
        f"<title>{html.escape(name)}</title><style>{_CSS}</style>",
        f"<script>{UNPACK_JS}</script></head><body>",
        f"<h1>{html.escape(name)}</h1>",
    ]
    start, end = metrics.get("start"), metrics.get("end")
    if start and end:
        parts.append(f'<p class="note">{html.escape(str(start))} to {html.escape(str(end))} (UTC); '
                     "charts and the trade table in New York time</p>")
    side = _books_html(book_metrics) if book_metrics and len(book_metrics) > 1 else ""
    parts.append(f'<h2>Metrics</h2><div class="metrics">{_metrics_html(metrics)}{side}</div>')
    layout = [
        ("Price and trades", [k for k in figs if k.startswith("admf-price-")], False),
        ("Equity against buy-and-hold, and drawdown", ["admf-equity"], False),
        ("Equity per book", ["admf-books"], False),
        ("Returns", ["admf-monthly", "admf-returns"], True),
        ("Risk", ["admf-rolling-sharpe"], False),
    ]
    for title, ids, grid in layout:
        ids = [i for i in ids if i in figs]
        if not ids:
            continue
        parts.append(f"<h2>{html.escape(title)}</h2>" + ('<div class="grid">' if grid else ""))
        for div_id in ids:
            parts.append(figure_html(figs[div_id], div_id))
        parts.append("</div>" if grid else "")
    parts.append("<h2>Trades</h2>")
    if trades.empty:
        parts.append('<p class="note">No closed trades.</p>')
    else:
        parts.append('<p class="note">Every closed trade; click a column to sort. Returns are net of costs.</p>')
        table = json.dumps(trades_payload(trades), separators=(",", ":"), allow_nan=False, default=str)
        parts.append('<div id="admf-trades"></div>' + packed_script("admf-trades-data", pack(table.encode())))
        parts.append(f"<script>{_TABLE_JS}</script>")
    # plotly.js last: the metrics and the table show while the browser unpacks it
    parts.append(plotly_scripts())
    payload = metrics_to_json(dict(metrics), indent=None).replace("</", "<\\/")
    parts.append(f'<script id="admf-metrics" type="application/json">{payload}</script>')
    parts.append("</body></html>")
    out.write_text("".join(parts), encoding="utf-8")
    return out


def figure_html(fig: Any, div_id: str) -> str:
    """A div, and the figure's JSON packed in <div id>-json (the draw script reads it).

    A page of such divs needs `UNPACK_JS` in its head and `plotly_scripts()` at the end of its body.
    """
    return f'<div id="{div_id}" class="admf-chart"></div>' + packed_script(f"{div_id}-json", pack(figure_json(fig)))


def plotly_scripts() -> str:
    """plotly.js, packed, and the script that draws every `figure_html` div once it is unpacked."""
    return packed_script("admf-plotly", packed_plotly()) + f"<script>{_DRAW_JS}</script>"


# drawn once the page is laid out (this script is last), so each chart takes the width of its
# place (a grid cell too); a browser that cannot unpack says so in each chart's place
_DRAW_JS = """
(function(){
var divs=Array.prototype.slice.call(document.querySelectorAll('.admf-chart'));
Promise.all([admf.plotly()].concat(divs.map(function(d){return admf.json(d.id+'-json');}))).then(function(a){
 divs.forEach(function(d,i){var f=a[i+1];a[0].newPlot(d,f.data,f.layout,{responsive:true,displaylogo:false});});
}).catch(function(e){divs.forEach(function(d){d.textContent='The charts could not be drawn: '+e;});});
})();
"""
