"""Admins' product list, product editor and bulk edit of backorder settings (issue 3, point 7)."""

from __future__ import annotations

import html
import json
import re
from contextlib import contextmanager
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import AuditLog, Order, OrderLine, Product, Stock
from tests.conftest import login, post_form
from tests.factories import make_category, make_product, make_vendor, set_stock
from tests.web.admin_posts import product_fields
from tests.web.site import db_snapshot, product_id_of


@pytest.fixture
def admin(client, world):
    login(client, world.email("admin"))
    return client


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def words_of(response) -> str:
    """The page's text without tags, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", text_of(response)).split())


def audits(product_id: int, action: str = "backorder_settings_changed") -> list[tuple[dict, dict]]:
    db.session.rollback()
    rows = db.session.scalars(select(AuditLog).where(AuditLog.entity == "product",
                                                     AuditLog.entity_id == product_id,
                                                     AuditLog.action == action).order_by(AuditLog.id))
    return [(json.loads(r.before), json.loads(r.after)) for r in rows]


def reloaded(product_id: int) -> Product:
    db.session.rollback()
    return db.session.get(Product, product_id)


def listed_skus(response) -> set[str]:
    return set(re.findall(r"<code>([A-Z0-9._/-]+)</code></a></td>", response.get_data(as_text=True)))


# --- access -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["buyer_a", "rep_a"])
def test_non_admins_get_403_on_every_product_and_pricing_page(app, world, client_for, persona):
    client = client_for(persona)
    pid = product_id_of(world.sku)
    for url in ("/admin/products", f"/admin/products/{pid}", "/admin/products/new", "/admin/price-lists",
                f"/admin/price-lists/{world.price_list}"):
        assert client.get(url).status_code == 403, url
    before = db_snapshot()
    assert post_form(client, "/admin/products/bulk", {"set_visibility": "hide", "scope": "all",
                                                      "confirmed": "yes"}).status_code == 403
    adjusted = post_form(client, f"/admin/products/{pid}/stock", {"change": "5", "reason": "x"})
    assert adjusted.status_code == 403
    assert db_snapshot() == before


# --- list and filters -------------------------------------------------------------------------------


@pytest.fixture
def shelf(world):
    """Products in every stock state: in stock, low, out (blocked), out but backorderable, out with a
    used-up cap."""
    cat, other_cat, vendor = make_category("Tools"), make_category("Paint"), make_vendor("Acme Vendor")
    made = {
        "PLENTY": make_product(sku="PLENTY", name="Plenty hammer", category=cat, vendor=vendor),
        "LOW": make_product(sku="LOW", name="Low saw", category=cat, vendor=vendor, low_stock_threshold=10),
        "OUT-BLOCK": make_product(sku="OUT-BLOCK", name="Gone drill", category=other_cat),
        "OUT-ALLOW": make_product(sku="OUT-ALLOW", name="Waiting paint", policy="allow", category=other_cat,
                                  backorder_visibility="hide"),
        "OUT-CAP0": make_product(sku="OUT-CAP0", name="Capped brush", policy="allow_up_to", cap=0,
                                 category=other_cat),
    }
    set_stock(made["PLENTY"], 50)
    set_stock(made["LOW"], 3)
    return {"category": cat, "other_category": other_cat, "vendor": vendor, **made}


def test_stock_filters_find_out_of_stock_low_stock_and_backorderable(admin, shelf):
    assert listed_skus(admin.get("/admin/products?stock=out")) == {"OUT-BLOCK", "OUT-ALLOW", "OUT-CAP0",
                                                                   "NUT-20"}
    assert listed_skus(admin.get("/admin/products?stock=low")) == {"LOW"}
    assert listed_skus(admin.get("/admin/products?stock=out_backorderable")) == {"OUT-ALLOW", "NUT-20"}


def test_the_backordered_filter_finds_products_with_orders_waiting_and_shows_the_units(admin, world, shelf):
    with write_transaction() as s:
        order = Order(number="SO-1", checkout_token="t-1", company_id=world.company_a,
                      placed_by_id=world.buyer_a)
        s.add(order)
        s.flush()
        s.add(OrderLine(order_id=order.id, product_id=shelf["OUT-ALLOW"].id, sku="OUT-ALLOW",
                        name="Waiting paint", quantity=7, backordered=7, unit_price=Decimal("1.00"),
                        line_total=Decimal("7.00")))
    response = admin.get("/admin/products?stock=backordered")
    found = listed_skus(response)
    assert "OUT-ALLOW" in found
    assert not found & {"PLENTY", "LOW", "OUT-BLOCK", "OUT-CAP0", "BOLT-10"}
    assert '<td class="text-end">0</td><td class="text-end">7</td>' in text_of(response)


def test_filters_by_policy_visibility_category_vendor_and_text_combine(admin, shelf):
    assert listed_skus(admin.get("/admin/products?policy=allow_up_to")) == {"OUT-CAP0"}
    assert listed_skus(admin.get("/admin/products?visibility=hide")) == {"OUT-ALLOW"}
    assert listed_skus(admin.get(f"/admin/products?category={shelf['category'].id}")) == {"PLENTY", "LOW"}
    assert listed_skus(admin.get(f"/admin/products?vendor={shelf['vendor'].id}&q=saw")) == {"LOW"}
    assert listed_skus(admin.get("/admin/products?q=drill&stock=out")) == {"OUT-BLOCK"}


@pytest.mark.parametrize("query", ["stock=nonsense", "category=abc", "vendor=99999999999999999999",
                                   "page=-4", "page=abc", "q=%22%27%20OR%201%3D1%20--", "policy=%00"])
def test_odd_filter_values_never_cause_an_error(admin, shelf, query):
    response = admin.get(f"/admin/products?{query}")
    assert response.status_code in (200, 400)


def test_the_list_shows_stock_figures_policy_with_cap_visibility_display_and_lead_time(admin, shelf):
    with write_transaction() as s:
        s.scalar(select(Stock).where(Stock.product_id == shelf["PLENTY"].id)).allocated = 12
        s.get(Product, shelf["OUT-CAP0"].id).lead_time_days = 30
    page = text_of(admin.get("/admin/products"))
    assert '<td class="text-end">38</td><td class="text-end">50</td><td class="text-end">12</td>' in page
    assert "Allow up to 0" in page and "30 d" in page and "14 d (vendor)" in page


def test_the_list_pages_fifty_products_at_a_time_with_a_fixed_number_of_queries(admin, world):
    vendors = [make_vendor(f"V{i}") for i in range(3)]
    category = make_category("Bulk")
    with write_transaction() as s:
        for i in range(70):
            s.add(Product(sku=f"P-{i:03d}", name=f"Part {i}", category_id=category.id,
                          vendor_id=vendors[i % 3].id, price=Decimal("1.00")))
    counts = []
    for page in (1, 2):
        with _statements() as seen:
            response = admin.get(f"/admin/products?category={category.id}&page={page}")
        assert response.status_code == 200
        counts.append(len(seen))
    assert len(listed_skus(admin.get(f"/admin/products?category={category.id}"))) == 50
    assert len(listed_skus(admin.get(f"/admin/products?category={category.id}&page=2"))) == 20
    assert counts[0] == counts[1], "queries grow with the rows shown"


@contextmanager
def _statements():
    seen: list[str] = []

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", on_execute)


# --- editor -----------------------------------------------------------------------------------------


def test_saving_backorder_settings_writes_an_audit_row_with_before_and_after(admin, world):
    pid = product_id_of(world.sku)
    response = post_form(admin, f"/admin/products/{pid}", product_fields(
        world, backorder_policy="allow_up_to", backorder_cap="25", backorder_visibility="hide",
        stock_display="level", low_stock_threshold="4", lead_time_days="21"))
    assert response.status_code == 302
    product = reloaded(pid)
    assert (product.backorder_policy, product.backorder_cap, product.backorder_visibility) == (
        "allow_up_to", 25, "hide")
    assert (product.stock_display, product.low_stock_threshold, product.lead_time_days) == ("level", 4, 21)
    [(before, after)] = audits(pid)
    assert before == {"backorder_policy": "block", "backorder_cap": None, "backorder_visibility": "show",
                      "stock_display": "exact", "low_stock_threshold": 10, "lead_time_days": None}
    assert after == {"backorder_policy": "allow_up_to", "backorder_cap": 25, "backorder_visibility": "hide",
                     "stock_display": "level", "low_stock_threshold": 4, "lead_time_days": 21}
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "backorder_settings_changed"))
    assert entry.actor_id == world.admin and entry.created_at is not None


def test_the_editor_shows_the_products_history(admin, world):
    pid = product_id_of(world.sku)
    post_form(admin, f"/admin/products/{pid}", product_fields(world, backorder_policy="allow"))
    page = words_of(admin.get(f"/admin/products/{pid}"))
    assert "backorder settings changed" in page
    assert "backorder policy : block → allow" in page
    assert "Ada Admin" in page


def test_saving_other_fields_leaves_backorder_settings_unaudited(admin, world):
    pid = product_id_of(world.sku)
    post_form(admin, f"/admin/products/{pid}", product_fields(world, name="Hex bolt M10", price="12.50"))
    assert reloaded(pid).name == "Hex bolt M10" and reloaded(pid).price == Decimal("12.50")
    assert audits(pid) == []
    assert audits(pid, "product_updated") == [({"name": "Hex bolt", "price": "10.00"},
                                               {"name": "Hex bolt M10", "price": "12.50"})]


def test_allow_up_to_requires_a_cap_and_other_policies_refuse_one(admin, world):
    pid = product_id_of(world.sku)
    before = db_snapshot()
    missing = post_form(admin, f"/admin/products/{pid}",
                        product_fields(world, backorder_policy="allow_up_to"))
    assert missing.status_code == 422
    assert "Enter the cap: the most units that may be on backorder" in text_of(missing)
    stray = post_form(admin, f"/admin/products/{pid}", product_fields(world, backorder_policy="allow",
                                                                      backorder_cap="5"))
    assert stray.status_code == 422
    assert "Leave the cap blank unless the policy is “allow up to”" in text_of(stray)
    assert db_snapshot() == before


def test_a_duplicate_sku_gets_a_clear_message(admin, world):
    pid = product_id_of(world.sku)
    before = db_snapshot()
    edited = post_form(admin, f"/admin/products/{pid}", product_fields(world, sku="nut-20"))
    assert edited.status_code == 422 and "Another product already has SKU NUT-20." in text_of(edited)
    created = post_form(admin, "/admin/products/new", product_fields(world, sku="BOLT-10"))
    assert created.status_code == 422 and "Another product already has SKU BOLT-10." in text_of(created)
    assert db_snapshot() == before


def test_a_new_product_is_created_with_its_settings_and_audited(admin, world):
    response = post_form(admin, "/admin/products/new", product_fields(
        world, sku="new-9", name="Washer", backorder_policy="allow_up_to", backorder_cap="0"))
    assert response.status_code == 302
    product = db.session.scalar(select(Product).where(Product.sku == "NEW-9"))
    assert product.name == "Washer" and product.backorder_cap == 0
    assert response.location.endswith(f"/admin/products/{product.id}")
    assert len(audits(product.id, "product_created")) == 1


@pytest.mark.parametrize(("changes", "message"), [
    ({"price": "abc"}, "Enter an amount, like 12.50."),
    ({"price": "NaN"}, "Enter an amount, like 12.50."),
    ({"price": "1e999"}, "Between 0 and 9,999,999,999.99."),
    ({"price": "1.005"}, "Enter an amount, like 12.50."),
    ({"price": "-1"}, "Between 0 and 9,999,999,999.99."),
    ({"price": "99999999999"}, "Between 0 and 9,999,999,999.99."),
    ({"order_minimum": "0"}, "A whole number from 1 to 1,000,000."),
    ({"order_multiple": "99999999999999999999"}, "Enter a whole number of units"),
    ({"low_stock_threshold": "-5"}, "A whole number from 0 to 1,000,000."),
    ({"lead_time_days": "soon"}, "Enter a whole number of units"),
    ({"lead_time_days": "9999"}, "A whole number of days from 0 to 3,650."),
    ({"sku": "X" * 41}, "A SKU has at most 40 characters."),
    ({"sku": "bad sku!"}, "Use letters, digits, dots, dashes"),
    ({"sku": ""}, "Enter the SKU."),
    ({"name": "   "}, "Enter the product name."),
    ({"name": "n" * 201}, "At most 200 characters."),
    ({"category_id": "999999"}, "Not a valid choice"),
    ({"vendor_id": "abc"}, "Not a valid choice"),
    ({"backorder_policy": "maybe"}, "Not a valid choice"),
])
def test_bad_product_input_gets_a_message_and_changes_nothing(admin, world, changes, message):
    pid = product_id_of(world.sku)
    before = db_snapshot()
    response = post_form(admin, f"/admin/products/{pid}", product_fields(world, **changes))
    assert response.status_code == 422
    assert message in text_of(response)
    assert db_snapshot() == before


@pytest.mark.parametrize("url", ["/admin/products/999999", "/admin/products/99999999999999999999999",
                                 "/admin/products/0", "/admin/price-lists/99999999999999999999"])
def test_unknown_ids_are_404(admin, url):
    assert admin.get(url).status_code == 404


# --- bulk edit ----------------------------------------------------------------------------------------


def test_bulk_edit_changes_only_the_checked_products_and_audits_each(admin, shelf):
    ids = [shelf["PLENTY"].id, shelf["LOW"].id]
    response = post_form(admin, "/admin/products/bulk", {
        "set_policy": "allow_up_to", "set_cap": "8", "scope": "checked",
        "product_ids": [str(i) for i in ids]})
    assert response.status_code == 302
    for pid in ids:
        assert (reloaded(pid).backorder_policy, reloaded(pid).backorder_cap) == ("allow_up_to", 8)
        assert audits(pid) == [({"backorder_cap": None, "backorder_policy": "block"},
                                {"backorder_cap": 8, "backorder_policy": "allow_up_to"})]
    assert reloaded(shelf["OUT-BLOCK"].id).backorder_policy == "block"
    assert audits(shelf["OUT-BLOCK"].id) == []


def test_bulk_edit_leaves_settings_marked_no_change_untouched(admin, shelf):
    pid = shelf["OUT-CAP0"].id
    post_form(admin, "/admin/products/bulk",
              {"set_display": "level", "scope": "checked", "product_ids": [pid]})
    product = reloaded(pid)
    assert product.stock_display == "level"
    assert (product.backorder_policy, product.backorder_cap, product.backorder_visibility) == (
        "allow_up_to", 0, "show")
    assert audits(pid) == [({"stock_display": "exact"}, {"stock_display": "level"})]


def test_bulk_edit_on_all_matching_shows_the_count_then_applies_in_one_go(admin, shelf):
    form = {"set_visibility": "hide", "scope": "all", "stock": "out"}
    before = db_snapshot()
    confirm = post_form(admin, "/admin/products/bulk", form)
    assert confirm.status_code == 200
    assert "Apply to 4 products" in text_of(confirm)
    assert db_snapshot() == before
    applied = post_form(admin, "/admin/products/bulk", {**form, "confirmed": "yes"})
    assert applied.status_code == 302 and "stock=out" in applied.location
    hidden = set(db.session.scalars(select(Product.sku).where(Product.backorder_visibility == "hide")))
    assert hidden == {"OUT-BLOCK", "OUT-ALLOW", "OUT-CAP0", "NUT-20"}
    # OUT-ALLOW was hidden already: no change, no audit row.
    assert audits(shelf["OUT-ALLOW"].id) == []
    assert len(audits(shelf["OUT-BLOCK"].id)) == 1


@pytest.mark.parametrize(("form", "message"), [
    ({"set_policy": "allow", "set_cap": "5", "scope": "all"},
     "A cap only goes with the policy “allow up to”"),
    ({"set_policy": "allow_up_to", "scope": "all"}, "Enter the cap that goes with “allow up to”."),
    ({"set_cap": "5", "scope": "all"}, "A cap only goes with the policy"),
    ({"scope": "all"}, "Choose at least one setting to change."),
    ({"set_visibility": "hide", "scope": "checked"}, "Tick at least one product"),
    ({"set_visibility": "hide", "scope": "checked", "product_ids": "abc"}, "unknown product"),
    ({"set_visibility": "hide"}, "Choose which products to change."),
    ({"set_visibility": "sideways", "scope": "all"}, "Not a valid choice"),
])
def test_bulk_edit_refuses_unclear_requests_with_a_message(admin, shelf, form, message):
    before = db_snapshot()
    response = post_form(admin, "/admin/products/bulk", {**form, "confirmed": "yes"})
    assert response.status_code == 422
    assert message in text_of(response)
    assert db_snapshot() == before
