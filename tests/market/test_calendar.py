"""The exchange calendar on the real SPY 5m bars: early closes, holidays, DST, vector = scalar."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from admf.config.loader import config_from_dict
from admf.core import calendar
from admf.risk.slot import IN, LAST, OFF
from admf.runtime.backtest import run_variant
from admf.runtime.session import session_code, session_codes

NY = "America/New_York"
HALF_DAYS = ("2024-07-03", "2024-11-29", "2024-12-24")
FIVE_MIN = 300_000_000_000


def test_half_days_close_at_13_and_holidays_have_no_session() -> None:
    for d in HALF_DAYS:
        s = calendar.session(dt.date.fromisoformat(d))
        assert s is not None and s.early_close
        close = pd.Timestamp(s.close_ns, tz="UTC").tz_convert(NY)
        assert (close.hour, close.minute) == (13, 0)
    for d in ("2024-07-04", "2024-11-28", "2024-12-25", "2025-01-09", "2024-03-29"):
        assert calendar.session(dt.date.fromisoformat(d)) is None
    s = calendar.session(dt.date(2024, 7, 5))
    assert s is not None and not s.early_close


def test_dst_change_moves_the_open_in_utc() -> None:
    # 2024-03-08 (EST): 14:30 UTC; 2024-03-11 (EDT): 13:30 UTC; 2024-11-01 (EDT) / 11-04 (EST)
    opens = {d: pd.Timestamp(calendar.session(dt.date.fromisoformat(d)).open_ns, tz="UTC").strftime("%H:%M")
             for d in ("2024-03-08", "2024-03-11", "2024-11-01", "2024-11-04")}
    assert opens == {"2024-03-08": "14:30", "2024-03-11": "13:30", "2024-11-01": "13:30", "2024-11-04": "14:30"}


@pytest.fixture(scope="module")
def spy(shared_data):  # type: ignore[no-untyped-def]
    from admf.data.catalog import load_spec
    from admf.data.timeline import merge

    return merge([load_spec("SPY_5m", shared_data, "2024-06-24", "2024-12-31")])


def test_real_bars_after_the_early_close_are_off_and_the_1255_bar_is_last(spy) -> None:  # type: ignore[no-untyped-def]
    codes, _ = session_codes(spy.ts, None, FIVE_MIN)
    local = pd.DatetimeIndex(spy.ts, tz="UTC").tz_convert(NY)
    for d in HALF_DAYS:
        on = np.flatnonzero(local.strftime("%Y-%m-%d") == d)
        hm = local[on].strftime("%H:%M")
        assert (hm > "13:00").any()  # the data really has bars after the early close
        assert codes[on[hm == "12:55"]].tolist() == [LAST]
        assert (codes[on[hm >= "13:00"]] == OFF).all()
        assert (codes[on[(hm >= "09:30") & (hm < "12:55")]] == IN).all()


def test_scalar_twin_agrees_with_the_vector_on_every_real_bar(spy) -> None:  # type: ignore[no-untyped-def]
    codes, _ = session_codes(spy.ts, None, FIVE_MIN)
    # the vector form also ends a session at a missing bar, which the live twin cannot see:
    # compare on bars whose next bar is present (or that end at the close)
    for i in range(0, len(spy.ts) - 1, 7):
        live, _ = session_code(int(spy.ts[i]), FIVE_MIN)
        if codes[i] == LAST and live == IN:
            assert spy.ts[i + 1] - spy.ts[i] != FIVE_MIN
            continue
        assert live == codes[i]


def test_intraday_bollinger_is_flat_at_13_on_half_days(spy) -> None:  # type: ignore[no-untyped-def]
    cfg = config_from_dict({"name": "t", "data": "SPY_5m", "portfolio": {"initial_capital": 100_000},
                            "strategy": [{"bollinger_bands": {"period": 20, "std_dev": 2.0},
                                          "constraints": "intraday"}]})
    res = run_variant(cfg, spy)
    f = res.fills
    local = f["time"].dt.tz_convert(NY)
    assert len(f) > 100
    bars = pd.DatetimeIndex(spy.ts, tz="UTC").tz_convert(NY)
    pos = np.cumsum(np.bincount(f["bar"], weights=np.where(f["side"] == "buy", f["qty"], -f["qty"]),
                                minlength=len(spy)))
    traded = 0
    for d in HALF_DAYS:
        day = f[local.dt.strftime("%Y-%m-%d") == d]
        traded += len(day)
        # a fill is stamped at its bar's start: the close of the 12:55 bar is the session close
        assert (local[day.index].dt.strftime("%H:%M") <= "12:55").all(), day
        on = np.flatnonzero((bars.strftime("%Y-%m-%d") == d) & (bars.strftime("%H:%M") >= "12:55"))
        assert (pos[on] == 0).all()  # flat at 13:00 and through the rest of the day's bars
    assert traded > 0
    # every session-close fill is at the close of a session's last bar
    closes = f[f["reason"] == "session_close"]
    codes, _ = session_codes(spy.ts, None, FIVE_MIN)
    assert len(closes) > 0 and (codes[closes["bar"].to_numpy()] == LAST).all()
    assert (closes["price"].to_numpy() == spy.close[closes["bar"].to_numpy()]).all()


def test_times_outside_the_calendar_are_one_clear_error() -> None:
    from admf.core.errors import DataError

    with pytest.raises(DataError, match="outside the exchange calendar"):
        calendar.next_session(int(pd.Timestamp("2041-06-01", tz="UTC").value))
    with pytest.raises(DataError, match="outside the exchange calendar"):
        session_codes(np.array([int(pd.Timestamp("1970-01-02", tz="UTC").value)]), None, FIVE_MIN)
    assert session_code(int(pd.Timestamp("2024-07-04 15:00", tz="UTC").value), FIVE_MIN)[0] == OFF
    assert session_code(int(pd.Timestamp("2024-07-03 16:55", tz="UTC").value), FIVE_MIN)[0] == LAST
    assert session_code(int(pd.Timestamp("2024-07-03 16:50", tz="UTC").value), FIVE_MIN)[0] == IN


def test_the_session_table_is_cached_per_library_version_and_rebuilt_when_damaged(tmp_path) -> None:
    from admf.core import calendar as c

    built = c._Table(None)
    first = c._Table(tmp_path)
    (path,) = tmp_path.iterdir()
    assert path.name.startswith("XNYS-") and path.suffix == ".npy"
    cached = c._Table(tmp_path)
    for t in (first, cached):
        assert (t.open_ns == built.open_ns).all() and (t.close_ns == built.close_ns).all() and t.days == built.days
    path.write_bytes(b"not an array")
    again = c._Table(tmp_path)
    assert (again.close_ns == built.close_ns).all() and again.days == built.days
    assert c._Table(tmp_path).days == built.days  # the damaged file was replaced
