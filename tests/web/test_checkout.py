"""Checkout through the web: details, the review and its deadline check, placing (stale reviews, tampered
forms, double submits) and the confirmation. The invariants of DESIGN §5 hold after every test."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Cart, GoodwillRule, Order, OrderLine
from tests.conftest import post_form
from tests.factories import make_address, make_category, make_company, make_product, make_vendor, set_stock
from tests.invariants import assert_invariants
from tests.web.shopping import (
    order_count,
    place_fields,
    place_from_review,
    shopper,
    text_of,
    words_of,
)
from tests.web.site import db_snapshot

TODAY = date.today()


@pytest.fixture(autouse=True)
def _invariants(app):
    yield
    assert_invariants()


@pytest.fixture
def buyer(app):
    return shopper(app, "Acme")


def review_words(buyer) -> str:
    response = buyer.client.get("/checkout/review")
    assert response.status_code == 200
    return words_of(response)


def set_need_by(buyer, need_by: date) -> None:
    response = post_form(buyer.client, "/checkout", {
        "ship_to": str(buyer.address.id), "po_reference": "PO-1", "need_by": need_by.isoformat(),
        "shipping_preference": "ship_partial", "payment_method": "on_account"})
    assert response.status_code == 302, text_of(response)


def late_product(sku="LATE", **kw):
    """Backorderable, nothing on the shelf, 20 days' lead time."""
    product = make_product(sku=sku, policy="allow", vendor=make_vendor(lead_time_days=20), **kw)
    set_stock(product, 0)
    return product


# --- details ----------------------------------------------------------------------------------------------


def test_an_empty_cart_has_nothing_to_check_out(buyer):
    for url in ("/checkout", "/checkout/review"):
        response = buyer.client.get(url)
        assert response.status_code == 302 and response.location == "/cart"


def test_the_details_form_starts_from_the_default_address_and_saves(buyer):
    buyer.fill((make_product(sku="A-1"), 1))
    page = text_of(buyer.client.get("/checkout"))
    assert f'<option selected value="{buyer.address.id}">Depot: 1 Main St' in page
    assert "On account" in page
    by = TODAY + timedelta(days=30)
    response = post_form(buyer.client, "/checkout", {
        "ship_to": str(buyer.address.id), "po_reference": " PO-778 ", "need_by": by.isoformat(),
        "shipping_preference": "ship_complete", "payment_method": "on_account"})
    assert response.status_code == 302 and response.location == "/checkout/review"
    db.session.rollback()
    cart = db.session.scalar(select(Cart).where(Cart.user_id == buyer.user.id))
    assert (cart.po_reference, cart.need_by, cart.shipping_preference) == ("PO-778", by, "ship_complete")


@pytest.mark.parametrize(("changes", "message"), [
    ({"need_by": (TODAY - timedelta(days=1)).isoformat()}, "Choose a date from today on."),
    ({"need_by": "next week"}, "Enter a date like 2026-12-05."),
    ({"po_reference": "P" * 61}, "Use at most 60 characters."),
    ({"shipping_preference": "by_pigeon"}, "Not a valid choice."),
    ({"payment_method": "card"}, "Not a valid choice."),
    ({"ship_to": ""}, "Ship to"),
])
def test_bad_details_are_refused_and_change_nothing(buyer, changes, message):
    buyer.fill((make_product(sku="A-1"), 1))
    before = db_snapshot()
    response = post_form(buyer.client, "/checkout", {
        "ship_to": str(buyer.address.id), "po_reference": "", "need_by": "",
        "shipping_preference": "ship_partial", "payment_method": "on_account", **changes})
    assert response.status_code == 422 and message in text_of(response)
    assert db_snapshot() == before


def test_another_companys_address_cannot_be_the_ship_to(buyer):
    buyer.fill((make_product(sku="A-1"), 1))
    theirs = make_address(make_company("Rival"), label="Rival depot")
    before = db_snapshot()
    response = post_form(buyer.client, "/checkout", {
        "ship_to": str(theirs.id), "shipping_preference": "ship_partial", "payment_method": "on_account"})
    assert response.status_code == 422 and "Not a valid choice." in text_of(response)
    assert "Rival depot" not in text_of(response)
    assert db_snapshot() == before


# --- review -----------------------------------------------------------------------------------------------


