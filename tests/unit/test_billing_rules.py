"""Billing rules (portal/domain/billing.py): unit values, what is left to invoice, when a cancellation owes
a credit note, and how one shipment's invoice adds up line by line. No app, no database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.domain.billing import (
    ShippedLine,
    billable,
    invoice_breakdown,
    invoiced_beyond,
    left_to_invoice,
    order_credit_used,
    unit_share,
)

D = Decimal


def test_a_unit_share_is_rounded_half_up_on_the_whole_count():
    assert unit_share(D("9.99"), 3, 1) == D("3.33")
    assert unit_share(D("8.99"), 3, 1) == D("3.00")  # 2.9966… rounds up
    assert unit_share(D("8.99"), 3, 3) == D("8.99")  # cumulative shares lose no cent
    assert unit_share(D("10.00"), 4, 0) == D("0.00")


def test_what_an_order_bills_never_goes_below_zero():
    assert billable([D("30.00"), D("10.00")], D("-5.00")) == D("35.00")
    assert billable([D("4.00")], D("-15.00")) == D("0.00")
    assert billable([], D("0")) == D("0.00")


@pytest.mark.parametrize(("worth", "invoiced", "credited", "left", "beyond"), [
    ("30.00", "0.00", "0.00", "30.00", "0.00"),    # nothing invoiced: all left to invoice, no credit owed
    ("20.00", "20.00", "0.00", "0.00", "0.00"),    # a partial shipment invoiced, the rest cancelled
    ("5.00", "20.00", "0.00", "0.00", "15.00"),    # invoiced ahead, then cancelled: credit the excess
    ("5.00", "20.00", "15.00", "0.00", "0.00"),    # … once
])
def test_a_credit_note_is_owed_only_for_money_invoiced_beyond_the_orders_worth(worth, invoiced, credited,
                                                                                left, beyond):
    assert left_to_invoice(D(worth), D(invoiced)) == D(left)
    assert invoiced_beyond(D(worth), D(invoiced), D(credited)) == D(beyond)


def test_order_credit_is_used_up_by_the_first_invoices():
    assert order_credit_used(D("0"), D("23.50"), D("-5.00")) == D("-5.00")
    assert order_credit_used(D("23.50"), D("57.00"), D("-5.00")) == D("0.00")
    assert order_credit_used(D("0"), D("10.00"), D("-30.00")) == D("-10.00")
    assert order_credit_used(D("10.00"), D("40.00"), D("-30.00")) == D("-20.00")
    assert order_credit_used(D("0"), D("10.00"), D("0")) == D("0.00")


def shipped(sku: str, price: str, quantity: int, goodwill: str, before: int, units: int) -> ShippedLine:
    return ShippedLine(sku, f"Item {sku}", D(price), quantity, D(price) * quantity, D(goodwill), before,
                       units)


def test_an_invoice_lists_each_shipped_line_and_reconciles_with_its_total():
    """3 × A at 10.00; 4 × B at 7.50 with 3.00 goodwill on the line; 5.00 goodwill on the order.
    The first shipment (1 A, 2 B) bills 10.00 + 15.00 − 1.50 − 5.00 = 18.50, as invoice_due does."""
    first = invoice_breakdown([shipped("A", "10.00", 3, "0", 0, 1), shipped("B", "7.50", 4, "-3.00", 0, 2)],
                              D("0"), D("-5.00"), D("18.50"))
    assert [(line.sku, line.quantity, line.value, line.goodwill, line.net) for line in first.lines] == [
        ("A", 1, D("10.00"), D("0.00"), D("10.00")), ("B", 2, D("15.00"), D("-1.50"), D("13.50"))]
    assert (first.goods, first.goodwill, first.order_credit, first.correction) == \
        (D("25.00"), D("-1.50"), D("-5.00"), D("0.00"))
    second = invoice_breakdown([shipped("A", "10.00", 3, "0", 1, 2), shipped("B", "7.50", 4, "-3.00", 2, 2)],
                               D("23.50"), D("-5.00"), D("33.50"))
    assert (second.goods, second.goodwill, second.order_credit, second.correction) == \
        (D("35.00"), D("-1.50"), D("0.00"), D("0.00"))


def test_rounding_follows_the_cumulative_shares_so_lines_still_add_up():
    one = invoice_breakdown([shipped("C", "3.33", 3, "-1.00", 0, 1)], D("0"), D("0"), D("3.00"))
    assert (one.lines[0].value, one.lines[0].goodwill, one.correction) == (D("3.33"), D("-0.33"), D("0.00"))
    rest = invoice_breakdown([shipped("C", "3.33", 3, "-1.00", 1, 2)], D("3.00"), D("0"), D("5.99"))
    assert (rest.lines[0].value, rest.lines[0].goodwill, rest.correction) == \
        (D("6.66"), D("-0.67"), D("0.00"))


def test_goodwill_granted_after_an_earlier_invoice_shows_as_a_correction():
    later = invoice_breakdown([shipped("D", "10.00", 2, "-4.00", 1, 1)], D("8.00"), D("0"), D("6.00"))
    assert (later.lines[0].net, later.correction) == (D("8.00"), D("-2.00"))
