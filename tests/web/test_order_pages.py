"""A placed order as its readers see it (issue 4, point 7): the list with its filters, the order page with
what ships now and what waits (hidden backorders read "Available" to buyers only), adjustments and
totals, the confirmation PDF, and "order again". Orders outside a reader's reach are 404."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import url_for
from sqlalchemy import select

from portal.database import write_transaction
from portal.domain.display import HIDDEN_NOTE
from portal.extensions import db
from portal.formatting import day
from portal.models import Product, User
from portal.services import carts, goodwill_rules, order_history
from portal.services.goodwill_rules import RuleData
from tests.conftest import post_form
from tests.factories import make_product, make_vendor, set_stock
from tests.web.orders import (
    TODAY,
    cells_of,
    empty_cart,
    place_order,
    row_of,
    ship_everything_allocated,
    words_of,
)

LEAD = 12  # days: an estimated ETA is today + the vendor's lead time


@pytest.fixture
def products(world) -> dict[str, Product]:
    """In stock; short (the rest backorderable, shown); hidden (backorders read "Available" to buyers)."""
    vendor = make_vendor(lead_time_days=LEAD)
    plenty = make_product(sku="PLENTY-1", name="Box of screws", price="2.50")
    short = make_product(sku="SHORT-1", name="Wall plug", policy="allow", vendor=vendor, price="10.00")
    hidden = make_product(sku="HIDDEN-1", name="Hand towels", policy="allow", vendor=vendor,
                          backorder_visibility="hide", price="4.00")
    set_stock(plenty, 100)
    set_stock(short, 2)
    set_stock(hidden, 1)
    return {"plenty": plenty, "short": short, "hidden": hidden}


@pytest.fixture
def mixed_order(world, products) -> str:
    """Company A's order: 10 in stock, 5 of which 2 ship now and 3 wait, with a PO reference."""
    return place_order(world.buyer_a, [(products["plenty"], 10), (products["short"], 5)], po="PO-AB-1")


def eta_text(days: int = LEAD) -> str:
    return day(TODAY + timedelta(days=days))


# --- the order page --------------------------------------------------------------------------------


def test_the_buyer_sees_the_header_and_what_ships_now_and_what_waits(client_for, mixed_order):
    response = client_for("buyer_a").get(f"/account/orders/{mixed_order}")
    assert response.status_code == 200
    page = words_of(response)
    for expected in (f"Order {mixed_order}", "PO-AB-1", "Acme depot", "Alice Buyer",
                     "Ship what is available now, the rest when it arrives", "On account"):
        assert expected in page
    # Product, ordered, ships now, backordered (ETA), shipped, cancelled, deadline, unit price, line total
    assert cells_of(response, "PLENTY-1")[1:] == ["10", "10", "0", "0", "0", "—", "$2.50", "$25.00"]
    short = cells_of(response, "SHORT-1")
    assert short[1:4] == ["5", "2", f"3 ETA {eta_text()} (estimated)"]
    assert "Backorder" in short[0] and "Available" not in short[0]
    assert "Subtotal $75.00" in page and "Total $75.00" in page


def test_a_deadline_the_eta_misses_marks_the_line_at_risk_and_accepted(world, client_for, products):
    number = place_order(world.buyer_a, [(products["short"], 5)], need_by=TODAY + timedelta(days=3))
    response = client_for("buyer_a").get(f"/account/orders/{number}")
    deadline = cells_of(response, "SHORT-1")[6]
    assert deadline == f"{day(TODAY + timedelta(days=3))} At risk: later date accepted"
    assert "after your deadline (accepted)" in row_of(response, "SHORT-1")


@pytest.mark.parametrize("persona", ["buyer_a", "rep_a", "admin"])
def test_the_order_and_its_pdf_open_for_the_company_its_rep_and_admins(client_for, mixed_order, persona):
    client = client_for(persona)
    assert client.get(f"/account/orders/{mixed_order}").status_code == 200
    assert client.get(f"/account/orders/{mixed_order}.pdf").status_code == 200
    assert mixed_order in words_of(client.get("/account/orders"))