def test_the_review_shows_each_lines_split_the_details_and_the_totals(buyer):
    plenty = make_product(sku="PLENTY", price="2.00")
    set_stock(plenty, 100)
    partial = make_product(sku="PARTIAL", policy="allow", price="5.00", vendor=make_vendor(lead_time_days=9))
    set_stock(partial, 5)
    buyer.fill((plenty, 5), (partial, 10))
    words = review_words(buyer)
    eta = TODAY + timedelta(days=9)
    assert "5 ship now" in words
    assert f"5 on backorder arriving about {eta:%b} {eta.day}, {eta.year} (estimated)" in words
    assert "Ship to Depot" in words and "1 Main St" in words
    assert "Subtotal $60.00" in words and "Total $60.00" in words
    assert place_fields(buyer.client.get("/checkout/review").get_data(as_text=True)).keys() == {
        "token", "reviewed"}


def test_a_late_line_is_flagged_and_blocks_placing_until_the_buyer_decides(buyer):
    product = late_product(name="Slow valve")
    buyer.fill((product, 3))
    by = TODAY + timedelta(days=2)
    set_need_by(buyer, by)
    eta = TODAY + timedelta(days=20)
    page = buyer.client.get("/checkout/review")
    words = words_of(page)
    assert f"We cannot deliver all 3 by {by.day} {by:%b}: they arrive about {eta.day} {eta:%b} (estimated)." \
        in words
    assert f"Keep it and accept {eta:%b} {eta.day}, {eta.year}" in words
    assert "LATE: Arrives after your deadline" in words
    assert place_fields(page.get_data(as_text=True)) == {}  # no place form while a decision is due
    assert 'disabled aria-describedby="place-blocked"' in page.get_data(as_text=True)

    (line,) = buyer.lines()
    response = post_form(buyer.client, f"/checkout/lines/{line.id}/keep")
    assert response.status_code == 302 and response.location == "/checkout/review"
    assert "You chose to keep it and accept" in review_words(buyer)
    response = place_from_review(buyer)
    assert response.status_code == 302
    order_line = db.session.scalar(select(OrderLine))
    assert order_line.accepted_late and order_line.need_by == by and order_line.backordered == 3


def test_a_hidden_backorder_that_misses_the_deadline_is_flagged_too(buyer):
    product = late_product(backorder_visibility="hide")
    buyer.fill((product, 3))
    set_need_by(buyer, TODAY + timedelta(days=2))
    words = review_words(buyer)
    assert "We cannot deliver all 3 by" in words and "3 on backorder" in words


def test_a_hidden_backorder_within_the_deadline_reads_as_available(buyer):
    product = late_product(backorder_visibility="hide")
    buyer.fill((product, 3))
    set_need_by(buyer, TODAY + timedelta(days=60))
    words = review_words(buyer)
    assert "3 ship now" in words and "backorder" not in words.lower()


def test_swapping_a_late_line_puts_the_alternative_in_the_cart(buyer):
    category = make_category()
    late = late_product(category=category, price="10.00")
    alternative = make_product(sku="ALT", name="Quick valve", category=category, price="11.00")
    set_stock(alternative, 50)
    short = make_product(sku="SHORT", category=category, price="10.00")
    set_stock(short, 1)  # in stock, but not the 3 wanted: not offered
    buyer.fill((late, 3))
    set_need_by(buyer, TODAY + timedelta(days=2))
    words = review_words(buyer)
    assert "Swap to Quick valve (ALT, $11.00, in stock)" in words
    assert "SHORT" not in words
    (line,) = buyer.lines()
    response = post_form(buyer.client, f"/checkout/lines/{line.id}/swap",
                         {"alternative_id": str(alternative.id)})
    assert response.status_code == 302 and response.location == "/checkout/review"
    assert buyer.quantities() == {"ALT": 3}
    assert "Swapped LATE for ALT." in review_words(buyer)
    assert place_from_review(buyer).status_code == 302


def test_removing_a_late_line_from_the_review_comes_back_to_the_review(buyer):
    keep = make_product(sku="KEEP")
    set_stock(keep, 10)
    buyer.fill((keep, 1), (late_product(), 2))
    set_need_by(buyer, TODAY + timedelta(days=2))
    late_line = next(line for line in buyer.lines() if line.product.sku == "LATE")
    response = post_form(buyer.client, f"/cart/lines/{late_line.id}/remove", {"back": "review"})
    assert response.status_code == 302 and response.location == "/checkout/review"
    assert buyer.quantities() == {"KEEP": 1}


