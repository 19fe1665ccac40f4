"""Payment rules that need no app or database: credit checks, cents, and charge statuses that never
move backwards (what makes webhook deliveries order-independent)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.integrations.stripe import cents
from portal.models import CardCharge
from portal.models.payments import CHARGE_STATUSES, CHARGE_TRANSITIONS
from portal.services.credit import CreditCheck
from portal.services.payments import move_status


@pytest.mark.parametrize(("exposure", "total", "over"), [
    ("90.00", "10.00", "0.00"),   # exactly at the limit
    ("90.00", "9.99", "0.00"),    # just under
    ("90.00", "10.01", "0.01"),   # a cent over
    ("120.00", "5.00", "25.00"),  # already over: the whole excess is reported
])
def test_a_credit_check_reports_how_far_over_the_limit_an_order_goes(exposure, total, over):
    check = CreditCheck(Decimal("100.00"), Decimal(exposure), Decimal(total))
    assert check.over_by == Decimal(over)
    assert check.allowed is (over == "0.00")


def test_an_exception_lets_an_order_over_the_limit_through():
    assert CreditCheck(Decimal("100"), Decimal("100"), Decimal("5"), exception_id=3).allowed


@pytest.mark.parametrize(("amount", "expected"), [("0.01", 1), ("12.34", 1234), ("1000.00", 100000),
                                                  ("0.005", 1)])
def test_amounts_go_to_stripe_in_cents(amount, expected):
    assert cents(Decimal(amount)) == expected


def test_terminal_statuses_never_move_and_nothing_moves_back_to_pending():
    for status in ("succeeded", "failed", "canceled"):
        assert CHARGE_TRANSITIONS[status] == set()
    assert all("pending" not in targets for targets in CHARGE_TRANSITIONS.values())
    assert set(CHARGE_TRANSITIONS) == set(CHARGE_STATUSES)


@pytest.mark.parametrize("updates", [
    ["authorized", "succeeded"], ["succeeded", "authorized"], ["succeeded", "failed", "authorized"],
])
def test_updates_in_any_order_end_succeeded_once_success_is_seen(updates):
    charge = CardCharge(status="pending", failure_message="")
    for status in updates:
        move_status(charge, status)
    assert charge.status == "succeeded"
