"""VWAP's "rth" session reset follows the exchange calendar (early close, DST), by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from admf.features.volume import VWAP, session_bounds


def ns(s: str) -> int:
    return int(pd.Timestamp(s, tz="UTC").value)


def test_rth_bounds_on_a_half_day_and_across_dst() -> None:
    # 2024-11-29: 09:30-13:00 EST = 14:30-18:00 UTC
    assert session_bounds(ns("2024-11-29 15:00"), "rth") == (ns("2024-11-29 14:30"), ns("2024-11-29 18:00"))
    # after the early close: its own span up to Monday's open
    assert session_bounds(ns("2024-11-29 18:30"), "rth") == (ns("2024-11-29 18:00"), ns("2024-12-02 14:30"))
    # 2024-03-11 (EDT) opens 13:30 UTC, 2024-03-08 (EST) 14:30 UTC
    assert session_bounds(ns("2024-03-11 14:00"), "rth")[0] == ns("2024-03-11 13:30")
    assert session_bounds(ns("2024-03-08 15:00"), "rth")[0] == ns("2024-03-08 14:30")


def test_rth_vwap_resets_at_the_open_and_not_at_midnight() -> None:
    v = VWAP("rth")
    # typical price (h+l+c)/3: 10, then 20 with double the volume -> (10*1 + 20*2) / 3
    v.update(ns("2024-11-29 17:50"), 0, 10, 10, 10, 1)
    v.update(ns("2024-11-29 17:55"), 0, 20, 20, 20, 2)
    assert v.value == pytest.approx(50 / 3)
    v.update(ns("2024-11-29 18:00"), 0, 30, 30, 30, 1)  # after the 13:00 close: a new span
    assert v.value == 30
    v.update(ns("2024-12-02 05:00"), 0, 40, 40, 40, 1)  # Monday midnight NY does not reset "rth"
    assert v.value == 35
    v.update(ns("2024-12-02 14:30"), 0, 50, 50, 50, 1)  # Monday's open does
    assert v.value == 50