@pytest.mark.parametrize("persona", ["buyer_b", "rep_b"])
def test_an_order_outside_reach_is_not_found_and_not_listed(client_for, mixed_order, persona):
    client = client_for(persona)
    assert client.get(f"/account/orders/{mixed_order}").status_code == 404
    assert client.get(f"/account/orders/{mixed_order}.pdf").status_code == 404
    assert mixed_order not in words_of(client.get("/account/orders"))


@pytest.mark.parametrize("number", ["SO-99999", "x" * 300, "SO-00001%00"])
def test_an_unknown_order_number_is_not_found(client_for, world, number):
    assert client_for("admin").get(f"/account/orders/{number}").status_code == 404


def test_a_hidden_backorder_reads_available_to_the_buyer_and_backorder_to_staff(world, client_for, products):
    number = place_order(world.buyer_a, [(products["hidden"], 4)])
    buyer_view = client_for("buyer_a").get(f"/account/orders/{number}")
    cells = cells_of(buyer_view, "HIDDEN-1")
    assert cells[1:4] == ["4", "4", "0"]
    assert "Available" in cells[0] and "Backorder" not in cells[0] and "ETA" not in " ".join(cells)
    assert HIDDEN_NOTE not in words_of(buyer_view)
    assert "Backordered" not in words_of(buyer_view).split("Lines")[0]  # no "Backordered" badge up top
    for persona in ("rep_a", "admin"):
        staff_view = client_for(persona).get(f"/account/orders/{number}")
        cells = cells_of(staff_view, "HIDDEN-1")
        assert cells[1:4] == ["4", "1", f"3 ETA {eta_text()} (estimated)"]
        assert "Backorder" in cells[0] and HIDDEN_NOTE in cells[0]


def test_a_hidden_backorder_that_misses_the_deadline_is_told_to_the_buyer(world, client_for, products):
    number = place_order(world.buyer_a, [(products["hidden"], 4)], need_by=TODAY + timedelta(days=2))
    cells = cells_of(client_for("buyer_a").get(f"/account/orders/{number}"), "HIDDEN-1")
    assert cells[1:4] == ["4", "1", f"3 ETA {eta_text()} (estimated)"]
    assert "after your deadline (accepted)" in cells[0]


def test_goodwill_shows_on_the_order_with_what_its_rule_does(world, client_for, products):
    admin = db.session.get(User, world.admin)
    goodwill_rules.create_rule(admin, RuleData("Late backorder discount", "percent_off_late_backorder",
                                               days=5, percent=Decimal("10")))
    goodwill_rules.create_rule(admin, RuleData("Missed deadline credit", "credit_missed_deadline",
                                               amount=Decimal("4")))
    number = place_order(world.buyer_a, [(products["short"], 5)], need_by=TODAY + timedelta(days=3))
    page = words_of(client_for("buyer_a").get(f"/account/orders/{number}"))
    # 3 backordered units at $10.00, 10% off: $3.00; then the $4.00 credit for the missed deadline.
    assert ("Late backorder discount on SHORT-1 10% off backordered units whose ETA is more than 5 days away "
            "-$3.00") in page
    assert ("Missed deadline credit on SHORT-1 A credit of $4.00 per line whose ETA misses the buyer's "
            "deadline when the buyer keeps the line -$4.00") in page
    assert "Subtotal $50.00 Adjustments -$7.00 Total $43.00" in page


def test_an_order_without_adjustments_says_so(client_for, mixed_order):
    assert "No discounts or credits on this order." in words_of(
        client_for("buyer_a").get(f"/account/orders/{mixed_order}"))


# --- the list --------------------------------------------------------------------------------------


