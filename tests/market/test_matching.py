"""The matching core by hand, and the same orders through the SimulatedBroker and the emulator."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from admf.core.enums import OrderType, Side, TimeInForce
from admf.core.events import Fill, OrderRequest
from admf.emulator import EmulatorConfig, EmulatorServer
from admf.execution.matching import LIMIT, MARKET, STOP, STOP_LIMIT, match, participation
from admf.execution.simulated import SimulatedBroker

BUY, SELL = True, False


@pytest.mark.parametrize(("kind", "buy", "limit", "stop", "bar", "want"), [
    (MARKET, BUY, 0, 0, (100, 102, 99), 100),
    (LIMIT, BUY, 99.5, 0, (100, 102, 99), 99.5),        # touched inside the bar: at the limit
    (LIMIT, BUY, 100.5, 0, (100, 102, 99), 100),        # open already below the limit: the open
    (LIMIT, BUY, 98.5, 0, (100, 102, 99), None),
    (LIMIT, SELL, 101, 0, (100, 102, 99), 101),
    (LIMIT, SELL, 99, 0, (100, 102, 99), 100),
    (STOP, BUY, 0, 101, (100, 102, 99), 101),
    (STOP, BUY, 0, 99.5, (100, 102, 99), 100),          # gapped through: the open
    (STOP, BUY, 0, 103, (100, 102, 99), None),
    (STOP, SELL, 0, 99.5, (100, 102, 99), 99.5),
    (STOP, SELL, 0, 101, (100, 102, 99), 100),
    # the case the two old implementations disagreed on: trigger inside the bar beyond the limit
    (STOP_LIMIT, BUY, 100.5, 101, (100, 102, 99), None),
    (STOP_LIMIT, BUY, 101.5, 101, (100, 102, 99), 101),  # trigger within the limit: at the stop
    (STOP_LIMIT, BUY, 100.5, 99.5, (100, 102, 99), 100),  # open beyond the stop, within the limit
    (STOP_LIMIT, BUY, 99.5, 99, (100, 102, 99), 99.5),    # gap beyond stop and limit: the rest of the bar
    (STOP_LIMIT, SELL, 99.5, 99, (100, 102, 98), None),
    (STOP_LIMIT, SELL, 98.5, 99, (100, 102, 98), 99),
    (STOP_LIMIT, SELL, 100.5, 101, (100, 102, 98), 100.5),  # gap down through the stop; the high reaches the limit
])
def test_rules_by_hand(kind, buy, limit, stop, bar, want) -> None:
    px, trig = match(kind, buy, limit, stop, False, *bar)
    assert px == want
    assert trig == (kind in (STOP, STOP_LIMIT) and (want is not None or kind == STOP_LIMIT and
                                                       (bar[1] >= stop if buy else bar[2] <= stop)))


def test_triggered_stop_limit_rests_as_a_limit_and_a_triggered_stop_as_a_market() -> None:
    assert match(STOP_LIMIT, BUY, 100.5, 101, True, 101, 101.5, 100.6) == (None, True)
    assert match(STOP_LIMIT, BUY, 100.5, 101, True, 101, 101.5, 100.4) == (100.5, True)
    assert match(STOP, BUY, 0, 101, True, 99, 99.5, 98) == (99, True)


def test_participation() -> None:
    assert participation(100, 1000, 0.05) == 50
    assert participation(500, 1999, 0.1) == 199  # 199.9 shares of room: whole shares only
    assert participation(100, 1999, 0.1) == 100
    assert participation(30, 1000, 0.05) == 30
    assert participation(100, 10, 0.05) == 0  # half a share: nothing this bar
    assert participation(1.5, 10, 0.05, fractional=True) == 0.5


# the same orders through both -------------------------------------------------------------------

T0 = int(pd.Timestamp("2024-01-02 14:30", tz="UTC").value)
MIN = 60_000_000_000


def _bars(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, 4))
    c = 100.0
    for i in range(n):
        o = round(c + (rng.normal(0, 0.3) if rng.random() < 0.2 else 0.0), 2)  # some gaps
        c = round(o + rng.normal(0, 0.15), 2)
        h = round(max(o, c) + abs(rng.normal(0, 0.1)), 2)
        l = round(min(o, c) - abs(rng.normal(0, 0.1)), 2)
        out[i] = (o, h, l, c)
    return out


def _orders(bars: np.ndarray, seed: int, n: int) -> list[tuple[int, str, str, str, float | None, float | None]]:
    """(bar submitted after, symbol, side, type, limit, stop): resting orders, not marketable at submission."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        i = rng.randrange(2, len(bars) - 5)
        c = bars[i, 3]
        buy = rng.random() < 0.5
        s = 1 if buy else -1
        typ = rng.choice(["limit", "stop", "stop_limit"])
        a = round(rng.uniform(0.01, 0.4), 2)
        b = round(rng.uniform(-0.4, 0.4), 2)
        if typ == "limit":
            out.append((i, "AAA" if buy else "BBB", "buy" if buy else "sell", typ, round(c - s * a, 2), None))
        else:
            stop = round(c + s * a, 2)
            lim = round(stop + s * b, 2) if typ == "stop_limit" else None
            out.append((i, "AAA" if buy else "BBB", "buy" if buy else "sell", typ, lim, stop))
    return out


