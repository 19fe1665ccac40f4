"""The shipping page of a card order charged per shipment (against localstripe): a declined charge shows
the shipment as waiting for payment with the override form; the override needs a reason; a paid one
ships with one click. The buyer sees the payment due on the order page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import CardCharge, Company, Order, OrderLine, PlannedShipment, Shipment
from portal.services import payment_due
from tests.conftest import login, post_form
from tests.factories import make_product, make_user, set_stock
from tests.invariants import assert_invariants
from tests.localstripe import DECLINED_ON_CHARGE, localstripe_url  # noqa: F401 - the fixture
from tests.web.shopping import place_from_review, shopper, text_of, words_of
from tests.web.test_payments_pages import add_card, choose_card, stripe_app  # noqa: F401 - a fixture

_TOKEN = re.compile(r'name="token" type="hidden" value="([^"]+)"|id="token" name="token" type="hidden" '
                    r'value="([^"]+)"')


@pytest.fixture(autouse=True)
def _invariants(app):
    yield
    assert_invariants()


def count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def declined_order(app, url):
    """An at_shipment order of 2 × SHIP-2 ($9.00 each) on a card declined when charged; an admin."""
    buyer = shopper(app)
    with write_transaction() as s:
        s.get(Company, buyer.company.id).charge_policy = "at_shipment"
    declined = add_card(buyer, url, DECLINED_ON_CHARGE)
    product = make_product(sku="SHIP-2", price="9.00")
    set_stock(product, 5)
    buyer.fill((product, 2))
    choose_card(buyer, declined)
    assert place_from_review(buyer).status_code == 302
    db.session.rollback()
    order = db.session.scalar(select(Order).where(Order.company_id == buyer.company.id))
    admin = make_user("admin", email="ship-admin@example.com")
    staff = app.test_client()
    login(staff, admin.email)
    return buyer, order, staff


def ship_form(staff, order) -> tuple[str, dict[str, str]]:
    page = text_of(staff.get(f"/admin/orders/{order.number}/ship"))
    match = _TOKEN.search(page)
    assert match, "the shipping page has no form token"
    line_id = db.session.scalar(select(OrderLine.id).where(OrderLine.order_id == order.id))
    return page, {"token": match.group(1) or match.group(2), f"ship-{line_id}": "2",
                  "tracking_number": "1Z-9", "carrier": "UPS"}


def test_a_declined_shipment_shows_as_payment_due_with_the_override_form(stripe_app, localstripe_url):  # noqa: F811
    buyer, order, staff = declined_order(stripe_app, localstripe_url)
    _, fields = ship_form(staff, order)
    url = f"/admin/orders/{order.number}/ship"
    response = post_form(staff, url, fields)
    assert response.status_code == 302
    again = post_form(staff, url, fields)  # a double submit
    assert again.status_code == 302
    assert count(CardCharge) == 1 and count(Shipment) == 0 and count(PlannedShipment) == 1

    words = words_of(staff.get(url))
    assert "Nothing was shipped: the card payment of $18.00 did not go through" in words
    assert "Waiting for payment" in words and "Payment due" in words and "2 × SHIP-2" in words
    assert "Reason for shipping before payment" in words and "Ship without payment" in words
    assert "2 wait for payment" in words  # the held units are not offered to another shipment

    staff_order = words_of(staff.get(f"/account/orders/{order.number}"))
    assert "1 shipment waiting for payment" in staff_order and "Ship or override" in staff_order
    buyer_order = words_of(buyer.client.get(f"/account/orders/{order.number}"))
    assert "Payment due for goods we are shipping" in buyer_order and "$18.00" in buyer_order

    plan_id = db.session.scalar(select(PlannedShipment.id))
    override = f"/admin/orders/{order.number}/planned-shipments/{plan_id}/ship"
    blank = post_form(staff, override, {"reason": "   "})
    assert blank.status_code == 409
    assert "to ship it unpaid, give the reason" in words_of(blank)
    too_long = post_form(staff, override, {"reason": "x" * 501})
    assert too_long.status_code == 422 and "At most 500 characters." in words_of(too_long)
    assert post_form(staff, f"/admin/orders/{order.number}/planned-shipments/{plan_id + 1}/ship",
                     {"reason": "x"}).status_code == 404
    assert count(Shipment) == 0

    rep = make_user("sales_rep", email="ship-rep@example.com")
    rep_client = stripe_app.test_client()
    login(rep_client, rep.email)
    assert post_form(rep_client, override, {"reason": "Trusted"}).status_code == 403

    shipped = post_form(staff, override, {"reason": "Trusted customer, CFO approved"})
    assert shipped.status_code == 302
    assert count(Shipment) == 1 and count(PlannedShipment, PlannedShipment.status == "shipped") == 1
    timeline = words_of(staff.get(f"/account/orders/{order.number}"))
    assert "(staff override): Trusted customer, CFO approved" in timeline and "staff only" in timeline
    buyer_order = words_of(buyer.client.get(f"/account/orders/{order.number}"))
    assert "CFO approved" not in buyer_order and "Payment due for goods we are shipping" in buyer_order
    assert "Waiting for payment" not in words_of(staff.get(url))


def test_a_paid_payment_due_shipment_ships_with_one_click(stripe_app, localstripe_url):  # noqa: F811
    buyer, order, staff = declined_order(stripe_app, localstripe_url)
    _, fields = ship_form(staff, order)
    assert post_form(staff, f"/admin/orders/{order.number}/ship", fields).status_code == 302
    good = add_card(buyer, localstripe_url)
    charge_id = db.session.scalar(select(CardCharge.id))
    paid = post_form(buyer.client, f"/account/orders/{order.number}/payments/{charge_id}",
                     {"card_id": str(good.id)})
    assert paid.status_code == 302
    assert payment_due.due_charges(order.id) == []
    words = words_of(staff.get(f"/admin/orders/{order.number}/ship"))
    assert "Paid: ready to ship" in words and "Ship these units" in words
    assert "Reason for shipping before payment" not in words
    plan_id = db.session.scalar(select(PlannedShipment.id))
    response = post_form(staff, f"/admin/orders/{order.number}/planned-shipments/{plan_id}/ship")
    assert response.status_code == 302
    assert count(Shipment) == 1
    assert "Shipment SH-" in words_of(staff.get(f"/admin/orders/{order.number}/ship"))


def test_staff_cancel_a_shipment_waiting_for_payment_from_the_shipping_page(stripe_app, localstripe_url):  # noqa: F811
    buyer, order, staff = declined_order(stripe_app, localstripe_url)
    _, fields = ship_form(staff, order)
    assert post_form(staff, f"/admin/orders/{order.number}/ship", fields).status_code == 302
    plan_id = db.session.scalar(select(PlannedShipment.id))
    assert "Cancel this shipment" in words_of(staff.get(f"/admin/orders/{order.number}/ship"))
    url = f"/admin/orders/{order.number}/planned-shipments/{plan_id}/cancel"
    assert post_form(staff, url).status_code == 302
    words = words_of(staff.get(f"/admin/orders/{order.number}/ship"))
    assert "its units can ship again" in words and "Waiting for payment" not in words
    again = post_form(staff, url)
    assert again.status_code == 409 and "no longer waiting for payment" in words_of(again)
    assert "Payment due" not in words_of(buyer.client.get(f"/account/orders/{order.number}"))
    assert count(PlannedShipment, PlannedShipment.status == "cancelled") == 1 and count(Shipment) == 0