@pytest.fixture
def four_orders(world, products) -> dict[str, str]:
    """Company A's orders in each state the filters tell apart (besides the world's own order)."""
    numbers = {
        "in_stock": place_order(world.buyer_a, [(products["plenty"], 1)]),
        "backordered": place_order(world.buyer_a, [(products["short"], 5)]),
        "hidden": place_order(world.buyer_a, [(products["hidden"], 4)]),
        "shipped": place_order(world.buyer_a, [(products["plenty"], 2)]),
    }
    ship_everything_allocated(numbers["shipped"])
    return numbers


def listed(client, query: str = "") -> set[str]:
    page = words_of(client.get(f"/account/orders{query}"))
    return {word for word in page.split() if word.startswith("SO-")}


def test_the_list_shows_the_companys_orders_newest_first(world, client_for, four_orders):
    page = words_of(client_for("buyer_a").get("/account/orders"))
    positions = [page.index(four_orders[k]) for k in ("shipped", "hidden", "backordered", "in_stock")]
    assert positions == sorted(positions)
    assert page.index(four_orders["in_stock"]) < page.index(world.order_a)
    assert "5 orders, newest first." in page


def test_the_filters_tell_open_backordered_and_shipped_orders_apart(world, client_for, four_orders):
    buyer, rep = client_for("buyer_a"), client_for("rep_a")
    everything = {world.order_a, *four_orders.values()}
    assert listed(buyer) == everything
    assert listed(buyer, "?status=open") == everything - {four_orders["shipped"]}
    assert listed(buyer, "?status=shipped") == {four_orders["shipped"]}
    # The buyer is not told of the hidden backorder; the rep is.
    assert listed(buyer, "?status=backordered") == {world.order_a, four_orders["backordered"]}
    assert listed(rep, "?status=backordered") == {world.order_a, four_orders["backordered"],
                                                  four_orders["hidden"]}
    assert listed(buyer, "?status=nonsense") == everything


def test_the_list_marks_backordered_orders_as_its_reader_is_told(client_for, four_orders):
    for persona, hidden_marked in (("buyer_a", False), ("rep_a", True)):
        response = client_for(persona).get("/account/orders")
        assert "Backordered" in row_of(response, four_orders["backordered"])
        assert ("Backordered" in row_of(response, four_orders["hidden"])) is hidden_marked
        assert "Backordered" not in row_of(response, four_orders["in_stock"])
        assert row_of(response, four_orders["shipped"]).count("Shipped") == 1


def test_the_list_is_paginated(world, client_for, products, monkeypatch):
    monkeypatch.setattr(order_history, "PER_PAGE", 2)
    first = place_order(world.buyer_a, [(products["plenty"], 1)])
    second = place_order(world.buyer_a, [(products["plenty"], 1)])
    buyer = client_for("buyer_a")
    page_one = words_of(buyer.get("/account/orders"))
    assert listed(buyer) == {first, second} and "Page 1 of 2" in page_one and "Next" in page_one
    assert listed(buyer, "?page=2") == {world.order_a}
    assert listed(buyer, "?page=999") == set()
    assert listed(buyer, "?page=-3") == {first, second}


def test_staff_can_narrow_the_list_to_a_company_within_reach(world, client_for, mixed_order):
    rep, admin = client_for("rep_a"), client_for("admin")
    assert listed(rep, f"?company={world.company_a}") == {world.order_a, mixed_order}
    assert rep.get(f"/account/orders?company={world.company_b}").status_code == 404
    assert admin.get(f"/account/orders?company={world.company_b}").status_code == 200
    assert listed(admin, f"?company={world.company_b}") == set()
    assert listed(admin, "?company=99999999999999999999") == {world.order_a, mixed_order}
    # A buyer's list is their company's whatever the query says.
    assert listed(client_for("buyer_b"), f"?company={world.company_a}") == set()
    assert f'href="/account/orders?company={world.company_a}"' in rep.get(
        f"/rep/companies/{world.company_a}").get_data(as_text=True)
    assert "Orders of Acme Hardware" in words_of(rep.get(f"/account/orders?company={world.company_a}"))


