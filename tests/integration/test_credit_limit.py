"""On-account orders within the credit limit (DESIGN §7): exposure = open invoices + uninvoiced orders
+ this order; at the limit is fine, a cent over is refused with the amount over; a rep's exception
lets one order through; concurrent orders cannot together pass the limit. SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import AuditLog, Company, CreditException, Invoice, ManualPayment, Order, User
from portal.services import ServiceError, carts, credit, ordering
from tests.factories import make_address, make_company, make_product, make_user, set_stock

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _backends(any_app):
    return any_app


def buyer(limit: str, terms: str = "net30"):
    company = make_company(f"Co {uuid.uuid4().hex[:6]}", credit_limit=Decimal(limit), payment_terms=terms)
    make_address(company, is_default_shipping=True)
    return make_user(company=company, email=f"{uuid.uuid4().hex[:8]}@example.com", password=None), company


def order_for(user, company, product, quantity: int, token: str | None = None) -> Order:
    carts.add_items(user.id, company.id, [(product.id, quantity)])
    db.session.rollback()
    me, mine = db.session.get(User, user.id), db.session.get(Company, company.id)
    review = ordering.review_cart(me, mine, TODAY)
    return ordering.place_order(me, company.id, token or uuid.uuid4().hex, review.fingerprint, TODAY)


def stocked(price: str, units: int = 1000):
    product = make_product(price=price)
    set_stock(product, units)
    return product


@pytest.mark.parametrize(("quantity", "placed"), [(10, True), (9, True), (11, False)])
def test_an_order_up_to_the_limit_is_placed_and_a_cent_over_is_refused(quantity, placed):
    user, company = buyer("100.00")
    existing = stocked("0.99")
    order_for(user, company, existing, 1)  # 0.99 already on account
    product = stocked("9.901")  # priced 9.90 (rounded half up): 10 units + 0.99 = 99.99 ≤ 100.00
    if placed:
        assert order_for(user, company, product, quantity).total == Decimal("9.90") * quantity
        return
    with pytest.raises(ordering.CheckoutRejected, match=r"\$9\.89 over your credit limit of \$100\.00"):
        order_for(user, company, product, quantity)
    db.session.rollback()
    assert db.session.scalar(select(func.count(Order.id))) == 1


def test_exactly_at_the_limit_is_allowed():
    user, company = buyer("50.00")
    product = stocked("25.00")
    order_for(user, company, product, 2)
    assert credit.exposure(company.id) == Decimal("50.00")


def test_open_invoices_count_and_paid_ones_and_overpayments_do_not():
    user, company = buyer("100.00")
    order = order_for(user, company, stocked("60.00"), 1)
    with write_transaction() as s:
        s.add(Invoice(number="INV-T1", company_id=company.id, order_id=order.id, issued_on=TODAY,
                      due_on=TODAY + timedelta(days=30), total=Decimal("60.00")))
    db.session.rollback()
    assert credit.exposure(company.id) == Decimal("60.00")  # invoiced, not counted twice
    with write_transaction() as s:
        invoice = s.scalar(select(Invoice))
        invoice.amount_paid, invoice.status = Decimal("60.00"), "paid"
        s.add(ManualPayment(company_id=company.id, invoice_id=invoice.id, method="cheque", reference="1001",
                            amount=Decimal("70.00"), applied=Decimal("60.00"), received_on=TODAY))
    db.session.rollback()
    assert credit.exposure(company.id) == Decimal("-10.00")  # 10.00 credit on account


def test_card_only_terms_refuse_on_account_orders():
    user, company = buyer("1000.00", terms="card_only")
    with pytest.raises(ordering.CheckoutRejected, match="pays by card"):
        order_for(user, company, stocked("1.00"), 1)


def test_a_credit_exception_lets_one_order_over_and_is_audit_logged():
    user, company = buyer("10.00")
    rep = make_user("sales_rep", email=f"rep-{uuid.uuid4().hex[:6]}@example.com")
    with pytest.raises(ServiceError):
        credit.grant_exception(rep, company.id, Decimal("5.00"), "  ")
    credit.grant_exception(rep, company.id, Decimal("5.00"), "Seasonal stock-up, agreed by phone")
    product = stocked("14.00")
    order = order_for(user, company, product, 1)  # 4.00 over, within the exception
    db.session.rollback()
    used = db.session.scalar(select(CreditException))
    assert used.used_by_order_id == order.id
    actions = set(db.session.scalars(select(AuditLog.action)))
    assert {"credit_exception_granted", "credit_exception_used"} <= actions
    with pytest.raises(ordering.CheckoutRejected, match="over your credit limit"):
        order_for(user, company, product, 1)  # the exception is spent


def test_concurrent_orders_cannot_together_exceed_the_limit(any_app):
    """Five buyers of one company, 30.00 each, limit 100.00: exactly three orders go through."""
    company = make_company(f"Co {uuid.uuid4().hex[:6]}", credit_limit=Decimal("100.00"))
    make_address(company, is_default_shipping=True)
    product = stocked("30.00")
    users = [make_user(company=company, email=f"{uuid.uuid4().hex[:8]}@example.com", password=None)
             for _ in range(5)]
    for user in users:
        carts.add_items(user.id, company.id, [(product.id, 1)])
    barrier = threading.Barrier(len(users))
    results: list[str] = [""] * len(users)

    def place(index: int, user_id: int) -> None:
        with any_app.app_context():
            try:
                me, mine = db.session.get(User, user_id), db.session.get(Company, company.id)
                review = ordering.review_cart(me, mine, TODAY)
                db.session.rollback()
                barrier.wait()
                ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)
                results[index] = "ordered"
            except ordering.CheckoutRejected as exc:
                results[index] = "over" if "credit limit" in str(exc) else repr(exc)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion
                results[index] = repr(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=place, args=(i, u.id)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == ["ordered"] * 3 + ["over"] * 2, results
    db.session.rollback()
    assert credit.exposure(company.id) == Decimal("90.00")
