"""The intraday constraint: the exchange calendar's regular session, across both 2024 DST changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from admf.risk.slot import IN, LAST, OFF
from admf.runtime.session import session_codes

MIN = 60_000_000_000
NY = "America/New_York"


def utc(s: str) -> int:
    return int(pd.Timestamp(s, tz="UTC").value)


def codes_of(times: list[str], minutes: int = 5, sym: list[int] | None = None) -> tuple[list[int], list[int]]:
    ts = np.array([utc(t) for t in times], dtype=np.int64)
    c, d = session_codes(ts, None if sym is None else np.array(sym), minutes * MIN)
    return c.tolist(), d.tolist()


# session_codes --------------------------------------------------------------------------------------

def test_march_dst_change_moves_the_session_by_an_hour_in_utc() -> None:
    # 2024-03-10: clocks go forward. Friday 03-08 is EST (UTC-5), Monday 03-11 EDT (UTC-4).
    times = [
        "2024-03-08 14:25", "2024-03-08 14:30", "2024-03-08 20:50", "2024-03-08 20:55", "2024-03-08 21:00",
        "2024-03-09 15:00", "2024-03-10 15:00",  # weekend
        "2024-03-11 13:25", "2024-03-11 13:30", "2024-03-11 14:25", "2024-03-11 19:55", "2024-03-11 20:00",
        "2024-03-11 20:55",
    ]
    codes, day = codes_of(times)
    assert codes == [OFF, IN, IN, LAST, OFF,
                     OFF, OFF,
                     OFF, IN, IN, LAST, OFF,
                     OFF]
    # one New York day number per calendar day; Friday to Monday is 3 days
    assert day[0] == day[4] and day[7] == day[12] and day[7] - day[0] == 3


def test_november_dst_change() -> None:
    # 2024-11-03: clocks go back. Friday 11-01 is EDT (UTC-4), Monday 11-04 EST (UTC-5).
    times = [
        "2024-11-01 13:25", "2024-11-01 13:30", "2024-11-01 19:55", "2024-11-01 20:00",
        "2024-11-04 13:30", "2024-11-04 14:25", "2024-11-04 14:30", "2024-11-04 19:55", "2024-11-04 20:00",
        "2024-11-04 20:55", "2024-11-04 21:00",
    ]
    codes, _ = codes_of(times)
    assert codes == [OFF, IN, LAST, OFF,
                     OFF, OFF, IN, IN, IN, LAST, OFF]


def test_ny_day_is_the_local_date_not_the_utc_date() -> None:
    # 02:00 UTC Saturday is 21:00 Friday in New York (EST)
    _, day = codes_of(["2024-03-08 14:30", "2024-03-09 02:00", "2024-03-09 05:30"])
    assert day[0] == day[1] and day[2] == day[0] + 1


def test_hourly_bar_ending_at_or_after_the_close_is_the_last() -> None:
    # EDT: 13:30 UTC = 09:30. The 1h bar starting 15:30 ends 16:30: last of the session.
    codes, _ = codes_of(["2024-06-03 13:30", "2024-06-03 18:30", "2024-06-03 19:30", "2024-06-03 20:30"], 60)
    assert codes == [IN, IN, LAST, OFF]
    codes, _ = codes_of(["2024-06-03 13:00", "2024-06-03 14:00", "2024-06-03 19:00", "2024-06-03 20:00"], 60)
    assert codes == [OFF, IN, LAST, OFF]  # 09:00 starts before the open; 15:00-16:00 is the last


def test_early_close_ends_the_session_at_the_real_close_whatever_bars_follow() -> None:
    # 2024-11-29 closed at 13:00 EST (18:00 UTC). Bars after it (the real data has them) are
    # outside the session; the 12:55 bar, ending at 13:00, is the last.
    codes, _ = codes_of(["2024-11-29 17:50", "2024-11-29 17:55", "2024-11-29 18:00", "2024-11-29 18:05",
                         "2024-12-02 14:30", "2024-12-02 14:35"])
    assert codes == [IN, LAST, OFF, OFF, IN, LAST]


def test_missing_bars_end_the_session_at_the_last_bar_seen() -> None:
    # a regular day whose data stops at 14:00 EST: the 13:55 bar is the last
    codes, _ = codes_of(["2024-12-03 18:50", "2024-12-03 18:55", "2024-12-04 14:30"])
    assert codes == [IN, LAST, LAST]


def test_holidays_have_no_session() -> None:
    # 2024-07-04 (Independence Day) and 2025-01-09 (a national day of mourning) at 11:00 EDT/EST
    codes, _ = codes_of(["2024-07-04 15:00", "2025-01-09 16:00", "2025-01-10 16:00"])
    assert codes == [OFF, OFF, LAST]


def test_last_bar_is_per_symbol() -> None:
    # symbol 1 has no 15:55 bar: its 15:50 bar is its last of the day, symbol 0's is not
    # (the very last bar of the data ends a session too)
    times = ["2024-03-08 20:50", "2024-03-08 20:50", "2024-03-08 20:55", "2024-03-11 13:30", "2024-03-11 13:30",
             "2024-03-11 13:35", "2024-03-11 13:35"]
    codes, _ = codes_of(times, sym=[0, 1, 0, 0, 1, 0, 1])
    assert codes == [IN, LAST, LAST, IN, IN, LAST, LAST]


# a backtest across the March change -----------------------------------------------------------------

def _days() -> np.ndarray:
    """5m bars 08:00-17:00 New York on Fri 2024-03-08 (EST) and Mon 2024-03-11 (EDT)."""
    ts = []
    for d in ("2024-03-08", "2024-03-11"):
        start = pd.Timestamp(f"{d} 08:00", tz=NY)
        ts += [int((start + pd.Timedelta(minutes=5 * i)).value) for i in range(108)]
    return np.array(ts, dtype=np.int64)


def _bars(n: int) -> list[tuple[float, float, float, float]]:
    # close of bar i = 100 + i / 100, open = previous close: every price is known by index
    out = []
    for i in range(n):
        c = 100 + i / 100
        o = 100 + (i - 1) / 100 if i else c
        out.append((o, c + 0.05, o - 0.05, c))
    return out


# signal changes at these New York times (the value holds until the next change)
CHANGES = {
    "2024-03-08 08:30": 1,   # pre-market: ignored
    "2024-03-08 09:00": 0,
    "2024-03-08 10:00": 1,   # long at 10:05's open, held to the close
    "2024-03-08 16:30": -1,  # after hours: ignored
    "2024-03-08 16:45": 0,
    "2024-03-11 10:00": -1,  # short at 10:05 EDT = 14:05 UTC
    "2024-03-11 12:00": 0,   # covered at 12:05
    "2024-03-11 15:50": 1,   # long at the last bar's open, flattened at its close
    "2024-03-11 16:10": 0,
}


def _script(ts: np.ndarray, changes: dict[str, int] = CHANGES) -> str:
    local = pd.DatetimeIndex(ts, tz="UTC").tz_convert(NY)
    marks = {pd.Timestamp(k, tz=NY): v for k, v in changes.items()}
    out, s = [], 0
    for t in local:
        s = marks.get(t, s)
        out.append(str(s))
    return " ".join(out)


def _run_dst(bt, constraints: bool):
    ts = _days()
    bars = _bars(len(ts))
    tl = bt.timeline(bars, ts=ts.tolist())
    entry = {"bt_scripted": {"script": _script(ts)}}
    if constraints:
        entry["constraints"] = "intraday"
    return bt.run(tl, strategies=[entry]), ts, bars


def test_intraday_backtest_across_the_march_dst_change(bt) -> None:
    res, ts, bars = _run_dst(bt, True)
    row = {int(t): i for i, t in enumerate(ts)}

    def at(s: str) -> int:
        return row[utc(s)]

    expected = [
        # (UTC time, side, price, reason)
        ("2024-03-08 15:05", "buy", bars[at("2024-03-08 15:05")][0], "signal"),           # 10:05 EST open
        ("2024-03-08 20:55", "sell", bars[at("2024-03-08 20:55")][3], "session_close"),   # 15:55 EST close
        ("2024-03-11 14:05", "sell", bars[at("2024-03-11 14:05")][0], "signal"),          # 10:05 EDT open
        ("2024-03-11 16:05", "buy", bars[at("2024-03-11 16:05")][0], "signal"),           # 12:05 EDT open
        ("2024-03-11 19:55", "buy", bars[at("2024-03-11 19:55")][0], "signal"),           # 15:55 EDT open
        ("2024-03-11 19:55", "sell", bars[at("2024-03-11 19:55")][3], "session_close"),   # 15:55 EDT close
    ]
    f = res.fills
    got = list(zip(f["time"].dt.strftime("%Y-%m-%d %H:%M"), f["side"], f["price"], f["reason"], strict=True))
    assert got == expected
    assert list(f["qty"]) == [100.0] * 6

    t = res.trades
    assert list(zip(t["side"], t["exit_reason"], strict=True)) == [
        ("long", "session_close"), ("short", "signal"), ("long", "session_close")]

    # flat after each session's last bar (15:55 New York: 20:55 UTC in EST, 19:55 UTC in EDT)
    pos = np.zeros(len(ts))
    np.add.at(pos, f["bar"].to_numpy(), np.where(f["side"] == "buy", f["qty"], -f["qty"]))
    pos = np.cumsum(pos)
    assert pos[at("2024-03-08 20:55")] == 0 and pos[at("2024-03-11 19:55")] == 0
    assert pos[at("2024-03-08 20:50")] == 100  # held until the last bar
    # no order and no fill outside 09:30-16:00 New York
    for col in (f["time"], res.orders["time"]):
        local = col.dt.tz_convert(NY)
        minutes = local.dt.hour * 60 + local.dt.minute
        assert ((minutes >= 570) & (minutes < 960)).all()
    assert res.equity.iloc[-1] == pytest.approx(100_000 + t["pnl"].sum(), abs=1e-6)


def test_without_the_constraint_the_position_is_held_overnight(bt) -> None:
    res, ts, _ = _run_dst(bt, False)
    f = res.fills
    # the pre-market change at 08:30 trades at 08:35, and the long is held across the weekend
    assert f["time"].iloc[0] == pd.Timestamp("2024-03-08 13:35", tz="UTC")
    assert "session_close" not in set(f["reason"])


def test_intraday_on_real_spy_bars_across_the_november_change(bt, shared_data) -> None:
    from admf.data.catalog import load_spec
    from admf.data.timeline import merge

    frame = load_spec("SPY_5m", shared_data, "2024-10-28", "2024-11-08")
    tl = merge([frame])
    res = bt.run(tl, strategies=[{"sma_crossover": {"fast": 2, "slow": 5}, "constraints": "intraday"}])
    f = res.fills
    assert len(res.trades) > 20
    local = f["time"].dt.tz_convert(NY)
    minutes = local.dt.hour * 60 + local.dt.minute
    assert ((minutes >= 570) & (minutes < 960)).all()
    # the last regular bar of each New York day, found from the bars' own times
    times = pd.DatetimeIndex(tl.ts, tz="UTC").tz_convert(NY)
    m = times.hour * 60 + times.minute
    regular = np.flatnonzero((m >= 570) & (m < 960))
    last = pd.Series(regular).groupby(times[regular].date).max().to_numpy()
    assert len(last) == 10  # Oct 28 - Nov 8, weekdays
    # 15:55 New York: 19:55 UTC before the change, 20:55 UTC after
    assert {pd.Timestamp(tl.ts[i], tz="UTC").strftime("%H:%M") for i in last} == {"19:55", "20:55"}
    pos = np.cumsum(np.bincount(f["bar"], weights=np.where(f["side"] == "buy", f["qty"], -f["qty"]),
                                minlength=len(tl)))
    assert (pos[last] == 0).all()
    closes = f[f["reason"] == "session_close"]
    assert set(closes["bar"]).issubset(set(last.tolist()))
    assert (closes["price"].to_numpy() == tl.close[closes["bar"].to_numpy()]).all()
    assert len(closes) > 0
    assert res.equity.iloc[-1] == pytest.approx(100_000 + res.trades["pnl"].sum(), abs=1e-6)


def test_an_overnight_change_is_not_traded_but_the_next_session_change_is(bt) -> None:
    # long Friday (flattened at the close), short after hours (not traded), long again Monday 11:00 EDT:
    # the in-session change short -> long must buy at 11:05's open
    changes = {"2024-03-08 10:00": 1, "2024-03-08 16:30": -1, "2024-03-11 11:00": 1, "2024-03-11 12:00": 0}
    ts = _days()
    bars = _bars(len(ts))
    res = bt.run(bt.timeline(bars, ts=ts.tolist()),
                 strategies=[{"bt_scripted": {"script": _script(ts, changes)}, "constraints": "intraday"}])
    f = res.fills
    row = {int(t): i for i, t in enumerate(ts)}
    got = list(zip(f["time"].dt.strftime("%Y-%m-%d %H:%M"), f["side"], f["reason"], strict=True))
    assert got == [("2024-03-08 15:05", "buy", "signal"), ("2024-03-08 20:55", "sell", "session_close"),
                   ("2024-03-11 15:05", "buy", "signal"), ("2024-03-11 16:05", "sell", "signal")]
    assert f["price"].iloc[2] == bars[row[utc("2024-03-11 15:05")]][0]
