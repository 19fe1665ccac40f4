"""Reading placed orders on both backends: scope, the list's filters (hidden backorders stay hidden from
buyers), newest first, and one order's lines and adjustments as each reader sees them."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Company, Order, User
from portal.services import carts, goodwill_rules, order_history, ordering
from portal.services.goodwill_rules import RuleData
from tests.factories import make_address, make_company, make_product, make_user, make_vendor, set_stock
from tests.invariants import assert_invariants

TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _invariants(any_app):
    yield
    assert_invariants()


def buyer_of(company: Company) -> User:
    make_address(company, is_default_shipping=True)
    return make_user(company=company, email=f"{uuid.uuid4().hex[:8]}@example.com")


def place(user: User, *items) -> str:
    carts.add_items(user.id, user.company_id, [(p.id, q) for p, q in items])
    db.session.rollback()
    me = db.session.get(User, user.id)
    review = ordering.review_cart(me, db.session.get(Company, user.company_id), TODAY)
    return ordering.place_order(me, user.company_id, uuid.uuid4().hex, review.fingerprint, TODAY).number


def numbers(page: order_history.OrderPage) -> list[str]:
    return [row.order.number for row in page.rows]


def test_each_reader_lists_the_orders_in_reach_with_the_backorders_they_are_told_of():
    rep, other_rep = make_user("sales_rep"), make_user("sales_rep")
    admin = make_user("admin")
    mine, theirs = make_company("Mine", sales_rep=rep), make_company("Theirs", sales_rep=other_rep)
    buyer, other_buyer = buyer_of(mine), buyer_of(theirs)
    vendor = make_vendor(lead_time_days=10)
    plenty = make_product(sku="PLENTY")
    shown = make_product(sku="SHOWN", policy="allow", vendor=vendor)
    hidden = make_product(sku="HIDDEN", policy="allow", vendor=vendor, backorder_visibility="hide")
    for product in (plenty, shown, hidden):
        set_stock(product, 50 if product is plenty else 0)
    in_stock = place(buyer, (plenty, 1))
    backordered = place(buyer, (shown, 2))
    secret = place(buyer, (hidden, 2))
    elsewhere = place(other_buyer, (plenty, 1))
    with write_transaction() as s:
        # The status alone is what the filter reads (shipping itself comes later).
        s.scalar(select(Order).where(Order.number == in_stock)).status = "shipped"
    db.session.rollback()

    def listing(user: User, status: str = "") -> list[str]:
        return numbers(order_history.list_orders(db.session.get(User, user.id), status))

    assert listing(buyer) == [secret, backordered, in_stock]
    assert listing(rep) == [secret, backordered, in_stock]
    assert listing(other_rep) == [elsewhere]
    assert listing(admin) == [elsewhere, secret, backordered, in_stock]
    assert listing(buyer, "backordered") == [backordered]
    assert listing(rep, "backordered") == [secret, backordered]
    assert listing(buyer, "open") == [secret, backordered]
    assert listing(buyer, "shipped") == [in_stock]
    rows = {row.order.number: row for row in order_history.list_orders(db.session.get(User, buyer.id)).rows}
    assert (rows[secret].backordered, rows[backordered].backordered) == (False, True)
    assert rows[secret].line_count == 1
    assert rows[secret].company_name == "Mine"


def test_an_orders_detail_explains_each_adjustment_with_its_rule():
    admin = make_user("admin")
    goodwill_rules.create_rule(admin, RuleData("Slow stock", "percent_off_late_backorder", days=3,
                                               percent=Decimal("10")))
    buyer = buyer_of(make_company("Mine"))
    product = make_product(sku="SLOW", policy="allow", vendor=make_vendor(lead_time_days=10), price="8.00")
    set_stock(product, 1)
    number = place(buyer, (product, 6))
    order = db.session.scalar(select(Order).where(Order.number == number))
    detail = order_history.order_detail(order, staff=False)
    ((row,),) = [detail.lines]
    assert (row.view.ships_now, row.view.backordered, row.view.eta_estimated) == (1, 5, True)
    (adjustment,) = detail.adjustments
    assert (adjustment.description, adjustment.sku) == ("Slow stock", "SLOW")
    assert adjustment.amount == Decimal("-4.00")
    assert adjustment.rule_text == "10% off backordered units whose ETA is more than 3 days away"
    assert (order.subtotal, order.total) == (Decimal("48.00"), Decimal("44.00"))