def test_an_unknown_alternative_is_refused_plainly(buyer):
    buyer.fill((late_product(), 2))
    (line,) = buyer.lines()
    response = post_form(buyer.client, f"/checkout/lines/{line.id}/swap", {"alternative_id": "999999"})
    assert response.status_code == 302
    assert "That alternative is not available." in review_words(buyer)
    assert buyer.quantities() == {"LATE": 2}


def test_goodwill_shows_which_rule_applied_to_which_line(buyer):
    with write_transaction() as session:
        session.add(GoodwillRule(name="5% off long waits", kind="percent_off_late_backorder", days=14,
                                 percent=Decimal("5")))
    buyer.fill((late_product(price="20.00"), 10))
    words = review_words(buyer)
    assert "Goodwill: 5% off long waits (-$10.00)" in words
    assert "Subtotal $200.00" in words and "Total $190.00" in words


def test_problems_are_listed_and_placing_is_not_offered(buyer):
    blocked = make_product(sku="BLK")
    set_stock(blocked, 2)
    buyer.fill((blocked, 5))
    page = buyer.client.get("/checkout/review")
    assert "BLK: Only 2 in stock, and this product cannot be backordered." in words_of(page)
    assert place_fields(page.get_data(as_text=True)) == {}


# --- placing ----------------------------------------------------------------------------------------------


def test_placing_the_order_lands_on_the_confirmation(buyer):
    plenty = make_product(sku="PLENTY", name="Gloves")
    set_stock(plenty, 100)
    partial = make_product(sku="PARTIAL", policy="allow", vendor=make_vendor(lead_time_days=9))
    set_stock(partial, 5)
    buyer.fill((plenty, 5), (partial, 10))
    response = place_from_review(buyer)
    order = db.session.scalar(select(Order))
    assert response.status_code == 302 and response.location == f"/checkout/done/{order.number}"
    words = words_of(buyer.client.get(response.location))
    eta = TODAY + timedelta(days=9)
    assert f"Your order number is {order.number}" in words
    assert "Gloves PLENTY 5 5 ship now" in words
    assert f"5 ship now 5 on backorder arriving about {eta:%b} {eta.day}, {eta.year} (estimated)" in words
    assert buyer.lines() == []


def test_the_confirmation_links_to_the_order_page_and_pdf_when_they_exist(app, buyer):
    product = make_product(sku="A-2")
    set_stock(product, 10)
    buyer.fill((product, 1))
    location = place_from_review(buyer).location
    number = location.rsplit("/", 1)[1]
    page = text_of(buyer.client.get(location))
    if "account.order" in app.view_functions:
        assert f'href="/account/orders/{number}"' in page
    if "account.order_pdf" in app.view_functions:
        assert f'href="/account/orders/{number}.pdf"' in page


def test_another_companys_confirmation_is_not_found(app, buyer):
    product = make_product(sku="A-1")
    set_stock(product, 10)
    buyer.fill((product, 1))
    location = place_from_review(buyer).location
    other = shopper(app, "Other")
    assert other.client.get(location).status_code == 404
    assert buyer.client.get("/checkout/done/SO-99999").status_code == 404


def test_a_second_submit_of_the_same_page_lands_on_the_same_order(buyer):
    product = make_product(sku="A-1")
    set_stock(product, 10)
    buyer.fill((product, 2))
    fields = place_fields(buyer.client.get("/checkout/review").get_data(as_text=True))
    first = post_form(buyer.client, "/checkout/place", fields)
    second = post_form(buyer.client, "/checkout/place", fields)
    assert first.status_code == second.status_code == 302
    assert first.location == second.location
    assert order_count() == 1


@pytest.mark.parametrize("field", ["token", "reviewed"])
def test_a_changed_hidden_field_is_refused_and_nothing_is_written(buyer, field):
    product = make_product(sku="A-1")
    set_stock(product, 10)
    buyer.fill((product, 2))
    fields = place_fields(buyer.client.get("/checkout/review").get_data(as_text=True))
    tampered = {**fields, field: fields[field][:-2] + ("AA" if not fields[field].endswith("AA") else "BB")}
    before = db_snapshot()
    response = post_form(buyer.client, "/checkout/place", tampered)
    assert response.status_code == 400
    assert "This review page was changed or is out of date; please review again" in words_of(response)
    assert db_snapshot() == before


