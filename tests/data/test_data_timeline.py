from __future__ import annotations

import numpy as np
import pytest

from admf.core.errors import DataError
from admf.data.frame import BarFrame
from admf.data.timeline import merge


def _frame(symbol: str, ts: list[int], base: float, tf: str = "5m") -> BarFrame:
    c = base + np.arange(len(ts), dtype=float)
    return BarFrame(np.array(ts), c, c + 1, c - 1, c, np.full(len(ts), 10.0), symbol=symbol, timeframe=tf)


def test_merge_orders_by_time_then_symbol_order() -> None:
    a = _frame("QQQ", [1, 2, 4], 100.0)
    b = _frame("SPY", [0, 2, 3, 4], 200.0)
    tl = merge([a, b])
    assert tl.symbols == ["QQQ", "SPY"] and len(tl) == 7
    # Hand-ordered: at t=2 and t=4 QQQ (listed first) comes before SPY.
    assert tl.ts.tolist() == [0, 1, 2, 2, 3, 4, 4]
    assert tl.sym.tolist() == [1, 0, 0, 1, 1, 0, 1]
    assert tl.close.tolist() == [200.0, 100.0, 101.0, 201.0, 202.0, 102.0, 203.0]
    assert tl.rows_of("QQQ").tolist() == [1, 2, 5]
    assert tl.rows[1].tolist() == [0, 3, 4, 6]
    back = tl.frame("SPY")
    assert back.ts.tolist() == b.ts.tolist() and back.close.tolist() == b.close.tolist()


def test_symbol_order_follows_the_list() -> None:
    a = _frame("QQQ", [1, 2], 100.0)
    b = _frame("SPY", [1, 2], 200.0)
    tl = merge([b, a])
    assert tl.symbols == ["SPY", "QQQ"]
    assert tl.close.tolist() == [200.0, 100.0, 201.0, 101.0]


def test_single_symbol_is_zero_copy() -> None:
    a = _frame("SPY", list(range(0, 50, 5)), 10.0)
    tl = merge([a])
    assert tl.ts is a.ts and tl.close is a.close
    assert tl.sym.tolist() == [0] * 10 and tl.rows[0].tolist() == list(range(10))


def test_merge_errors() -> None:
    a = _frame("SPY", [1], 1.0)
    with pytest.raises(DataError, match="symbol given twice"):
        merge([a, a])
    with pytest.raises(DataError, match="different timeframes"):
        merge([a, _frame("QQQ", [1], 1.0, tf="1h")])
    with pytest.raises(DataError, match="no data"):
        merge([])
    with pytest.raises(DataError) as e:
        merge([a]).rows_of("IWM")
    assert "accepted: SPY" in str(e.value)
