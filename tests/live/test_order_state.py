"""The order state machine (admf.core.orders): the table, and how reports are classified."""

from __future__ import annotations

import pytest

from admf.core.enums import OrderStatus as S
from admf.core.enums import Side
from admf.core.events import Fill, OrderRequest, OrderUpdate
from admf.core.orders import TRANSITIONS, Applied, InvalidTransition, Order, can_transition
from admf.execution.simulated import SimulatedBroker

TERMINAL = [S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED]


def _req(qty: float = 10.0) -> OrderRequest:
    return OrderRequest("c-1", "book", "SPY", Side.BUY, qty)


def _fill(qty: float, n: int = 1, price: float = 100.0) -> Fill:
    return Fill(f"x{n}", "c-1", "book", "SPY", Side.BUY, qty, price, n)


def _upd(status: S, filled: float = 0.0) -> OrderUpdate:
    return OrderUpdate("c-1", status, 1, "B1", filled_qty=filled)


def test_every_state_has_a_row_and_terminal_states_lead_nowhere() -> None:
    assert set(TRANSITIONS) == set(S)
    for s in TERMINAL:
        assert s.is_terminal and TRANSITIONS[s] == frozenset()
    for s in set(S) - set(TERMINAL):
        assert not s.is_terminal and TRANSITIONS[s] & set(TERMINAL), f"{s} cannot end"


@pytest.mark.parametrize(("old", "new", "ok"), [
    (S.PENDING_NEW, S.ACCEPTED, True),
    (S.PENDING_NEW, S.UNKNOWN, True),
    (S.UNKNOWN, S.ACCEPTED, True),
    (S.UNKNOWN, S.REJECTED, True),  # the broker never got it
    (S.ACCEPTED, S.REJECTED, True),  # accepted, then rejected on the stream
    (S.ACCEPTED, S.PENDING_CANCEL, True),
    (S.PENDING_CANCEL, S.ACCEPTED, True),  # cancel refused
    (S.PENDING_CANCEL, S.FILLED, True),  # filled before the cancel landed
    (S.PENDING_CANCEL, S.REJECTED, True),  # cancelled before the submit was answered: rejected
    (S.PARTIALLY_FILLED, S.REJECTED, False),
    (S.PARTIALLY_FILLED, S.ACCEPTED, False),
    (S.FILLED, S.CANCELED, False),
    (S.CANCELED, S.FILLED, False),
    (S.ACCEPTED, S.PENDING_NEW, False),
])
def test_table(old: S, new: S, ok: bool) -> None:
    assert can_transition(old, new) is ok


def test_fills_move_the_order_and_count_per_execution() -> None:
    o = Order(_req(10))
    assert o.apply(_upd(S.ACCEPTED)) is Applied.APPLIED and o.broker_order_id == "B1"
    assert o.apply(_fill(4, 1, 100.0)) is Applied.APPLIED
    assert o.status is S.PARTIALLY_FILLED and o.leaves == 6
    assert o.apply(_fill(6, 2, 101.0)) is Applied.APPLIED
    assert o.status is S.FILLED and o.leaves == 0 and o.settled
    assert o.avg_price == pytest.approx((400 + 606) / 10)


def test_live_reports_late_repeated_or_impossible_are_classified_not_applied() -> None:
    o = Order(_req(10))
    o.apply(_fill(4))
    assert o.apply(_upd(S.ACCEPTED)) is Applied.STALE  # the ack after the first fill
    assert o.status is S.PARTIALLY_FILLED
    assert o.apply(_upd(S.PARTIALLY_FILLED, 4)) is Applied.DUPLICATE
    # the broker says filled (10) but only 4 executions are here: the status waits for the fills
    assert o.apply(_upd(S.FILLED, 10)) is Applied.STALE
    assert o.status is S.PARTIALLY_FILLED and o.reported_filled == 10 and not o.settled
    o.apply(_fill(6, 2))
    assert o.status is S.FILLED and o.settled
    assert o.apply(_upd(S.CANCELED)) is Applied.INVALID  # filled -> canceled: logged, not applied
    assert o.status is S.FILLED and o.anomalies


def test_a_canceled_order_whose_fills_are_owed_is_not_settled_until_they_come() -> None:
    o = Order(_req(10))
    o.apply(_upd(S.ACCEPTED))
    o.apply(_upd(S.PENDING_CANCEL))
    assert o.apply(_upd(S.CANCELED, 3)) is Applied.APPLIED
    assert o.status is S.CANCELED and o.leaves == 0 and not o.settled
    assert o.apply(_fill(3)) is Applied.APPLIED  # the late execution counts
    assert o.settled and o.filled_qty == 3 and o.status is S.CANCELED


def test_strict_orders_raise_on_impossible_steps() -> None:
    o = Order(_req(10), strict=True)
    o.apply(_fill(10))
    with pytest.raises(InvalidTransition, match="filled -> canceled"):
        o.apply(_upd(S.CANCELED))
    o2 = Order(_req(5), strict=True)
    with pytest.raises(InvalidTransition, match="beyond"):
        o2.apply(_fill(6))


def test_the_simulated_broker_moves_its_orders_through_the_machine() -> None:
    fills: list[Fill] = []
    b = SimulatedBroker(lambda f, bar: fills.append(f))
    b.submit(_req(10), 0, 0, 100.0)
    assert b.orders["c-1"].order.status is S.ACCEPTED
    b.on_bar(0, 1, 2, 101.0, 102.0, 100.0, 101.5)
    o = b.orders["c-1"].order
    assert o.status is S.FILLED and o.filled_qty == 10 and fills[0].price == 101.0
    assert b.cancel("c-1") is False  # nothing left to cancel
    assert [u.status for u in b.update_log] == [S.ACCEPTED, S.FILLED]