def test_figures_edited_into_a_resigned_payload_are_impossible_without_the_key(buyer):
    """A fingerprint forged with another key (or none) is refused like any tampering."""
    from itsdangerous import URLSafeSerializer

    product = make_product(sku="A-1")
    set_stock(product, 10)
    buyer.fill((product, 2))
    fields = place_fields(buyer.client.get("/checkout/review").get_data(as_text=True))
    forged = URLSafeSerializer("not-the-key", salt="checkout-review").dumps(
        {"token": fields["token"], "user": buyer.user.id, "company": buyer.company.id,
         "fingerprint": [[product.id, 2, 2, 0, "0.01", None]]})
    before = db_snapshot()
    assert post_form(buyer.client, "/checkout/place", {**fields, "reviewed": forged}).status_code == 400
    assert db_snapshot() == before


def test_another_buyers_review_form_is_refused(app, buyer):
    product = make_product(sku="A-1")
    set_stock(product, 10)
    buyer.fill((product, 2))
    other = shopper(app, "Other")
    other.fill((product, 2))
    fields = place_fields(buyer.client.get("/checkout/review").get_data(as_text=True))
    before = db_snapshot()
    assert post_form(other.client, "/checkout/place", fields).status_code == 400
    assert db_snapshot() == before


def test_a_review_made_stale_by_another_order_is_shown_again_with_the_changed_line(app, buyer):
    product = make_product(sku="HOT", policy="allow", vendor=make_vendor(lead_time_days=9))
    set_stock(product, 3)
    buyer.fill((product, 3))
    fields = place_fields(buyer.client.get("/checkout/review").get_data(as_text=True))
    rival = shopper(app, "Rival")
    rival.fill((product, 2))
    assert place_from_review(rival).status_code == 302

    response = post_form(buyer.client, "/checkout/place", fields)
    words = words_of(response)
    assert response.status_code == 409
    assert "Stock changed while you were reviewing, so the order was not placed." in words
    eta = TODAY + timedelta(days=9)
    assert (f"Changed since you reviewed. Now: 1 ships now, 2 on backorder arriving about "
            f"{eta:%b} {eta.day}, {eta.year} (estimated)") in words
    assert order_count() == 1  # the rival's only
    fresh = place_fields(response.get_data(as_text=True))
    assert fresh["token"] != fields["token"]
    assert post_form(buyer.client, "/checkout/place", fresh).status_code == 302
    assert order_count() == 2


def test_stock_a_blocked_line_needs_taken_meanwhile_reports_the_problem(app, buyer):
    product = make_product(sku="BLK")
    set_stock(product, 5)
    buyer.fill((product, 5))
    fields = place_fields(buyer.client.get("/checkout/review").get_data(as_text=True))
    rival = shopper(app, "Rival")
    rival.fill((product, 3))
    assert place_from_review(rival).status_code == 302
    response = post_form(buyer.client, "/checkout/place", fields)
    assert response.status_code == 409
    assert "BLK: Only 2 in stock, and this product cannot be backordered." in words_of(response)
    assert place_fields(response.get_data(as_text=True)) == {}
    assert order_count() == 1


def test_a_place_form_without_its_fields_writes_nothing(buyer):
    product = make_product(sku="A-1")
    set_stock(product, 10)
    buyer.fill((product, 2))
    before = db_snapshot()
    assert post_form(buyer.client, "/checkout/place", {}).status_code == 400
    junk = {"token": "x" * 100, "reviewed": "y"}
    assert post_form(buyer.client, "/checkout/place", junk).status_code == 400
    assert db_snapshot() == before


def test_the_next_order_starts_without_the_last_ones_po_reference_and_deadline(buyer):
    product = make_product(sku="A-1")
    set_stock(product, 10)
    buyer.fill((product, 1))
    set_need_by(buyer, TODAY + timedelta(days=5))
    assert place_from_review(buyer).status_code == 302
    buyer.fill((product, 1))
    db.session.rollback()
    cart = db.session.scalar(select(Cart).where(Cart.user_id == buyer.user.id))
    assert (cart.po_reference, cart.need_by, cart.ship_to_id) == ("", None, buyer.address.id)
