"""Cancelling on-account units (DESIGN §7, issue 5): units never invoiced are simply not billed — the
order has less left to invoice and the buyer gets no credit note — and a credit note covers only money
already invoiced. The credit exposure follows: before and after a cancellation, before any invoice and
after a partial shipment was invoiced. SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Company, CreditNote, Invoice, Order, OrderAdjustment, OrderLine, User
from portal.services import (
    backorders,
    billing,
    carts,
    credit,
    invoices,
    ordering,
    payments,
    refunds,
    shipping,
)
from tests.factories import make_address, make_company, make_product, make_user, set_stock

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _backends(any_app):
    return any_app


def on_account(*items: tuple[str, int, int],
               company: Company | None = None) -> tuple[Order, Company, dict[str, OrderLine]]:
    """An on-account order of (price, units on the shelf, units ordered) per product; the rest waits."""
    if company is None:
        company = make_company(f"Co {uuid.uuid4().hex[:6]}", credit_limit=Decimal("10000"))
        make_address(company, is_default_shipping=True)
    user = make_user(company=company, email=f"{uuid.uuid4().hex[:8]}@example.com", password=None)
    products = []
    for price, shelf, _ in items:
        product = make_product(price=price, policy="allow")
        set_stock(product, shelf)
        products.append(product)
    carts.add_items(user.id, company.id, [(p.id, q) for p, (_, _, q) in zip(products, items, strict=True)])
    db.session.rollback()
    me, mine = db.session.get(User, user.id), db.session.get(Company, company.id)
    review = ordering.review_cart(me, mine, TODAY)
    order = ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)
    lines = {line.sku: line
             for line in db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))}
    return order, company, lines


def admin() -> User:
    return make_user("admin", email=f"admin-{uuid.uuid4().hex[:6]}@example.com")


def exposure(company: Company) -> Decimal:
    db.session.rollback()
    return credit.exposure(company.id)


def notes() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(CreditNote.id)))


def test_cancelling_before_any_invoice_lowers_exposure_by_its_value_and_issues_no_credit_note():
    order, company, lines = on_account(("7.50", 0, 4))
    (line,) = lines.values()
    assert exposure(company) == Decimal("30.00")
    done = backorders.cancel_and_settle(admin(), line.id, 3, "Not needed", TODAY)
    assert (done.settlement.kind, done.settlement.amount) == ("uninvoiced", Decimal("22.50"))
    assert exposure(company) == Decimal("7.50")
    assert notes() == 0
    assert [(o.number, o.amount) for o in billing.uninvoiced_orders(company.id)] == \
        [(order.number, Decimal("7.50"))]
    said = payments.payment_status(db.session.get(Order, order.id))
    assert "Cancelled items ($22.50) were never invoiced: they are not billed." in said
    assert "Credit note" not in said


def test_cancelling_a_whole_order_leaves_nothing_on_account_not_a_negative_balance():
    """A cancelled order counts for nothing: no credit note may outlive it as money owed to the buyer."""
    _, company, lines = on_account(("12.00", 0, 5))
    (line,) = lines.values()
    backorders.cancel_and_settle(admin(), line.id, 5, "Customer cancelled", TODAY)
    db.session.rollback()
    assert db.session.get(Order, line.order_id).status == "cancelled"
    assert exposure(company) == Decimal("0.00")
    assert notes() == 0


def test_cancelling_after_a_partial_shipment_was_invoiced_bills_only_what_shipped():
    """4 ordered, 2 on the shelf: the 2 ship and are invoiced; cancelling the 2 waiting leaves exactly the
    invoice on account, and the order's invoices add up to what the buyer received."""
    order, company, lines = on_account(("10.00", 2, 4))
    (line,) = lines.values()
    staff = admin()
    shipping.ship_order(staff, order.id, uuid.uuid4().hex, {line.id: 2}, "TRK-1", today=TODAY)
    assert exposure(company) == Decimal("40.00")  # 20.00 invoiced, 20.00 still to invoice
    done = backorders.cancel_and_settle(staff, line.id, 2, "Supplier discontinued it", TODAY)
    assert (done.settlement.kind, done.settlement.amount) == ("uninvoiced", Decimal("20.00"))
    assert exposure(company) == Decimal("20.00")
    assert notes() == 0
    assert billing.uninvoiced_orders(company.id) == []
    db.session.rollback()
    assert db.session.scalar(select(func.sum(Invoice.total)).where(Invoice.order_id == order.id)) == \
        Decimal("20.00")


