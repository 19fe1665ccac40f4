"""The cart: adding from the product page, the live split per line, changing and removing lines, and the
quick-order pad (typed rows, pasted lines, CSV files) that reports every bad row and keeps the good ones."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import CartLine, PriceBreak
from tests.conftest import login, post_form
from tests.factories import make_product, make_user, make_vendor, make_warehouse, set_stock
from tests.web.shopping import shopper, text_of, words_of
from tests.web.site import db_snapshot

TODAY = date.today()


@pytest.fixture
def buyer(app):
    return shopper(app, "Acme")


def cart_page(buyer) -> str:
    """The cart as a reader sees it (text only)."""
    response = buyer.client.get("/cart")
    assert response.status_code == 200
    return words_of(response)


# --- adding from the product page -------------------------------------------------------------------


def test_adding_from_the_product_page_puts_the_quantity_in_the_cart_and_says_so(buyer):
    set_stock(make_product(sku="PLENTY"), 100)
    response = post_form(buyer.client, "/catalog/p/PLENTY/add", {"quantity": "5"})
    assert response.status_code == 302 and response.location == "/cart"
    assert "Added 5 × PLENTY" in text_of(buyer.client.get("/cart"))
    post_form(buyer.client, "/catalog/p/PLENTY/add", {"quantity": "3"})
    assert buyer.quantities() == {"PLENTY": 8}


def test_the_product_page_offers_add_to_cart_beside_the_availability_check(buyer):
    set_stock(make_product(sku="PLENTY"), 100)
    page = text_of(buyer.client.get("/catalog/p/PLENTY"))
    assert "Add to cart" in page and "Check availability" in page


@pytest.mark.parametrize(("quantity", "message"), [
    ("10", "Cannot add 10: only 4 available."),
    ("abc", "Enter a whole number of units, like 12."),
    ("0", "Enter a whole number from 1 to 100,000."),
])
def test_a_quantity_the_rules_refuse_stays_on_the_product_page(buyer, quantity, message):
    set_stock(make_product(sku="BLK", policy="block"), 4)
    before = db_snapshot()
    response = post_form(buyer.client, "/catalog/p/BLK/add", {"quantity": quantity})
    assert response.status_code == 422 and message in text_of(response)
    assert db_snapshot() == before


def test_a_quantity_off_the_case_pack_stays_on_the_product_page(buyer):
    set_stock(make_product(sku="CASE", order_minimum=25, order_multiple=25), 500)
    response = post_form(buyer.client, "/catalog/p/CASE/add", {"quantity": "30"})
    assert response.status_code == 422
    assert "This product is sold in multiples of 25: try 25 or 50." in text_of(response)
    assert buyer.lines() == []


def test_staff_who_order_for_no_customer_have_no_cart(app, buyer):
    """Staff get a cart only by choosing a customer ("Order for this customer"; tests/web/
    test_order_for_customer.py); until then they are sent to their accounts."""
    set_stock(make_product(sku="PLENTY"), 100)
    make_user("sales_rep", email="rep@example.com")
    rep = app.test_client()
    login(rep, "rep@example.com")
    added = post_form(rep, "/catalog/p/PLENTY/add", {"quantity": "1"})
    assert added.status_code == 302 and added.headers["Location"].endswith("/rep/")
    assert rep.get("/cart").status_code == 302
    assert "Add to cart" not in text_of(rep.get("/catalog/p/PLENTY"))
    assert db.session.scalar(select(func.count(CartLine.id))) == 0


# --- the cart page ------------------------------------------------------------------------------------


def test_an_empty_cart_says_so_and_links_to_the_catalog(buyer):
    assert "Your cart is empty." in cart_page(buyer)
    assert 'href="/catalog/"' in text_of(buyer.client.get("/cart"))


def test_each_line_shows_its_price_with_volume_break_and_what_ships_now_and_later(buyer):
    product = make_product(sku="SPLIT", policy="allow", price="10.00", vendor=make_vendor(lead_time_days=12))
    set_stock(product, 4)
    with write_transaction() as session:
        session.add(PriceBreak(product_id=product.id, min_quantity=10, percent_off=Decimal("10")))
    buyer.fill((product, 10))
    page = cart_page(buyer)
    eta = TODAY + timedelta(days=12)
    assert 'href="/catalog/p/SPLIT"' in text_of(buyer.client.get("/cart"))
    assert "10 × $9.00" in page and "$90.00" in page
    assert "4 ship now" in page
    assert f"6 on backorder arriving about {eta:%b} {eta.day}, {eta.year} (estimated)" in page
    assert "Subtotal $90.00" in page


def test_the_split_is_recomputed_from_live_stock_on_every_view(buyer):
    product = make_product(sku="LIVE", policy="allow")
    set_stock(product, 2)
    buyer.fill((product, 5))
    assert "2 ship now" in cart_page(buyer)
    set_stock(product, 3, warehouse=make_warehouse("EAST"))  # stock arrives elsewhere
    assert "5 ship now" in cart_page(buyer) and "on backorder" not in cart_page(buyer)


def test_a_hidden_backorder_reads_as_available_in_the_cart(buyer):
    product = make_product(sku="HID", policy="allow", backorder_visibility="hide")
    set_stock(product, 1)
    buyer.fill((product, 5))
    page = cart_page(buyer)
    assert "5 ship now" in page
    assert "backorder" not in page.lower() and "arriving" not in page


def test_a_hidden_backorder_that_misses_the_lines_deadline_is_told_plainly(buyer):
    product = make_product(sku="HID", policy="allow", backorder_visibility="hide",
                           vendor=make_vendor(lead_time_days=20))
    set_stock(product, 2)
    buyer.fill((product, 5))
    (line,) = buyer.lines()
    by = TODAY + timedelta(days=3)
    post_form(buyer.client, f"/cart/lines/{line.id}",
              {f"line-{line.id}-quantity": "5", f"line-{line.id}-need_by": by.isoformat()})
    page = cart_page(buyer)
    assert "2 ship now" in page and "3 on backorder" in page
    assert f"We cannot deliver all 5 by {by.day} {by:%b}: 2 ship now, 3 arrive about" in page


def test_every_problem_of_every_line_is_said_in_plain_words(buyer):
    blocked = make_product(sku="BLK", policy="block")
    set_stock(blocked, 3)
    capped = make_product(sku="CAP", policy="allow_up_to", cap=2)
    set_stock(capped, 0)
    case = make_product(sku="CASE", order_minimum=24, order_multiple=12)
    set_stock(case, 100)
    buyer.fill((blocked, 5), (capped, 4), (case, 18))
    page = cart_page(buyer)
    assert "Only 3 in stock, and this product cannot be backordered." in page
    assert "Cannot order this many: only 2 can be backordered." in page
    assert "The minimum order is 24." in page
    assert "This product is sold in multiples of 12: try 24." in page


def test_changing_a_lines_quantity_and_need_by_date(buyer):
    product = make_product(sku="UPD")
    set_stock(product, 50)
    buyer.fill((product, 2))
    (line,) = buyer.lines()
    by = TODAY + timedelta(days=10)
    response = post_form(buyer.client, f"/cart/lines/{line.id}",
                         {f"line-{line.id}-quantity": "7", f"line-{line.id}-need_by": by.isoformat()})
    assert response.status_code == 302 and response.location == "/cart"
    (line,) = buyer.lines()
    assert (line.quantity, line.need_by) == (7, by)
    assert "Updated UPD." in cart_page(buyer)


@pytest.mark.parametrize(("quantity", "need_by", "message"), [
    ("7", (TODAY - timedelta(days=1)).isoformat(), "Choose a date from today on."),
    ("7", "31/12/2026", "Enter a date like 2026-12-05."),
    ("", "", "Enter a quantity."),
    ("2.5", "", "Enter a whole number of units, like 12."),
    ("100001", "", "Enter a whole number from 1 to 100,000."),
])
def test_a_bad_quantity_or_date_is_refused_and_changes_nothing(buyer, quantity, need_by, message):
    product = make_product(sku="UPD")
    set_stock(product, 50)
    buyer.fill((product, 2))
    (line,) = buyer.lines()
    before = db_snapshot()
    response = post_form(buyer.client, f"/cart/lines/{line.id}",
                         {f"line-{line.id}-quantity": quantity, f"line-{line.id}-need_by": need_by})
    assert response.status_code == 422 and message in text_of(response)
    assert db_snapshot() == before


def test_removing_a_line(buyer):
    keep, drop = make_product(sku="KEEP"), make_product(sku="DROP")
    buyer.fill((keep, 1), (drop, 1))
    line = next(line for line in buyer.lines() if line.product.sku == "DROP")
    response = post_form(buyer.client, f"/cart/lines/{line.id}/remove", {"back": "cart"})
    assert response.status_code == 302 and response.location == "/cart"
    assert buyer.quantities() == {"KEEP": 1}
    assert "Removed DROP from your cart." in cart_page(buyer)


def test_another_companys_cart_lines_are_not_found(app, buyer):
    product = make_product(sku="MINE")
    set_stock(product, 10)
    buyer.fill((product, 2))
    (line,) = buyer.lines()
    other = shopper(app, "Other")
    before = db_snapshot()
    for url, data in [(f"/cart/lines/{line.id}", {f"line-{line.id}-quantity": "9"}),
                      (f"/cart/lines/{line.id}/remove", {}),
                      (f"/checkout/lines/{line.id}/keep", {}),
                      (f"/checkout/lines/{line.id}/swap", {"alternative_id": str(product.id)}),
                      ("/cart/lines/999999", {"line-999999-quantity": "1"})]:
        assert post_form(other.client, url, data).status_code == 404, url
    assert db_snapshot() == before


def test_the_navigation_shows_the_number_of_lines_in_the_cart(buyer):
    buyer.fill((make_product(sku="A-1"), 1), (make_product(sku="A-2"), 3))
    assert "Cart 2 lines" in cart_page(buyer)
    assert 'href="/cart/quick"' in text_of(buyer.client.get("/cart"))


# --- quick order ----------------------------------------------------------------------------------------


def pad(rows=(), text="", upload=None) -> dict:
    data: dict = {"text": text}
    for i in range(10):
        sku, quantity = rows[i] if i < len(rows) else ("", "")
        data[f"rows-{i}-sku"], data[f"rows-{i}-quantity"] = sku, quantity
    if upload is not None:
        data["upload"] = upload
    return data


def csv_file(content: bytes | str, name: str = "order.csv"):
    raw = content.encode() if isinstance(content, str) else content
    return (io.BytesIO(raw), name)


@pytest.fixture
def catalog(app):
    """In stock, partly in stock (backorderable), blocked at zero, case-packed, no longer sold."""
    set_stock(make_product(sku="GOOD-1"), 100)
    set_stock(make_product(sku="GOOD-2", policy="allow"), 3)
    set_stock(make_product(sku="BLOCKED"), 0)
    set_stock(make_product(sku="CASE", order_multiple=6), 100)
    set_stock(make_product(sku="GONE", active=False), 100)


def quick(buyer, data):
    return post_form(buyer.client, "/cart/quick", data, content_type="multipart/form-data")


def test_the_pad_has_rows_a_paste_box_and_an_upload(buyer):
    page = text_of(buyer.client.get("/cart/quick"))
    assert page.count('name="rows-') == 20  # ten rows of SKU and quantity
    assert 'name="text"' in page and 'type="file"' in page


def test_good_rows_from_every_input_are_added_in_one_go(buyer, catalog):
    response = quick(buyer, pad(rows=[("good-1", "5")], text="GOOD-2, 10\n",
                                upload=csv_file("sku,quantity\nCASE,12\n")))
    assert response.status_code == 302 and response.location == "/cart"
    assert buyer.quantities() == {"GOOD-1": 5, "GOOD-2": 10, "CASE": 12}
    assert "Added 3 lines to your cart: 5 × GOOD-1, 10 × GOOD-2, 12 × CASE." in cart_page(buyer)


def test_pasted_lines_may_use_commas_spaces_tabs_or_semicolons(buyer, catalog):
    response = quick(buyer, pad(text="GOOD-1, 1\nGOOD-1 2\nGOOD-1\t3\n\nGOOD-1; 4\n"))
    assert response.status_code == 302
    assert buyer.quantities() == {"GOOD-1": 10}


def test_every_bad_row_is_reported_with_where_and_why_and_the_good_ones_are_added(buyer, catalog):
    rows = [("GOOD-1", "5"), ("NOPE-9", "1"), ("GOOD-2", "two"), ("", ""), ("BLOCKED", "1")]
    text = "GOOD-2 4\nCASE, 7\nGONE, 1\nJUSTSKU\n"
    response = quick(buyer, pad(rows=rows, text=text))
    page = text_of(response)
    assert response.status_code == 422
    assert buyer.quantities() == {"GOOD-1": 5, "GOOD-2": 4}
    assert "Added 2 lines to your cart: 5 × GOOD-1, 4 × GOOD-2." in page
    for message in [
        "Row 2 (NOPE-9, 1): Unknown SKU NOPE-9",
        "Row 3 (GOOD-2, two): Enter a whole number of units, like 12.",
        "Row 5 (BLOCKED, 1): Out of stock: it cannot be ordered until it is back in stock.",
        "Pasted line 2 (CASE, 7): This product is sold in multiples of 6: try 6 or 12.",
        "Pasted line 3 (GONE, 1): This product is no longer sold.",
        'Pasted line 4 (JUSTSKU): Write a SKU and a quantity, like "ABC-123, 5".',
    ]:
        assert message in page, message
    assert "6 lines could not be added." in page
    # The bad rows are back in the pad, as typed, for correction.
    assert 'name="rows-0-sku" type="text" value="NOPE-9"' in page
    assert 'name="rows-1-quantity" type="text" value="two"' in page
    assert 'name="rows-5-sku" type="text" value="JUSTSKU"' in page


def test_a_quantity_beyond_what_a_blocked_product_has_is_refused_with_the_limit(buyer, app):
    set_stock(make_product(sku="FEW"), 3)
    page = text_of(quick(buyer, pad(rows=[("FEW", "5")])))
    assert "Row 1 (FEW, 5): Only 3 can be ordered now." in page
    assert buyer.lines() == []


def test_an_empty_pad_asks_for_something(buyer):
    response = quick(buyer, pad())
    assert response.status_code == 422 and "Enter at least one SKU and quantity." in text_of(response)


def test_csv_rows_are_numbered_as_in_the_spreadsheet_and_a_header_is_optional(buyer, catalog):
    response = quick(buyer, pad(upload=csv_file("GOOD-1,2\n\nNOPE,1\nGOOD-2,1\n")))
    page = text_of(response)
    assert "CSV row 3 (NOPE, 1): Unknown SKU NOPE" in page
    assert buyer.quantities() == {"GOOD-1": 2, "GOOD-2": 1}


@pytest.mark.parametrize(("upload", "message"), [
    (csv_file('GOOD-1,"5\nGOOD-2,1\n'), "The CSV file is malformed near line"),
    (csv_file("sku\nGOOD-1\n"), "The CSV header has a SKU column but no quantity column"),
    (csv_file("GOOD-1,1\n" * 501), "A CSV file may hold at most 500 rows"),
    (csv_file("GOOD-1,1," + "x" * (300 * 1024) + "\n"), "The file is larger than 256 KB."),
    (csv_file(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "order.csv"), "This file is not a CSV text file."),
    (csv_file("GOOD-1,1\n", "order.xlsx"), "Upload a .csv file (columns sku, quantity)."),
    (csv_file("", "order.csv"), "The CSV file has no rows of SKU and quantity."),
], ids=["unclosed-quote", "no-quantity-column", "too-many-rows", "too-large", "binary", "not-csv", "empty"])
def test_an_unusable_csv_file_is_refused_with_a_clear_message_and_nothing_is_added(buyer, catalog, upload,
                                                                                    message):
    before = db_snapshot()
    response = quick(buyer, pad(rows=[("GOOD-1", "1")], upload=upload))
    assert response.status_code == 422 and message in text_of(response)
    assert db_snapshot() == before


def test_too_many_pasted_lines_are_refused(buyer, catalog):
    before = db_snapshot()
    response = quick(buyer, pad(text="GOOD-1, 1\n" * 501))
    assert response.status_code == 422 and "Paste at most 500 lines at a time" in text_of(response)
    assert db_snapshot() == before


def test_a_thousands_separator_in_a_headerless_csv_is_not_guessed(buyer, catalog):
    page = text_of(quick(buyer, pad(upload=csv_file("GOOD-1,1,000\n"))))
    assert "CSV row 1 (GOOD-1, 1,000): Expected two columns (SKU, quantity) but found 3." in page
    assert buyer.lines() == []
