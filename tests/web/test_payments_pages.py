"""Payments through the web: payment methods, paying by card at checkout (a decline is said plainly and
places nothing), the credit limit on the review page, the statement, the webhook endpoint, and the
admin's note when Stripe is off. Card tests run against localstripe."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import CardCharge, Company, PaymentCard
from portal.services import cards
from tests.conftest import login, post_form
from tests.factories import make_product, make_shipment, make_user, set_stock
from tests.invariants import assert_invariants
from tests.localstripe import (
    DECLINED_ON_CHARGE,
    browser_confirms_setup,
    localstripe_url,  # noqa: F401 - the fixture
    signed,
    stripe_settings,
)
from tests.web.shopping import order_count, place_from_review, shopper, text_of, words_of
from tests.web.site import db_snapshot

_SECRET = re.compile(r'data-client-secret="([^"]+)"')


@pytest.fixture(autouse=True)
def _invariants(app):
    yield
    assert_invariants()


@pytest.fixture
def stripe_app(app, localstripe_url):  # noqa: F811
    app.config.update(stripe_settings(localstripe_url))
    app.extensions.pop("stripe_client", None)
    return app


def add_card(buyer, url: str, number: str = "4242424242424242"):
    """The buyer's browser: "Add a card", Stripe.js confirms, the page posts the SetupIntent back."""
    page = post_form(buyer.client, "/account/payment-methods/new")
    assert page.status_code == 200
    secret = _SECRET.search(text_of(page)).group(1)
    browser_confirms_setup(url, secret, number)
    saved = post_form(buyer.client, "/account/payment-methods/saved",
                      {"setup_intent": secret.split("_secret_")[0]})
    assert saved.status_code == 302
    db.session.rollback()
    return db.session.scalar(select(PaymentCard).where(PaymentCard.company_id == buyer.company.id)
                             .order_by(PaymentCard.id.desc()))


def choose_card(buyer, card) -> None:
    response = post_form(buyer.client, "/checkout", {
        "ship_to": str(buyer.address.id), "shipping_preference": "ship_partial", "payment_method": "card",
        "payment_card": str(card.id)})
    assert response.status_code == 302, text_of(response)


def test_a_buyer_saves_lists_and_removes_a_card(stripe_app, localstripe_url):  # noqa: F811
    buyer = shopper(stripe_app)
    card = add_card(buyer, localstripe_url)
    page = words_of(buyer.client.get("/account/payment-methods"))
    assert "Visa ending 4242" in page and "12/2030" in page
    response = post_form(buyer.client, f"/account/payment-methods/{card.id}/remove")
    assert response.status_code == 302
    assert "No saved cards" in words_of(buyer.client.get("/account/payment-methods"))


def test_another_companys_card_is_404_to_remove_and_refused_at_checkout(stripe_app, localstripe_url):  # noqa: F811
    owner, other = shopper(stripe_app), shopper(stripe_app)
    card = add_card(owner, localstripe_url)
    other.fill((make_product(sku="X-1"), 1))
    before = db_snapshot()
    assert post_form(other.client, f"/account/payment-methods/{card.id}/remove").status_code == 404
    response = post_form(other.client, "/checkout", {
        "ship_to": str(other.address.id), "shipping_preference": "ship_partial", "payment_method": "card",
        "payment_card": str(card.id)})
    assert response.status_code == 422
    assert db_snapshot() == before


def test_a_setup_intent_of_another_company_is_404(stripe_app, localstripe_url):  # noqa: F811
    owner, other = shopper(stripe_app), shopper(stripe_app)
    page = post_form(owner.client, "/account/payment-methods/new")
    secret = _SECRET.search(text_of(page)).group(1)
    browser_confirms_setup(localstripe_url, secret)
    post_form(other.client, "/account/payment-methods/new")  # the other company has a customer too
    response = post_form(other.client, "/account/payment-methods/saved",
                         {"setup_intent": secret.split("_secret_")[0]})
    assert response.status_code == 404
    db.session.rollback()
    assert db.session.scalar(select(PaymentCard.id)) is None


def test_paying_by_card_at_order_places_a_paid_order(stripe_app, localstripe_url):  # noqa: F811
    buyer = shopper(stripe_app)
    card = add_card(buyer, localstripe_url)
    product = make_product(sku="PAY-1", price="20.00")
    set_stock(product, 5)
    buyer.fill((product, 2))
    choose_card(buyer, card)
    review = words_of(buyer.client.get("/checkout/review"))
    assert "Visa ending 4242" in review and "Place order and pay $40.00" in review
    response = place_from_review(buyer)
    assert response.status_code == 302 and "/checkout/done/" in response.location
    db.session.rollback()
    charge = db.session.scalar(select(CardCharge))
    assert (charge.status, charge.amount) == ("succeeded", Decimal("40.00"))
    order_page = words_of(buyer.client.get(response.location))
    assert "Paid $40.00 by card" in order_page


def test_a_declined_card_is_said_plainly_and_nothing_is_ordered(stripe_app, localstripe_url):  # noqa: F811
    buyer = shopper(stripe_app)
    card = add_card(buyer, localstripe_url, DECLINED_ON_CHARGE)
    product = make_product(sku="PAY-2", price="20.00")
    set_stock(product, 5)
    buyer.fill((product, 1))
    choose_card(buyer, card)
    response = place_from_review(buyer)
    assert response.status_code == 409
    words = words_of(response)
    assert "Your payment did not go through, so the order was not placed" in words
    assert "Your card was declined" in words
    assert order_count() == 0