def test_order_goodwill_larger_than_what_remains_never_makes_exposure_negative():
    order, company, lines = on_account(("10.00", 1, 4))
    (line,) = lines.values()
    with write_transaction() as s:
        s.add(OrderAdjustment(order_id=order.id, kind="manual_goodwill", description="Sorry",
                              amount=Decimal("-15.00"), status="approved"))
    staff = admin()
    shipping.ship_order(staff, order.id, uuid.uuid4().hex, {line.id: 1}, "TRK-1", today=TODAY)
    assert exposure(company) == Decimal("25.00")  # 40.00 − 15.00, nothing invoiced yet (10 − 15 < 0)
    backorders.cancel_and_settle(staff, line.id, 3, "Not needed", TODAY)
    assert exposure(company) == Decimal("0.00")
    assert notes() == 0


def test_a_credit_note_covers_only_money_already_invoiced():
    """Were an order invoiced ahead of shipping, cancelling units gives back exactly the invoiced part
    that the order is no longer worth, once; the credit note lowers the exposure."""
    order, company, lines = on_account(("5.00", 0, 6))
    (line,) = lines.values()
    invoices.invoice_shipment(order.id, None, Decimal("20.00"), TODAY)  # billed ahead: 4 of 6 units
    assert exposure(company) == Decimal("30.00")
    staff = admin()
    first = backorders.cancel_and_settle(staff, line.id, 2, "Fewer needed", TODAY)
    assert (first.settlement.kind, first.settlement.amount) == ("uninvoiced", Decimal("10.00"))
    second = backorders.cancel_and_settle(staff, line.id, 3, "Fewer still", TODAY)
    assert (second.settlement.kind, second.settlement.amount) == ("credit_note", Decimal("15.00"))
    key = f"line:{line.id}:cancelled:5"
    assert refunds.settle_cancellation(line.id, 3, key) == second.settlement  # a repeat finds the note
    assert notes() == 1
    assert exposure(company) == Decimal("5.00")  # invoice 20.00 − credit note 15.00
    said = payments.payment_status(db.session.get(Order, order.id))
    assert f"Credit note {second.settlement.reference}: $15.00 for invoiced items cancelled." in said


def test_the_credit_check_adds_up_to_the_statement_order_by_order():
    """``credit.exposure`` sums orders without cancelled units in the database and the rest in Python;
    the statement lists every order with its own rounding: the two agree to the cent."""
    staff = admin()
    plain, company, _ = on_account(("10.00", 5, 3))
    cut, _, cut_lines = on_account(("3.33", 0, 7), ("1.01", 2, 2), company=company)
    shipped, _, shipped_lines = on_account(("10.00", 2, 4), company=company)
    gifted, _, _ = on_account(("10.00", 0, 2), company=company)
    with write_transaction() as s:
        s.add(OrderAdjustment(order_id=gifted.id, kind="manual_goodwill", description="Sorry",
                              amount=Decimal("-25.00"), status="approved"))
        s.add(OrderAdjustment(order_id=cut.id, order_line_id=min(line.id for line in cut_lines.values()),
                              kind="manual_goodwill", description="Late", amount=Decimal("-1.00"),
                              status="approved"))
    (three_33,) = [line for line in cut_lines.values() if line.unit_price == Decimal("3.33")]
    backorders.cancel_and_settle(staff, three_33.id, 2, "Fewer needed", TODAY)
    (ten,) = shipped_lines.values()
    shipping.ship_order(staff, shipped.id, uuid.uuid4().hex, {ten.id: 2}, "TRK-9", today=TODAY)
    db.session.rollback()
    listed = {o.number: o.amount for o in billing.uninvoiced_orders(company.id)}
    assert plain.number in listed and cut.number in listed and gifted.number not in listed
    assert billing.uninvoiced_total(company.id) == sum(listed.values())
    assert credit.exposure(company.id) == sum(listed.values()) + Decimal("20.00")  # the open invoice