def test_the_buyer_nav_leads_to_orders(client_for, mixed_order):
    html = client_for("buyer_a").get(f"/account/orders/{mixed_order}").get_data(as_text=True)
    assert 'aria-current="page" href="/account/orders">Orders</a>' in html


# --- the PDF ---------------------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, timeout=60,
                          check=True)
    return done.stdout.decode()


def test_the_confirmation_pdf_lists_the_order_as_the_buyer_reads_it(world, client_for, products, mixed_order):
    response = client_for("buyer_a").get(f"/account/orders/{mixed_order}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert f'filename="{mixed_order}.pdf"' in response.headers["Content-Disposition"]
    text = pdf_text(response.data)
    words = " ".join(text.split())
    for expected in ("Northwind Wholesale", "Order confirmation", mixed_order, "PO-AB-1", "PLENTY-1",
                     "SHORT-1", "Acme Hardware", f"ETA {eta_text()} (est.)", "$75.00"):
        assert expected in words, expected


def test_the_pdf_keeps_a_hidden_backorder_hidden_even_when_staff_print_it(world, client_for, products):
    number = place_order(world.buyer_a, [(products["hidden"], 4)])
    words = " ".join(pdf_text(client_for("rep_a").get(f"/account/orders/{number}.pdf").data).split())
    assert "HIDDEN-1" in words
    assert f"ETA {eta_text()}" not in words


# --- order again -----------------------------------------------------------------------------------


@pytest.fixture
def cart_page(app):
    if "checkout.cart" not in app.view_functions:
        pytest.skip("the checkout blueprint (checkout.cart) is not registered yet")
    with app.test_request_context():
        return url_for("checkout.cart")


def test_order_again_fills_the_cart_and_skips_what_is_no_longer_sold(world, client_for, products, mixed_order,
                                                                     cart_page):
    with write_transaction() as s:
        s.get(Product, products["plenty"].id).active = False
    empty_cart(world.buyer_a)
    buyer = client_for("buyer_a")
    response = post_form(buyer, f"/account/orders/{mixed_order}/again")
    assert response.status_code == 302 and response.location == cart_page
    page = words_of(buyer.get(cart_page))
    assert "Added to your cart: 5 × SHORT-1." in page
    assert "Not added (no longer sold): PLENTY-1." in page
    db.session.rollback()
    cart = carts.find_cart(world.buyer_a, world.company_a)
    assert [(line.product.sku, line.quantity) for line in cart.lines] == [("SHORT-1", 5)]


def test_order_again_with_nothing_still_sold_says_so_and_adds_nothing(world, client_for, mixed_order):
    with write_transaction() as s:
        for product in s.scalars(select(Product).where(Product.sku.in_(["PLENTY-1", "SHORT-1"]))):
            product.active = False
    empty_cart(world.buyer_a)
    buyer = client_for("buyer_a")
    response = post_form(buyer, f"/account/orders/{mixed_order}/again")
    assert response.status_code == 302 and response.location == f"/account/orders/{mixed_order}"
    assert "None of that order's products are sold any more." in words_of(buyer.get(response.location))
    db.session.rollback()
    assert carts.find_cart(world.buyer_a, world.company_a).lines == []


def test_order_again_is_for_the_company_buyer_only(world, client_for, mixed_order):
    empty_cart(world.buyer_a)
    assert post_form(client_for("buyer_b"), f"/account/orders/{mixed_order}/again").status_code == 404
    assert post_form(client_for("rep_a"), f"/account/orders/{mixed_order}/again").status_code == 403
    assert client_for("buyer_a").post(f"/account/orders/{mixed_order}/again").status_code == 400  # no CSRF
    db.session.rollback()
    assert carts.find_cart(world.buyer_a, world.company_a).lines == []
