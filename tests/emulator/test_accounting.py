"""Property: after any sequence of orders, fills, replaces, cancels and bars, cash and positions equal
what the fill events imply, and every order's fill totals match its executions."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admf.emulator import EmulatorConfig, EmulatorServer
from admf.emulator.wire import WireError

D = Decimal
SYMS = ("SPY", "QQQ")

sym = st.sampled_from(SYMS)
side = st.sampled_from(("buy", "sell"))
qty = st.one_of(st.integers(1, 40).map(str), st.decimals("0.001", "3", places=3).map(str))
offset = st.integers(-300, 300).map(lambda bp: bp / 10_000)
market = st.tuples(st.just("market"), sym, side, qty)
ops = st.lists(
    st.one_of(
        market,
        market,
        st.tuples(st.just("limit"), sym, side, qty, offset, st.sampled_from(("day", "gtc", "ioc"))),
        st.tuples(st.just("stop"), sym, side, qty, offset),
        st.tuples(st.just("trail"), sym, side, qty, st.sampled_from(("0.5", "1.25"))),
        st.tuples(st.just("cancel"), st.integers(0, 60)),
        st.tuples(st.just("replace"), st.integers(0, 60), st.integers(1, 30)),
        st.tuples(st.just("close"), sym, st.sampled_from((None, "50"))),
        st.tuples(st.just("step"), st.integers(1, 40)),
    ),
    min_size=8,
    max_size=40,
)


def _run(seq, partial: float, multiplier: str) -> tuple[EmulatorServer, list[tuple]]:
    srv = EmulatorServer(EmulatorConfig(symbols=SYMS, start=1, synthetic_days=2, partial_fill_prob=partial,
                                        multiplier=multiplier, seed=11))
    b = srv.broker
    events: list[tuple] = []
    emit = b.emit

    def record(event, order, extra):
        events.append((event, order.id, order.symbol, order.side, dict(extra) if extra else None,
                       D(order.wire()["filled_qty"]), order.qty))
        emit(event, order, extra)

    b.emit = record
    for op in seq:
        kind = op[0]
        try:
            if kind == "step":
                srv.step(op[1])
                continue
            if kind in ("cancel", "replace"):
                if not b.order_list:
                    continue
                o = b.order_list[op[1] % len(b.order_list)]
                if kind == "cancel":
                    b.cancel(o.id)
                else:
                    body = {"qty": op[2]}
                    if o.limit_price is not None:
                        body["limit_price"] = str(o.limit_price)
                    b.replace(o.id, body)
                continue
            if kind == "close":
                b.close_position(op[1], None, op[2])
                continue
            s, sd, q = op[1], op[2], op[3]
            px = srv.market.price(s)
            body = {"symbol": s, "side": sd, "qty": q, "type": "market", "time_in_force": "day"}
            if kind == "limit":
                body.update(type="limit", limit_price=f"{px * (1 + op[4]):.2f}", time_in_force=op[5])
            elif kind == "stop":
                body.update(type="stop", stop_price=f"{px * (1 + op[4]):.2f}", time_in_force="gtc")
            elif kind == "trail":
                body.update(type="trailing_stop", trail_price=op[4], time_in_force="gtc")
            b.submit(body)
        except WireError:
            pass  # rejected at the door (403/422): no state change expected
    return srv, events


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seq=ops, partial=st.sampled_from((0.0, 0.5)), multiplier=st.sampled_from(("1", "2")))
def test_cash_and_positions_follow_the_fills(seq, partial, multiplier) -> None:
    srv, events = _run(seq, partial, multiplier)
    b = srv.broker
    cash = D(100000)
    pos: dict[str, D] = defaultdict(D)
    per_order: dict[str, list[tuple[D, D]]] = defaultdict(list)
    seen_exec = set()
    for event, oid, symbol, sd, extra, filled, oqty in events:
        if event not in ("fill", "partial_fill"):
            assert extra is None
            continue
        q, p = D(extra["qty"]), D(extra["price"])
        assert q > 0 and extra["execution_id"] not in seen_exec
        seen_exec.add(extra["execution_id"])
        signed = q if sd == "buy" else -q
        cash -= signed * p
        pos[symbol] += signed
        per_order[oid].append((q, p))
        assert D(extra["position_qty"]) == pos[symbol]
        assert filled == sum(x for x, _ in per_order[oid])  # cumulative on the order, per-execution on the event
        assert (event == "fill") == (oqty is None or filled == oqty)
    assert b.cash == cash
    assert {s: q for s, q in pos.items() if q} == {s: p.qty for s, p in b.positions.items()}
    for oid, execs in per_order.items():
        w = b.orders[oid].wire()
        total = sum(q for q, _ in execs)
        assert D(w["filled_qty"]) == total
        avg = sum(q * p for q, p in execs) / total
        assert abs(D(w["filled_avg_price"]) - avg) <= D("1e-9")
        if w["qty"] is not None:
            assert total <= D(w["qty"])
    # Activities are exactly the executions, and the account's equity marks positions at the last price.
    acts = b.list_activities({"direction": "asc", "date": "2024-01-02"}, "FILL") + b.list_activities(
        {"direction": "asc", "date": "2024-01-03"}, "FILL")
    assert sorted(a["id"].split("::")[1] for a in acts) == sorted(seen_exec)
    acct = b.account()
    marks = sum(q * D(repr(srv.market.price(s))) for s, q in pos.items())
    assert D(acct["cash"]) == cash and D(acct["equity"]) == cash + marks
    # Open orders are exactly the non-terminal ones, and no order is open twice.
    open_ids = [o.id for lst in b.open_by_symbol.values() for o in lst]
    assert len(open_ids) == len(set(open_ids))
    assert set(open_ids) == {o.id for o in b.order_list if o.is_open}
    # qty_available: the position less what open orders on the reducing side hold, floored at zero.
    for p in b.positions.values():
        reducing = "sell" if p.qty > 0 else "buy"
        held = sum((o.qty - o.filled_qty for o in b.order_list if o.is_open and o.symbol == p.symbol
                    and o.side == reducing and o.qty is not None), D(0))
        expect = max(abs(p.qty) - held, D(0))
        assert D(b.get_position(p.symbol)["qty_available"]) == (expect if p.qty > 0 else -expect)
