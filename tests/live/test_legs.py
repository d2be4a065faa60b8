"""The status of an OCO exit from its members' reports (execution/legs.py), case by case."""

from __future__ import annotations

import pytest

from admf.core.enums import OrderStatus as S
from admf.execution.legs import Member, combined_status, note, order_status

Q = 10.0
WORKING = Member(None)  # e.g. Alpaca's "held" stop-loss leg


@pytest.mark.parametrize(
    ("parent", "legs", "want"),
    [
        (Member(None), [WORKING], None),  # nothing acknowledged yet
        (Member(S.ACCEPTED), [WORKING], S.ACCEPTED),
        # the take-profit filled: the stop-loss canceled by the broker is not a cancel of the order
        (Member(S.FILLED, 10.0), [Member(S.CANCELED)], S.FILLED),
        (Member(S.FILLED, 10.0), [WORKING], S.FILLED),  # the sibling's cancel still to come
        # the stop-loss filled, the take-profit canceled (its cancel may come first)
        (Member(S.CANCELED), [Member(S.FILLED, 10.0)], S.FILLED),
        (Member(S.CANCELED), [WORKING], S.ACCEPTED),  # the leg's fill may still be on its way
        # a partial take-profit shrinks the stop leg, which fills the rest
        (Member(S.PARTIALLY_FILLED, 3.0), [Member(S.ACCEPTED)], S.PARTIALLY_FILLED),
        (Member(S.CANCELED, 3.0), [Member(S.FILLED, 7.0)], S.FILLED),
        (Member(S.CANCELED, 3.0), [Member(S.ACCEPTED, 6.0)], S.PARTIALLY_FILLED),
        # ended unfilled in full: only when every member has ended
        (Member(S.CANCELED), [Member(S.CANCELED)], S.CANCELED),
        (Member(S.CANCELED, 3.0), [Member(S.CANCELED)], S.CANCELED),
        (Member(S.EXPIRED), [Member(S.EXPIRED)], S.EXPIRED),
        (Member(S.EXPIRED), [Member(S.CANCELED)], S.CANCELED),
        (Member(S.REJECTED), [Member(S.REJECTED)], S.REJECTED),
        (Member(S.REJECTED), [Member(S.CANCELED)], S.CANCELED),
    ],
)
def test_combined_status(parent: Member, legs: list[Member], want: S | None) -> None:
    assert combined_status(Q, parent, legs) is want


def test_fills_of_both_members_add_up() -> None:
    assert combined_status(Q, Member(S.PARTIALLY_FILLED, 4.0), [Member(S.PARTIALLY_FILLED, 6.0)]) is S.FILLED
    assert combined_status(Q, Member(S.PARTIALLY_FILLED, 4.0), [Member(S.ACCEPTED, 5.999)]) is S.PARTIALLY_FILLED


def test_a_member_never_goes_back_from_an_end_nor_to_no_news() -> None:
    m = note(None, S.ACCEPTED, 0.0)
    assert note(m, None, 0.0) == Member(S.ACCEPTED)  # a `held` / pending_* report: still what was known
    done = note(m, S.CANCELED, 3.0)
    assert note(done, S.ACCEPTED, 0.0) == Member(S.CANCELED, 3.0)  # a late report after its end
    assert note(m, None, 0.0, replaced=True) == Member(S.CANCELED)  # no longer works under this id


def test_order_status_counts_a_member_not_heard_of_yet_as_working() -> None:
    members = {"p": Member(S.CANCELED)}
    assert order_status(Q, "p", ["leg"], members) is S.ACCEPTED  # the leg's fill may be on its way
    members["leg"] = Member(S.FILLED, 10.0)
    assert order_status(Q, "p", ["leg"], members) is S.FILLED
    assert order_status(Q, None, [], {}) is None
