"""On-account invoices per shipment and the manual payments staff record (DESIGN §7): due dates follow
the terms, one invoice per shipment, partial payments leave a balance, overpayments become credit."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditLog, Company, Invoice, User
from portal.services import ServiceError, carts, credit, invoices, ordering
from tests.factories import make_address, make_company, make_product, make_shipment, make_user, set_stock

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _backends(any_app):
    return any_app


def on_account_order(terms: str = "net30", price: str = "50.00"):
    company = make_company(f"Co {uuid.uuid4().hex[:6]}", payment_terms=terms)
    make_address(company, is_default_shipping=True)
    user = make_user(company=company, email=f"{uuid.uuid4().hex[:8]}@example.com", password=None)
    product = make_product(price=price)
    set_stock(product, 10)
    carts.add_items(user.id, company.id, [(product.id, 2)])
    db.session.rollback()
    me, mine = db.session.get(User, user.id), db.session.get(Company, company.id)
    review = ordering.review_cart(me, mine, TODAY)
    return ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY), company


@pytest.mark.parametrize(("terms", "days"), [("net15", 15), ("net30", 30), ("net60", 60)])
def test_an_invoice_is_due_on_the_companys_terms(terms, days):
    order, _ = on_account_order(terms)
    invoice = invoices.invoice_shipment(order.id, make_shipment(order.id), Decimal("50.00"), TODAY)
    assert invoice.number == f"INV-{invoice.id:05d}"
    assert invoice.due_on == TODAY + timedelta(days=days)


def test_a_shipment_is_invoiced_once_and_the_order_is_not_counted_twice():
    order, company = on_account_order()
    shipment = make_shipment(order.id)
    first = invoices.invoice_shipment(order.id, shipment, Decimal("50.00"), TODAY)
    again = invoices.invoice_shipment(order.id, shipment, Decimal("50.00"), TODAY)
    assert first.id == again.id
    db.session.rollback()
    assert db.session.scalar(select(func.count(Invoice.id))) == 1
    assert credit.exposure(company.id) == Decimal("100.00")


def test_part_payment_leaves_a_balance_and_overpayment_becomes_credit():
    order, company = on_account_order()
    staff = make_user("sales_rep", email=f"rep-{uuid.uuid4().hex[:6]}@example.com")
    invoice = invoices.invoice_shipment(order.id, make_shipment(order.id), Decimal("100.00"), TODAY)
    part = invoices.record_payment(staff, invoice.id, "bank_transfer", "TRX-1", Decimal("40.00"), TODAY)
    db.session.rollback()
    assert part.applied == Decimal("40.00")
    assert (db.session.get(Invoice, invoice.id).status, db.session.get(Invoice, invoice.id).balance) == (
        "open", Decimal("60.00"))
    over = invoices.record_payment(staff, invoice.id, "cheque", "100234", Decimal("75.00"), TODAY)
    db.session.rollback()
    paid = db.session.get(Invoice, invoice.id)
    assert (over.applied, paid.status, paid.balance) == (Decimal("60.00"), "paid", Decimal("0.00"))
    assert credit.exposure(company.id) == Decimal("-15.00")  # 15.00 credit on the account
    assert db.session.scalar(select(func.count(AuditLog.id))
                             .where(AuditLog.action == "manual_payment_recorded")) == 2


def test_bad_payments_are_refused_and_change_nothing():
    order, _ = on_account_order()
    staff = make_user("admin", email=f"a-{uuid.uuid4().hex[:6]}@example.com")
    invoice = invoices.invoice_shipment(order.id, make_shipment(order.id), Decimal("100.00"), TODAY)
    for method, amount in (("cash", Decimal("10")), ("cheque", Decimal("0")), ("cheque", Decimal("-5"))):
        with pytest.raises(ServiceError):
            invoices.record_payment(staff, invoice.id, method, "", amount, TODAY)
    db.session.rollback()
    assert db.session.get(Invoice, invoice.id).amount_paid == Decimal("0.00")


def test_an_invoice_past_its_due_date_is_overdue_until_paid():
    order, _ = on_account_order("net15")
    invoice = invoices.invoice_shipment(order.id, make_shipment(order.id), Decimal("10.00"), TODAY)
    assert not invoice.is_overdue(TODAY + timedelta(days=15))
    assert invoice.is_overdue(TODAY + timedelta(days=16))


def test_each_shipment_of_an_on_account_order_is_invoiced_for_what_it_ships():
    """Shipping invoices the shipment: the shipped units' value, the order's own goodwill used up first;
    the invoices of a fully shipped order add up to its total."""
    from portal.database import write_transaction
    from portal.models import OrderAdjustment, OrderLine
    from portal.services import shipping

    order, company = on_account_order(price="50.00")
    line = db.session.scalar(select(OrderLine).where(OrderLine.order_id == order.id))
    with write_transaction() as s:
        s.add(OrderAdjustment(order_id=order.id, kind="manual_goodwill", description="Sorry for the wait",
                              amount=Decimal("-30.00"), status="approved"))
    admin = make_user("admin", email=f"admin-{uuid.uuid4().hex[:6]}@example.com")
    first = shipping.ship_order(admin, order.id, uuid.uuid4().hex, {line.id: 1}, "TRK-1", today=TODAY)
    token = uuid.uuid4().hex
    second = shipping.ship_order(admin, order.id, token, {line.id: 1}, "TRK-2", today=TODAY)
    again = shipping.ship_order(admin, order.id, token, {line.id: 1}, "TRK-2", today=TODAY)  # double submit
    db.session.rollback()
    billed = {i.shipment_id: i.total for i in db.session.scalars(select(Invoice))}
    assert billed == {first.id: Decimal("20.00"), second.id: Decimal("50.00")} and again.id == second.id
    assert all(i.due_on == TODAY + timedelta(days=30) for i in db.session.scalars(select(Invoice)))


def test_nothing_shipped_means_nothing_due():
    from portal.services import shipping

    order, _ = on_account_order()
    assert shipping.invoice_due(order.id) == Decimal("0.00")