VOLUME = 1000.0


def _sim(bars: np.ndarray, orders, qty: float = 1.0, cap: float | None = None) -> list[tuple[str, float, float]]:
    fills: list[Fill] = []
    sim = SimulatedBroker(lambda f, bar: fills.append(f), volume_cap=cap,
                          volume=[VOLUME] * len(bars) if cap else None)
    for i, (o, h, l, c) in enumerate(bars):
        for sym_i in (0, 1):
            sim.on_bar(sym_i, i, T0 + i * MIN, o, h, l, c, 0)
        for k, (at, sym, side, typ, lim, stop) in enumerate(orders):
            if at == i:
                req = OrderRequest(f"o{k}", "s", sym, Side(side), qty, OrderType(typ), lim, stop,
                                   TimeInForce.DAY, T0 + i * MIN)
                sim.submit(req, 0 if sym == "AAA" else 1, i, c, 0)
    return sorted((f.client_order_id, f.price, f.qty) for f in fills)


def _emulator(bars: np.ndarray, orders, tmp_path: Path, qty: int = 1,
              cap: float | None = None) -> list[tuple[str, float, float]]:
    rows = [f"{pd.Timestamp(T0 + i * MIN, tz='UTC')},{sym},{o},{h},{l},{c},{VOLUME:.0f}"
            for sym in ("AAA", "BBB") for i, (o, h, l, c) in enumerate(bars)]
    p = tmp_path / "bars.csv"
    p.write_text("timestamp,symbol,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    srv = EmulatorServer(EmulatorConfig(data=str(p), symbols=("AAA", "BBB"), start=1, initial_cash="10000000",
                                        fill_volume_cap=cap))
    fills: list[tuple[str, float, float]] = []
    emit = srv.broker.emit

    def record(event, order, extra):  # type: ignore[no-untyped-def]
        if event in ("fill", "partial_fill"):
            fills.append((order.client_order_id, float(extra["price"]), float(extra["qty"])))
        assert event != "rejected"
        emit(event, order, extra)

    srv.broker.emit = record
    for i in range(len(bars)):
        for k, (at, sym, side, typ, lim, stop) in enumerate(orders):
            if at == i:
                body = {"symbol": sym, "side": side, "type": typ, "qty": str(qty), "time_in_force": "day",
                        "client_order_id": f"o{k}"}
                if lim is not None:
                    body["limit_price"] = f"{lim:.2f}"
                if stop is not None:
                    body["stop_price"] = f"{stop:.2f}"
                srv.broker.submit(body)
        srv.step()
    return sorted(fills)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_orders_same_fills_in_a_backtest_and_the_emulator(seed: int, tmp_path: Path) -> None:
    bars = _bars(120, seed)
    orders = _orders(bars, seed, 80)
    sim = _sim(bars, orders)
    emu = _emulator(bars, orders, tmp_path)
    assert len(sim) > 30  # most orders fill, several of each type
    assert emu == sim
    kinds = {orders[int(cid[1:])][3] for cid, _, _ in sim}
    assert kinds == {"limit", "stop", "stop_limit"}


def test_volume_capped_partial_fills_agree_too(tmp_path: Path) -> None:
    # 2% of 1000 shares a bar: an order for 50 fills 20, 20, 10 over three bars in both
    bars = _bars(120, 7)
    orders = _orders(bars, 7, 30)
    sim = _sim(bars, orders, qty=50.0, cap=0.02)
    emu = _emulator(bars, orders, tmp_path, qty=50, cap=0.02)
    assert emu == sim
    by_order: dict[str, list[float]] = {}
    for cid, _, q in sim:
        by_order.setdefault(cid, []).append(q)
    assert all(sorted(v) == [10, 20, 20] for v in by_order.values() if sum(v) == 50)
    assert sum(1 for v in by_order.values() if sum(v) == 50) > 5
