"""A sales rep orders for a customer (issue 7, point 3): "Order for this customer" makes the cart, prices
and addresses the company's; the placed order belongs to the company and records the rep as the one who
placed it. Only the rep's own companies (admins: all); staff who chose no customer are sent to their
accounts; a rep who loses the account loses the choice."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Company, Order, PriceList
from tests.conftest import login, post_form
from tests.factories import make_address, make_company, make_product, make_user, set_stock
from tests.web.shopping import place_fields, words_of


@pytest.fixture
def account(app):
    """A rep, another rep, and the first rep's customer on a 10 % price list with a ship-to address."""
    rep = make_user("sales_rep", name="Rita Rep")
    other = make_user("sales_rep", name="Bob Rep")
    with write_transaction() as s:
        price_list = PriceList(name="Gold", discount_percent=Decimal("10"))
        s.add(price_list)
    company = make_company("Acme Hardware", sales_rep=rep, price_list_id=price_list.id)
    make_address(company, label="Depot", is_default_shipping=True)
    buyer = make_user(company=company)
    product = make_product(sku="WIDGET-1", name="Widget", price="20.00")
    set_stock(product, 50)
    return {"rep": rep, "other": other, "company": company, "buyer": buyer, "product": product}


def _client(app, user):
    client = app.test_client()
    login(client, user.email)
    return client


def test_a_rep_orders_for_their_customer_and_the_order_is_the_customers(app, account):
    rep = _client(app, account["rep"])
    company = account["company"]
    start = post_form(rep, f"/rep/companies/{company.id}/order", {})
    assert start.status_code == 302 and start.headers["Location"].endswith("/cart/quick")
    pad = rep.get("/cart/quick")
    assert "Ordering for Acme Hardware" in words_of(pad)
    added = post_form(rep, "/cart/quick", {"text": "WIDGET-1, 3"})
    assert added.status_code == 302
    cart = words_of(rep.get("/cart"))
    assert "$18.00" in cart  # the company's price list, not the list price
    review = rep.get("/checkout/review")
    assert review.status_code == 200 and "Depot" in words_of(review)
    placed = post_form(rep, "/checkout/place", place_fields(review.get_data(as_text=True)))
    assert placed.status_code == 302 and "/checkout/done/" in placed.headers["Location"]
    order = db.session.scalar(select(Order).order_by(Order.id.desc()))
    assert order.company_id == company.id and order.placed_by_id == account["rep"].id
    assert order.total == Decimal("54.00")
    # The customer's buyers see it among their orders, placed by the rep.
    buyer_view = words_of(_client(app, account["buyer"]).get(f"/account/orders/{order.number}"))
    assert "by Rita Rep" in buyer_view


def test_the_reps_cart_is_not_the_buyers(app, account):
    rep = _client(app, account["rep"])
    post_form(rep, f"/rep/companies/{account['company'].id}/order", {})
    post_form(rep, "/cart/quick", {"text": "WIDGET-1, 3"})
    buyer_cart = words_of(_client(app, account["buyer"]).get("/cart"))
    assert "WIDGET-1" not in buyer_cart


def test_a_rep_cannot_order_for_another_reps_customer(app, account):
    other = _client(app, account["other"])
    assert post_form(other, f"/rep/companies/{account['company'].id}/order", {}).status_code == 404
    assert other.get("/cart").status_code == 302  # still no customer chosen


def test_staff_who_chose_no_customer_are_sent_to_their_accounts(app, account):
    rep = _client(app, account["rep"])
    for url in ("/cart", "/cart/quick", "/checkout", "/checkout/review"):
        response = rep.get(url)
        assert response.status_code == 302 and response.headers["Location"].endswith("/rep/"), url


def test_a_rep_who_loses_the_account_loses_the_choice(app, account):
    rep = _client(app, account["rep"])
    post_form(rep, f"/rep/companies/{account['company'].id}/order", {})
    assert rep.get("/cart").status_code == 200
    with write_transaction() as s:
        s.get(Company, account["company"].id).sales_rep_id = account["other"].id
    assert rep.get("/cart").status_code == 302
    assert "Ordering for" not in words_of(rep.get("/rep/"))


def test_stopping_keeps_the_customers_cart_for_next_time(app, account):
    rep = _client(app, account["rep"])
    company_id = account["company"].id
    post_form(rep, f"/rep/companies/{company_id}/order", {})
    post_form(rep, "/cart/quick", {"text": "WIDGET-1, 2"})
    stop = post_form(rep, "/rep/ordering/stop", {})
    assert stop.status_code == 302 and stop.headers["Location"].endswith(f"/rep/companies/{company_id}")
    assert rep.get("/cart").status_code == 302
    post_form(rep, f"/rep/companies/{company_id}/order", {})
    assert "WIDGET-1" in words_of(rep.get("/cart"))


def test_the_customers_buyers_and_the_rep_get_the_confirmation(app, account):
    from portal.models import OutboxMessage

    rep = _client(app, account["rep"])
    post_form(rep, f"/rep/companies/{account['company'].id}/order", {})
    post_form(rep, "/cart/quick", {"text": "WIDGET-1, 1"})
    review = rep.get("/checkout/review")
    done = post_form(rep, "/checkout/place", place_fields(review.get_data(as_text=True)))
    assert "is placed for Acme Hardware" in words_of(rep.get(done.headers["Location"]))
    db.session.rollback()
    recipients = sorted(m.recipient_email for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.topic == "order_confirmed")))
    assert recipients == sorted([account["buyer"].email, account["rep"].email])
