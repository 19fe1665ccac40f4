from datetime import date, timedelta
from decimal import Decimal

from portal.domain.checkout import PlanLine
from portal.domain.eta import Eta
from portal.domain.goodwill import Rule, adjustments_for

TODAY = date(2026, 11, 23)
LATE_PERCENT = Rule(1, "5% off long waits", "percent_off_late_backorder", days=14, percent=Decimal("5"))
MISSED_CREDIT = Rule(2, "Missed deadline credit", "credit_missed_deadline", amount=Decimal("10"))


def line(backorder=10, eta_days=30, need_by_days=None, accept_late=False, hidden=False, price="20.00"):
    eta = Eta(TODAY + timedelta(days=eta_days), estimated=True) if backorder else None
    need_by = TODAY + timedelta(days=need_by_days) if need_by_days is not None else None
    quantity = backorder or 1
    return PlanLine(1, "SKU", "Thing", quantity, 0 if backorder else 1, backorder, Decimal(price),
                    Decimal(price) * quantity, eta, need_by, accept_late, hidden)


def test_percent_off_applies_to_backorders_further_out_than_the_rule_days():
    found = adjustments_for([line(eta_days=15)], [LATE_PERCENT], TODAY)
    assert [a.amount for a in found] == [Decimal("-10.00")]
    assert adjustments_for([line(eta_days=14)], [LATE_PERCENT], TODAY) == []


def test_no_goodwill_without_a_backorder():
    assert adjustments_for([line(backorder=0)], [LATE_PERCENT, MISSED_CREDIT], TODAY) == []


def test_a_hidden_backorder_that_meets_the_deadline_gets_no_discount_that_would_reveal_it():
    assert adjustments_for([line(hidden=True)], [LATE_PERCENT], TODAY) == []


def test_a_hidden_backorder_past_the_deadline_is_told_and_compensated():
    late = line(hidden=True, need_by_days=7, accept_late=True)
    assert {a.rule_id for a in adjustments_for([late], [LATE_PERCENT, MISSED_CREDIT], TODAY)} == {1, 2}


def test_the_missed_deadline_credit_needs_the_buyer_to_keep_the_line():
    assert adjustments_for([line(need_by_days=7)], [MISSED_CREDIT], TODAY) == []
    kept = adjustments_for([line(need_by_days=7, accept_late=True)], [MISSED_CREDIT], TODAY)
    assert [a.amount for a in kept] == [Decimal("-10")]


def test_goodwill_never_takes_a_line_below_zero():
    cheap = line(backorder=1, price="4.00", need_by_days=7, accept_late=True)
    found = adjustments_for([cheap], [Rule(3, "Big credit", "credit_missed_deadline", amount=Decimal("50"))],
                            TODAY)
    assert [a.amount for a in found] == [Decimal("-4.00")]
