"""Catalog pages through the test client: what each reader is told, and bad input answered plainly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import PriceList, StockSubscription
from tests.conftest import login, post_form
from tests.factories import make_company, make_product, make_user, set_stock


@pytest.fixture
def buyer(app, client):
    with write_transaction() as session:
        plist = PriceList(name="Trade 10", discount_percent=Decimal("10"))
        session.add(plist)
    company = make_company("Acme", price_list_id=plist.id)
    user = make_user(company=company, email="buyer@acme.example")
    login(client, "buyer@acme.example")
    return user


def _page(client, sku: str) -> str:
    response = client.get(f"/catalog/p/{sku}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_buyer_sees_the_company_price(buyer, client):
    make_product(sku="P-1", price="20.00")
    assert "$18.00" in _page(client, "P-1")
    assert "$18.00" in client.get("/catalog/search?q=P-1").get_data(as_text=True)


def test_exact_stock_is_shown_as_a_number(buyer, client):
    set_stock(make_product(sku="EX", stock_display="exact"), 42)
    assert "42 in stock" in _page(client, "EX")


def test_level_display_says_low_stock_under_the_threshold(buyer, client):
    set_stock(make_product(sku="LV", stock_display="level", low_stock_threshold=10), 3)
    html = _page(client, "LV")
    assert "Low stock" in html and "3 in stock" not in html


def test_hidden_backorders_look_available_to_buyers(buyer, client):
    set_stock(make_product(sku="HID", policy="allow", backorder_visibility="hide"), 0)
    html = _page(client, "HID")
    assert "Available" in html and "Backorder" not in html


def test_staff_see_hidden_backorders_for_what_they_are(app):
    set_stock(make_product(sku="HID", policy="allow", backorder_visibility="hide"), 0)
    make_user(role="sales_rep", email="rep@example.com")
    staff = app.test_client()
    login(staff, "rep@example.com")
    assert "Hidden from buyers" in staff.get("/catalog/p/HID").get_data(as_text=True)


def test_shown_backorders_state_the_eta(buyer, client):
    set_stock(make_product(sku="BO", policy="allow"), 0)
    assert "Backorder — ships about" in _page(client, "BO")


def test_a_blocked_product_at_zero_cannot_be_ordered_and_offers_a_notice(buyer, client):
    set_stock(make_product(sku="BLK", policy="block"), 0)
    html = _page(client, "BLK")
    assert "Out of stock" in html and 'name="quantity"' not in html
    assert "Notify me when back in stock" in html


def test_asking_for_more_than_a_blocked_product_has_says_how_many_are_available(buyer, client):
    set_stock(make_product(sku="BLK", policy="block"), 4)
    html = post_form(client, "/catalog/p/BLK", {"quantity": "10"}).get_data(as_text=True)
    assert "only 4 available" in html


def test_a_quantity_beyond_stock_of_an_allow_product_is_split(buyer, client):
    set_stock(make_product(sku="AL", policy="allow"), 4)
    html = post_form(client, "/catalog/p/AL", {"quantity": "10"}).get_data(as_text=True)
    assert "4 ship now" in html and "6 on backorder" in html


@pytest.mark.parametrize(("quantity", "message"), [
    ("", "Enter a quantity."),
    ("0", "Enter a whole number from 1 to 100,000."),
    ("-3", "Enter a whole number from 1 to 100,000."),
    ("abc", "Enter a whole number of units, like 12."),
    ("2.5", "Enter a whole number of units, like 12."),
    ("1e9", "Enter a whole number of units, like 12."),
    ("99999999999999999999", "Enter a whole number of units, like 12."),
    ("100001", "Enter a whole number from 1 to 100,000."),
    ("30", "This product is sold in multiples of 25: try 25 or 50."),
    ("25", None),
])
def test_bad_quantities_get_a_clear_message(buyer, client, quantity, message):
    set_stock(make_product(sku="CASE", order_minimum=25, order_multiple=25), 500)
    response = post_form(client, "/catalog/p/CASE", {"quantity": quantity})
    html = response.get_data(as_text=True)
    if message is None:
        assert response.status_code == 200 and "25 ship now" in html
    else:
        assert response.status_code == 422 and message in html


@pytest.mark.parametrize("text", ["'; DROP TABLE products; --", '"', "NEAR(", "*" * 300, "bolt:* & !x"])
def test_hostile_search_text_gets_a_normal_page(buyer, client, text):
    make_product(sku="S-1")
    assert client.get("/catalog/search", query_string={"q": text}).status_code == 200


def test_nul_bytes_in_a_query_are_a_bad_request(buyer, client):
    assert client.get("/catalog/search?q=a%00b").status_code == 400


def test_nonsense_filters_and_pages_are_ignored(buyer, client):
    make_product(sku="S-1")
    response = client.get("/catalog/search?page=abc&category=x&vendor=%27&sort=evil&in_stock=yes")
    assert response.status_code == 200 and "S-1" in response.get_data(as_text=True)


def test_subscribing_twice_keeps_one_subscription_and_it_can_be_cancelled(buyer, client):
    set_stock(make_product(sku="BLK"), 0)
    for _ in range(2):
        assert post_form(client, "/catalog/p/BLK/notify").status_code == 302
    count = select(func.count(StockSubscription.id))
    assert db.session.scalar(count) == 1
    post_form(client, "/catalog/p/BLK/notify", {"action": "cancel"})
    assert db.session.scalar(count) == 0


def test_unknown_products_and_images_are_404(buyer, client):
    assert client.get("/catalog/p/NOPE").status_code == 404
    assert post_form(client, "/catalog/p/NOPE/notify").status_code == 404
    assert client.get("/catalog/images/deadbeef/thumb.jpg").status_code == 404
    assert client.get("/catalog/c/no-such-category").status_code == 404


def test_pages_past_a_capped_count_say_no_false_total(buyer, client, monkeypatch):
    from portal.services import catalog
    from tests.factories import make_category, make_vendor

    monkeypatch.setattr(catalog, "COUNT_CAP", 2)
    category, vendor = make_category(), make_vendor()
    for i in range(50):
        make_product(sku=f"L-{i:02d}", name=f"Item {i:02d}", category=category, vendor=vendor)
    html = client.get("/catalog/search?sort=name&page=2").get_data(as_text=True)
    assert '<span class="page-link">Page 2</span>' in html
    assert ">Next</a>" in html and "Item 24" in html