def test_a_tampered_place_form_is_refused_before_any_charge(stripe_app, localstripe_url):  # noqa: F811
    buyer = shopper(stripe_app)
    card = add_card(buyer, localstripe_url)
    product = make_product(sku="PAY-3", price="20.00")
    set_stock(product, 5)
    buyer.fill((product, 1))
    choose_card(buyer, card)
    before = db_snapshot()
    response = place_from_review(buyer, reviewed="tampered")
    assert response.status_code == 400
    assert db_snapshot() == before


def test_over_the_credit_limit_the_review_says_by_how_much(app):
    buyer = shopper(app)
    with write_transaction() as s:
        s.get(Company, buyer.company.id).credit_limit = Decimal("25.00")
    product = make_product(sku="BIG", price="30.00")
    set_stock(product, 5)
    buyer.fill((product, 1))
    words = words_of(buyer.client.get("/checkout/review"))
    assert "This order is $5.00 over your credit limit of $25.00" in words
    assert "Pay by card" in words
    assert 'id="place-form"' not in buyer.client.get("/checkout/review").get_data(as_text=True)


def test_the_statement_shows_the_credit_position(app):
    buyer = shopper(app)
    words = words_of(buyer.client.get("/account/statement"))
    assert "Credit limit $5,000.00" in words and "Available $5,000.00" in words


def test_the_admin_is_told_when_card_payments_are_off(app):
    admin = make_user("admin", email="boss@example.com")
    client = app.test_client()
    login(client, admin.email)
    assert "Card payments are off" in words_of(client.get("/admin/"))


def test_the_webhook_accepts_a_signed_event_once(stripe_app):
    client = stripe_app.test_client()
    payload = json.dumps({"id": "evt_web_1", "type": "customer.created",
                          "data": {"object": {"id": "cus_x"}}}).encode()
    headers = {"Stripe-Signature": signed(payload)}
    first = client.post("/stripe/webhook", data=payload, content_type="application/json", headers=headers)
    again = client.post("/stripe/webhook", data=payload, content_type="application/json", headers=headers)
    assert first.get_json() == {"received": True, "duplicate": False}
    assert again.get_json() == {"received": True, "duplicate": True}
    assert cards.active_cards(0) == []


def test_a_rep_approves_an_exception_and_records_a_payment_the_buyer_sees(app):
    from datetime import date, timedelta

    from portal.models import Company as CompanyModel
    from portal.services import invoices

    rep = make_user("sales_rep", email="rita@example.com")
    buyer = shopper(app)
    with write_transaction() as s:
        s.get(CompanyModel, buyer.company.id).sales_rep_id = rep.id
    product = make_product(sku="INV-1", price="30.00")
    set_stock(product, 5)
    buyer.fill((product, 1))
    assert place_from_review(buyer).status_code == 302
    db.session.rollback()
    from portal.models import Order
    order = db.session.scalar(select(Order))
    invoice = invoices.invoice_shipment(order.id, make_shipment(order.id), Decimal("30.00"),
                                        date.today() - timedelta(days=40))
    assert "Overdue" in words_of(buyer.client.get("/account/statement"))

    staff = stripe_free_client(app, rep.email)
    page = f"/rep/companies/{buyer.company.id}/credit"
    assert "Total $30.00" in words_of(staff.get(page))
    refused = post_form(staff, f"/rep/companies/{buyer.company.id}/credit-exceptions", {"amount": "20"})
    assert refused.status_code == 422 and "Give a reason" in words_of(refused)
    granted = post_form(staff, f"/rep/companies/{buyer.company.id}/credit-exceptions",
                        {"amount": "20", "reason": "Trade show order"})
    assert granted.status_code == 302
    paid = post_form(staff, f"/rep/invoices/{invoice.id}/payments", {
        f"pay-{invoice.id}-method": "cheque", f"pay-{invoice.id}-reference": "100200",
        f"pay-{invoice.id}-amount": "35.00", f"pay-{invoice.id}-received_on": date.today().isoformat()})
    assert paid.status_code == 302
    words = words_of(staff.get(page))
    assert "Up to $20.00 over the limit for one order: Trade show order" in words
    statement = words_of(buyer.client.get("/account/statement"))
    assert "Overdue invoices None" in statement and invoice.number in statement


def stripe_free_client(app, email):
    client = app.test_client()
    login(client, email)
    return client


def test_a_due_shipment_payment_is_paid_from_the_order_page(stripe_app, localstripe_url):  # noqa: F811
    from portal.models import Order
    from portal.services import payments

    buyer = shopper(stripe_app)
    with write_transaction() as s:
        s.get(Company, buyer.company.id).charge_policy = "at_shipment"
    declined = add_card(buyer, localstripe_url, DECLINED_ON_CHARGE)
    product = make_product(sku="SHIP-1", price="12.00")
    set_stock(product, 5)
    buyer.fill((product, 1))
    choose_card(buyer, declined)
    assert place_from_review(buyer).status_code == 302
    db.session.rollback()
    order = db.session.scalar(select(Order))
    due = payments.charge_shipment(order.id, "t7", Decimal("12.00"))
    page = f"/account/orders/{order.number}"
    assert "Payment due for goods we are shipping" in words_of(buyer.client.get(page))
    good = add_card(buyer, localstripe_url)
    response = post_form(buyer.client, f"{page}/payments/{due.charge_id}", {"card_id": str(good.id)})
    assert response.status_code == 302
    words = words_of(buyer.client.get(page))
    assert "the payment went through" in words and "Payment due" not in words
    assert "$12.00 paid so far" in words
