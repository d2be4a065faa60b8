"""Historical market data REST: bars (multi and single symbol, paginated), latest bar/trade/quote.

Only bars that are complete on the replay clock are served. Coarser timeframes are aggregated from
the replayed bars: minutes and hours on UTC boundaries, days/weeks/months on New York dates stamped
at New York midnight. Error bodies are message-only, as on data.alpaca.markets.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from aiohttp import web

from admf.core import calendar
from admf.core.timeframe import parse_wire_timeframe
from admf.core.units import NY_TZ_NAME
from admf.emulator.market import Series
from admf.emulator.rest import json_response
from admf.emulator.wire import DAY_NS, MINUTE_NS, NS, WireError, iso_ns, parse_time

if TYPE_CHECKING:
    from admf.emulator.server import EmulatorServer



_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def bad(message: str, status: int = 400) -> WireError:
    return WireError(status, None, message)


def parse_timeframe(text: str | None) -> tuple[int, str]:
    if not text:
        raise bad("timeframe is required")
    parsed = parse_wire_timeframe(text)
    if parsed is None:
        raise bad(f"invalid timeframe: {text}")
    return parsed


def _bucket_keys(t: np.ndarray, n: int, unit: str) -> np.ndarray:
    if unit in ("Min", "Hour"):
        size = n * MINUTE_NS * (60 if unit == "Hour" else 1)
        return (t // size) * size
    import pandas as pd

    mid = calendar.session_day_start(t)
    if unit == "Day":
        return mid
    local = pd.DatetimeIndex(mid.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(NY_TZ_NAME)
    if unit == "Week":
        start = local - pd.to_timedelta(local.day_of_week, unit="D")
    else:
        month0 = (local.month - 1) // n * n + 1
        start = pd.DatetimeIndex([pd.Timestamp(year=y, month=m, day=1, tz=NY_TZ_NAME)
                                  for y, m in zip(local.year, month0, strict=True)])
    return start.tz_convert("UTC").as_unit("ns").asi8.astype(np.int64)


class Aggregated:
    """Bars of one symbol at one timeframe over the whole series; `upto` cuts at the replay cursor."""

    def __init__(self, s: Series, n: int, unit: str, base_tf: int) -> None:
        self.s = s
        if unit == "Min" and n * MINUTE_NS == base_tf:
            self.keys = s.t
            self.starts = np.arange(len(s.t), dtype=np.int64)
        else:
            keys = _bucket_keys(s.t, n, unit)
            self.starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]).astype(np.int64)
            self.keys = keys[self.starts] if len(keys) else keys
        self.ends = np.r_[self.starts[1:], len(s.t)].astype(np.int64)

    def rows(self, lo: int, hi: int, ptr: int) -> list[dict[str, Any]]:
        """Buckets lo..hi-1, built from base bars before ptr only."""
        s = self.s
        out = []
        simple = bool(np.all(self.ends[lo:hi] - self.starts[lo:hi] == 1)) if hi > lo else True
        if simple:
            idx = self.starts[lo:hi]
            t = self.keys[lo:hi].tolist()
            o, h, l, c = s.o[idx].tolist(), s.h[idx].tolist(), s.l[idx].tolist(), s.c[idx].tolist()
            v, n, vw = s.v[idx].tolist(), s.n[idx].tolist(), s.vw[idx].tolist()
            for k in range(len(t)):
                out.append({"c": c[k], "h": h[k], "l": l[k], "n": n[k], "o": o[k], "t": iso_ns(t[k]),
                            "v": v[k], "vw": vw[k]})
            return out
        for b in range(lo, hi):
            a, e = int(self.starts[b]), min(int(self.ends[b]), ptr)
            v = s.v[a:e]
            vol = int(v.sum())
            vw = float(np.round((s.vw[a:e] * v).sum() / vol, 4)) if vol else float(s.c[e - 1])
            out.append({"c": float(s.c[e - 1]), "h": float(s.h[a:e].max()), "l": float(s.l[a:e].min()),
                        "n": int(s.n[a:e].sum()), "o": float(s.o[a]), "t": iso_ns(int(self.keys[b])),
                        "v": vol, "vw": vw})
        return out

    def window(self, start: int, end: int, ptr: int) -> tuple[int, int]:
        """Bucket index range with key in [start, end] whose first base bar is already played."""
        played = int(np.searchsorted(self.starts, ptr, side="left"))
        lo = int(np.searchsorted(self.keys, start, side="left"))
        hi = int(np.searchsorted(self.keys, end, side="right"))
        return lo, min(hi, played)


class HistoryApi:
    def __init__(self, server: EmulatorServer) -> None:
        self.srv = server
        self.market = server.market

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v2/stocks/bars", self.bars),
            web.get("/v2/stocks/bars/latest", self.latest_bars),
            web.get("/v2/stocks/trades/latest", self.latest_trades),
            web.get("/v2/stocks/quotes/latest", self.latest_quotes),
            web.get("/v2/stocks/snapshots", self.snapshots),
            web.get("/v2/stocks/{symbol}/bars", self.bars_one),
            web.get("/v2/stocks/{symbol}/bars/latest", self.latest_bar_one),
            web.get("/v2/stocks/{symbol}/trades/latest", self.latest_trade_one),
            web.get("/v2/stocks/{symbol}/quotes/latest", self.latest_quote_one),
            web.get("/v2/stocks/{symbol}/snapshot", self.snapshot_one),
        ]

    def _agg(self, s: Series, n: int, unit: str) -> Aggregated:
        key = (n, unit)
        a = s.agg_cache.get(key)
        if a is None:
            a = s.agg_cache[key] = Aggregated(s, n, unit, self.market.tf_ns)
        return a

    def _symbols(self, text: str | None) -> list[str]:
        if not text:
            raise bad("symbols is required")
        return sorted({s.strip().upper() for s in text.split(",") if s.strip()})

    def _query(self, request: web.Request) -> dict[str, Any]:
        q = request.query
        n, unit = parse_timeframe(q.get("timeframe"))
        if unit in ("Min", "Hour") and n * MINUTE_NS * (60 if unit == "Hour" else 1) < self.market.tf_ns:
            raise bad(f"invalid timeframe: {q.get('timeframe')} is finer than the emulator's bars", 422)
        now = self.srv.clock.now()
        try:
            start = parse_time(q["start"], "start") if q.get("start") else (now // (86400 * NS)) * 86400 * NS
            end = parse_time(q["end"], "end") if q.get("end") else now
            if q.get("end") and _DATE_ONLY.match(q["end"].strip()):
                end += DAY_NS - 1  # a date-only end is that whole (UTC) day
        except WireError as e:
            raise bad(e.message) from None
        try:
            limit = int(q.get("limit") or 1000)
        except ValueError:
            raise bad("invalid limit") from None
        if not 1 <= limit <= 10000:
            raise bad("invalid limit: must be between 1 and 10000")
        sort = q.get("sort") or "asc"
        if sort not in ("asc", "desc"):
            raise bad(f"invalid sort: {sort}")
        feed = q.get("feed")
        if feed == "sip" and not self.srv.cfg.sip_allowed and end > now - 15 * 60 * NS:
            raise bad("subscription does not permit querying recent SIP data", 403)
        token = None
        if q.get("page_token"):
            try:
                sym, t = base64.b64decode(q["page_token"]).decode().split("|")
                token = (sym, int(t))
            except Exception:
                raise bad("invalid page_token") from None
        return {"n": n, "unit": unit, "start": start, "end": end, "limit": limit, "desc": sort == "desc",
                "token": token}

    def _page(self, symbols: list[str], p: dict[str, Any]) -> tuple[dict[str, list], str | None]:
        out: dict[str, list] = {}
        left = p["limit"]
        token = p["token"]
        for sym in symbols:
            if token is not None and sym < token[0]:
                continue
            s = self.market.series.get(sym)
            if s is None:
                continue
            agg = self._agg(s, p["n"], p["unit"])
            lo, hi = agg.window(p["start"], p["end"], s.ptr)
            if token is not None and sym == token[0]:
                if p["desc"]:
                    hi = min(hi, int(np.searchsorted(agg.keys, token[1], side="right")))
                else:
                    lo = max(lo, int(np.searchsorted(agg.keys, token[1], side="left")))
            if hi <= lo:
                continue
            if left <= 0:
                nxt = int(agg.keys[hi - 1] if p["desc"] else agg.keys[lo])
                return out, base64.b64encode(f"{sym}|{nxt}".encode()).decode()
            if p["desc"]:
                take_lo = max(lo, hi - left)
                rows = agg.rows(take_lo, hi, s.ptr)[::-1]
                more = take_lo > lo
                nxt_key = int(agg.keys[take_lo - 1]) if more else None
            else:
                take_hi = min(hi, lo + left)
                rows = agg.rows(lo, take_hi, s.ptr)
                more = take_hi < hi
                nxt_key = int(agg.keys[take_hi]) if more else None
            out[sym] = rows
            left -= len(rows)
            if more:
                return out, base64.b64encode(f"{sym}|{nxt_key}".encode()).decode()
        return out, None

    async def bars(self, request: web.Request) -> web.Response:
        symbols = self._symbols(request.query.get("symbols"))
        page, token = self._page(symbols, self._query(request))
        return json_response({"bars": page, "next_page_token": token, "currency": "USD"})

    async def bars_one(self, request: web.Request) -> web.Response:
        sym = request.match_info["symbol"].upper()
        page, token = self._page([sym], self._query(request))
        return json_response({"bars": page.get(sym, []), "symbol": sym, "next_page_token": token,
                              "currency": "USD"})

    def _latest(self, sym: str) -> tuple[Series, int] | None:
        s = self.market.series.get(sym)
        if s is None or s.ptr == 0:
            return None
        return s, s.ptr - 1

    def _bar(self, s: Series, i: int) -> dict[str, Any]:
        return {"c": float(s.c[i]), "h": float(s.h[i]), "l": float(s.l[i]), "n": int(s.n[i]), "o": float(s.o[i]),
                "t": iso_ns(int(s.t[i])), "v": int(s.v[i]), "vw": float(s.vw[i])}

    async def latest_bars(self, request: web.Request) -> web.Response:
        return json_response({"bars": self._each(request, self._bar)})

    async def latest_bar_one(self, request: web.Request) -> web.Response:
        sym = request.match_info["symbol"].upper()
        got = self._latest(sym)
        if not got:
            raise bad(f"no bar found for {sym}", 404)
        return json_response({"bar": self._bar(*got), "symbol": sym})

    def _trade(self, s: Series, i: int) -> dict[str, Any]:
        v, n = int(s.v[i]), max(int(s.n[i]), 1)
        return {"c": ["@"], "i": i + 1, "p": float(s.c[i]), "s": max(1, v // n),
                "t": iso_ns(int(s.t[i]) + self.market.tf_ns - 1_000_000), "x": "V",
                "z": "B" if s.symbol == "SPY" else "C"}

    def _quote(self, s: Series, i: int) -> dict[str, Any]:
        half = self.srv.cfg.spread / 2
        c = float(s.c[i])
        size = 1 + int(s.v[i]) % 9
        return {"ap": round(c + half, 4), "as": size + 1, "ax": "V", "bp": round(c - half, 4), "bs": size,
                "bx": "V", "c": ["R"], "t": iso_ns(int(s.t[i]) + self.market.tf_ns - 2_000_000),
                "z": "B" if s.symbol == "SPY" else "C"}

    def _snapshot(self, s: Series, i: int) -> dict[str, Any]:
        """Latest trade and quote, the latest bar, today's daily bar so far and the previous one."""
        day = self._agg(s, 1, "Day")
        lo, hi = day.window(0, int(s.t[i]), s.ptr)
        daily = day.rows(max(lo, hi - 2), hi, s.ptr)
        return {"latestTrade": self._trade(s, i), "latestQuote": self._quote(s, i), "minuteBar": self._bar(s, i),
                "dailyBar": daily[-1] if daily else None, "prevDailyBar": daily[-2] if len(daily) > 1 else None}

    def _one(self, request: web.Request, what: str) -> tuple[str, Series, int]:
        sym = request.match_info["symbol"].upper()
        got = self._latest(sym)
        if not got:
            raise bad(f"no {what} found for {sym}", 404)
        return sym, got[0], got[1]

    def _each(self, request: web.Request, make: Callable[[Series, int], dict[str, Any]]) -> dict[str, Any]:
        """`make` for the latest bar of every requested symbol that has one (the others are absent)."""
        out = {}
        for sym in self._symbols(request.query.get("symbols")):
            got = self._latest(sym)
            if got:
                out[sym] = make(*got)
        return out

    async def latest_trades(self, request: web.Request) -> web.Response:
        return json_response({"trades": self._each(request, self._trade)})

    async def latest_quotes(self, request: web.Request) -> web.Response:
        return json_response({"quotes": self._each(request, self._quote)})

    async def latest_trade_one(self, request: web.Request) -> web.Response:
        sym, s, i = self._one(request, "trade")
        return json_response({"symbol": sym, "trade": self._trade(s, i)})

    async def latest_quote_one(self, request: web.Request) -> web.Response:
        sym, s, i = self._one(request, "quote")
        return json_response({"symbol": sym, "quote": self._quote(s, i)})

    async def snapshots(self, request: web.Request) -> web.Response:
        return json_response(self._each(request, self._snapshot))

    async def snapshot_one(self, request: web.Request) -> web.Response:
        sym, s, i = self._one(request, "snapshot")
        return json_response({"symbol": sym, **self._snapshot(s, i)})
