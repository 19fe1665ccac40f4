"""Placing orders: allocation, backorders, caps, deadlines, goodwill, stale reviews and double submits.

Every test runs on SQLite and PostgreSQL and ends by asserting the invariants of DESIGN §5.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Cart, GoodwillRule, Order, OrderLine, OutboxMessage, Stock
from portal.services import carts, ordering
from tests.factories import make_address, make_company, make_product, make_user, make_vendor, set_stock

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _backends(any_app):
    """Every test here runs on SQLite and PostgreSQL; tests/integration/conftest.py checks invariants."""
    return any_app


def buyer(name: str = "Acme"):
    company = make_company(name)
    make_address(company, is_default_shipping=True)
    return make_user(company=company, email=f"{uuid.uuid4().hex[:8]}@example.com"), company


def fill_cart(user, company, *items, need_by=None):
    carts.add_items(user.id, company.id, [(p.id, q) for p, q in items])
    if need_by is not None:
        cart = carts.find_cart(user.id, company.id)
        carts.save_details(user.id, company.id, carts.CheckoutDetails(
            cart.ship_to_id, "PO-77", need_by, "ship_partial"))


def reviewed(user, company):
    db.session.rollback()
    me, mine = db.session.get(type(user), user.id), db.session.get(type(company), company.id)
    return ordering.review_cart(me, mine, TODAY)


def place(user, company, token=None):
    review = reviewed(user, company)
    me = db.session.get(type(user), user.id)
    return ordering.place_order(me, company.id, token or uuid.uuid4().hex, review.fingerprint, TODAY)


def stock_of(product) -> Stock:
    db.session.rollback()
    return db.session.scalar(select(Stock).where(Stock.product_id == product.id))


def test_in_stock_units_are_allocated_and_the_cart_emptied():
    user, company = buyer()
    product = make_product(price="2.50")
    set_stock(product, 5)
    fill_cart(user, company, (product, 3))
    order = place(user, company)
    assert order.number == f"SO-{order.id:05d}"
    line = db.session.scalar(select(OrderLine))
    assert (line.allocated, line.backordered, line.line_total) == (3, 0, Decimal("7.50"))
    assert stock_of(product).allocated == 3
    assert carts.find_cart(user.id, company.id).lines == []
    message = db.session.scalar(select(OutboxMessage))
    assert message.topic == "order_confirmed" and json.loads(message.payload)["order_number"] == order.number


def test_the_remainder_is_backordered_with_an_estimated_eta_when_no_po_covers_it():
    user, company = buyer()
    product = make_product(policy="allow", vendor=make_vendor(lead_time_days=12))
    set_stock(product, 4)
    fill_cart(user, company, (product, 10))
    place(user, company)
    line = db.session.scalar(select(OrderLine))
    assert (line.allocated, line.backordered) == (4, 6)
    assert line.eta == TODAY + timedelta(days=12) and line.eta_estimated


def test_block_policy_rejects_quantity_beyond_available_and_writes_nothing():
    user, company = buyer()
    product = make_product(policy="block")
    set_stock(product, 2)
    fill_cart(user, company, (product, 5))
    with pytest.raises(ordering.CheckoutRejected, match="Only 2 in stock"):
        place(user, company)
    assert db.session.scalar(select(func.count(Order.id))) == 0
    assert stock_of(product).allocated == 0
    assert len(carts.find_cart(user.id, company.id).lines) == 1


def test_every_failing_line_is_reported_at_once():
    user, company = buyer()
    a, b = make_product(policy="block"), make_product(policy="block", order_multiple=6)
    set_stock(a, 0)
    set_stock(b, 100)
    fill_cart(user, company, (a, 1), (b, 5))
    with pytest.raises(ordering.CheckoutRejected) as caught:
        place(user, company)
    skus = {line.sku for line, _ in caught.value.problems if line}
    assert skus == {a.sku, b.sku}


def test_a_cap_limits_backorders_across_all_open_orders():
    product = make_product(policy="allow_up_to", cap=5)
    set_stock(product, 0)
    first, first_company = buyer("First")
    fill_cart(first, first_company, (product, 3))
    place(first, first_company)
    second, second_company = buyer("Second")
    fill_cart(second, second_company, (product, 3))
    with pytest.raises(ordering.CheckoutRejected, match="only 2 can be backordered"):
        place(second, second_company)


def test_a_review_made_before_someone_else_took_the_stock_is_outdated():
    product = make_product(policy="allow")
    set_stock(product, 3)
    late, late_company = buyer("Late")
    fill_cart(late, late_company, (product, 3))
    stale = reviewed(late, late_company)
    early, early_company = buyer("Early")
    fill_cart(early, early_company, (product, 2))
    place(early, early_company)
    with pytest.raises(ordering.ReviewOutdated) as caught:
        ordering.place_order(db.session.get(type(late), late.id), late_company.id, uuid.uuid4().hex,
                             stale.fingerprint, TODAY)
    (line,) = caught.value.lines
    assert (line.allocate, line.backorder) == (1, 2)
    assert db.session.scalar(select(func.count(Order.id))) == 1


def test_a_double_submit_returns_the_same_order_and_allocates_once():
    user, company = buyer()
    product = make_product()
    set_stock(product, 5)
    fill_cart(user, company, (product, 2))
    review = reviewed(user, company)
    me = db.session.get(type(user), user.id)
    first = ordering.place_order(me, company.id, "token-1", review.fingerprint, TODAY)
    second = ordering.place_order(me, company.id, "token-1", review.fingerprint, TODAY)
    assert first.id == second.id
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert stock_of(product).allocated == 2


def test_another_users_token_is_refused():
    user, company = buyer("Mine")
    other, other_company = buyer("Theirs")
    product = make_product()
    set_stock(product, 5)
    fill_cart(user, company, (product, 1))
    fill_cart(other, other_company, (product, 1))
    review = reviewed(user, company)
    ordering.place_order(db.session.get(type(user), user.id), company.id, "shared", review.fingerprint, TODAY)
    with pytest.raises(ordering.ServiceError, match="expired"):
        ordering.place_order(db.session.get(type(other), other.id), other_company.id, "shared",
                             reviewed(other, other_company).fingerprint, TODAY)


def test_a_backorder_past_the_deadline_needs_the_buyers_decision():
    user, company = buyer()
    product = make_product(policy="allow", vendor=make_vendor(lead_time_days=20))
    set_stock(product, 0)
    fill_cart(user, company, (product, 2), need_by=TODAY + timedelta(days=5))
    with pytest.raises(ordering.CheckoutRejected, match="after your deadline"):
        place(user, company)
    cart = carts.find_cart(user.id, company.id)
    carts.accept_late(user.id, company.id, cart.lines[0].id)
    place(user, company)
    line = db.session.scalar(select(OrderLine))
    assert line.accepted_late and line.need_by == TODAY + timedelta(days=5)


def test_goodwill_rules_apply_and_are_recorded_with_the_rule():
    with write_transaction() as session:
        session.add(GoodwillRule(name="5% off long waits", kind="percent_off_late_backorder", days=14,
                                 percent=Decimal("5")))
        session.add(GoodwillRule(name="Missed deadline credit", kind="credit_missed_deadline",
                                 amount=Decimal("10.00")))
    user, company = buyer()
    product = make_product(policy="allow", price="20.00", vendor=make_vendor(lead_time_days=30))
    set_stock(product, 0)
    fill_cart(user, company, (product, 10), need_by=TODAY + timedelta(days=7))
    carts.accept_late(user.id, company.id, carts.find_cart(user.id, company.id).lines[0].id)
    order = place(user, company)
    db.session.rollback()
    order = db.session.get(Order, order.id)
    assert sorted((a.description, a.amount) for a in order.adjustments) == [
        ("5% off long waits", Decimal("-10.00")), ("Missed deadline credit", Decimal("-10.00"))]
    assert all(a.rule_id for a in order.adjustments)
    assert (order.subtotal, order.adjustments_total, order.total) == (
        Decimal("200.00"), Decimal("-20.00"), Decimal("180.00"))


def test_an_empty_cart_cannot_be_placed():
    user, company = buyer()
    with write_transaction() as session:
        session.add(Cart(user_id=user.id, company_id=company.id))
    with pytest.raises(ordering.CheckoutRejected, match="empty"):
        ordering.place_order(db.session.get(type(user), user.id), company.id, "t", [], TODAY)
