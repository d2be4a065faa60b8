"""The live (scalar) session code agrees with the backtest's vectorized one on full sessions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from admf.risk.slot import IN, LAST, OFF
from admf.runtime.session import session_code, session_codes

FIVE_MIN = 300_000_000_000


def test_scalar_and_vectorized_session_codes_agree_across_dst() -> None:
    # every 5-minute bar, around the clock, from Friday 2024-03-08 to Tuesday 2024-03-12 (DST starts Sunday)
    ts = pd.date_range("2024-03-08", "2024-03-12 23:55", freq="5min", tz="UTC").as_unit("ns").asi8
    codes, days = session_codes(ts, None, FIVE_MIN)
    scalar = [session_code(int(t), FIVE_MIN) for t in ts]
    assert [c for c, _ in scalar] == codes.tolist()
    # 09:30 New York is 14:30 UTC before the change and 13:30 UTC after it
    first_in = {pd.Timestamp(t, tz="UTC").strftime("%m-%d %H:%M") for t, (c, _) in zip(ts, scalar, strict=True)
                if c == IN and pd.Timestamp(t, tz="UTC").tz_convert("America/New_York").strftime("%H:%M") == "09:30"}
    assert first_in == {"03-08 14:30", "03-11 13:30", "03-12 13:30"}
    last = [pd.Timestamp(t, tz="UTC").strftime("%m-%d %H:%M")
            for t, (c, _) in zip(ts, scalar, strict=True) if c == LAST]
    assert last == ["03-08 20:55", "03-11 19:55", "03-12 19:55"]
    # the weekend is off all day
    weekend = (pd.DatetimeIndex(ts, tz="UTC").tz_convert("America/New_York").day_of_week >= 5)
    assert all(c == OFF for c, w in zip(codes, weekend, strict=True) if w)
    # day numbers follow the New York date (03-07 evening to 03-12), not the UTC date (03-08 to 03-12)
    assert len(np.unique(days)) == 6
    assert len({d for _, d in scalar}) == 6
