"""Product maintenance services on SQLite and PostgreSQL: list filters, bulk edit over a filtered
selection (with full-text search), audit rows, alternatives and volume breaks."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog, Product
from portal.services import ServiceError, alternatives, price_lists, product_list, products
from portal.services.product_list import ProductFilter
from portal.services.products import BulkSettings, ProductData, ProductRefused
from tests.factories import make_category, make_product, make_user, make_vendor, set_stock


@pytest.fixture
def catalog(any_app):
    category = make_category("Fixings")
    made = {
        "HEX-1": make_product(sku="HEX-1", name="Hex bolt zinc", category=category),
        "HEX-2": make_product(sku="HEX-2", name="Hex bolt steel", category=category, policy="allow"),
        "NUT-1": make_product(sku="NUT-1", name="Wing nut", category=category, policy="allow_up_to", cap=5),
        "LOW-1": make_product(sku="LOW-1", name="Anchor plug", category=category),
    }
    set_stock(made["HEX-1"], 100)
    set_stock(made["LOW-1"], 2)
    return {"admin": make_user("admin"), "category": category, **made}


def _skus(f: ProductFilter) -> set[str]:
    return {row.product.sku for row in product_list.list_products(f).rows}


def test_stock_state_filters_agree_on_both_databases(catalog):
    assert _skus(ProductFilter(stock="out")) == {"HEX-2", "NUT-1"}
    assert _skus(ProductFilter(stock="low")) == {"LOW-1"}
    assert _skus(ProductFilter(stock="out_backorderable")) == {"HEX-2", "NUT-1"}
    assert _skus(ProductFilter(text="hex", policy="block")) == {"HEX-1"}
    assert product_list.count(ProductFilter(category_id=catalog["category"].id)) == 4


def test_bulk_edit_over_a_text_search_changes_exactly_the_matches_and_audits_each(catalog):
    selection = product_list.selection(ProductFilter(text="hex"))
    changed = products.bulk_update_settings(catalog["admin"], selection,
                                            BulkSettings(policy="allow_up_to", cap=3, stock_display="level"))
    assert changed == 2
    db.session.rollback()
    rows = {p.sku: p for p in db.session.scalars(select(Product))}
    capped = {s for s, p in rows.items() if p.backorder_policy == "allow_up_to" and p.backorder_cap == 3}
    assert capped == {"HEX-1", "HEX-2"}
    assert rows["NUT-1"].backorder_cap == 5 and rows["NUT-1"].stock_display == "exact"
    entries = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "backorder_settings_changed")).all()
    assert sorted(e.entity_id for e in entries) == sorted([catalog["HEX-1"].id, catalog["HEX-2"].id])
    assert all(json.loads(e.after)["stock_display"] == "level" for e in entries)


def test_bulk_edit_refuses_a_cap_without_allow_up_to_and_changes_nothing(catalog):
    with pytest.raises(ServiceError, match="cap"):
        products.bulk_update_settings(catalog["admin"], product_list.selection(ProductFilter()),
                                      BulkSettings(policy="allow", cap=4))
    assert db.session.scalar(select(AuditLog.id)) is None


def _data(category_id: int, vendor_id: int, **changes) -> ProductData:
    values = {"sku": "NEW-1", "name": "New", "category_id": category_id, "vendor_id": vendor_id,
              "price": Decimal("3.50"), **changes}
    return ProductData(**values)


def test_every_problem_with_a_product_is_reported_at_once(catalog):
    with pytest.raises(ProductRefused) as refused:
        products.create_product(catalog["admin"], _data(999_999, 999_999, sku="hex-1",
                                                       backorder_policy="allow_up_to"))
    assert set(refused.value.problems) == {"sku", "category_id", "vendor_id", "backorder_cap"}


def test_a_product_is_created_with_its_sku_in_capitals(catalog):
    vendor = make_vendor()
    data = _data(catalog["category"].id, vendor.id, sku=" abc-9 ")
    created = products.create_product(catalog["admin"], data)
    assert db.session.get(Product, created.id).sku == "ABC-9"


def test_alternatives_stay_densely_ordered_after_removal(catalog):
    admin, hex1 = catalog["admin"], catalog["HEX-1"].id
    for sku in ("HEX-2", "NUT-1", "LOW-1"):
        alternatives.add_alternative(admin, hex1, sku)
    alternatives.remove_alternative(admin, hex1, catalog["HEX-2"].id)
    alternatives.move_alternative(admin, hex1, catalog["LOW-1"].id, "up")
    db.session.rollback()
    assert [p.sku for p in alternatives.alternatives_of(hex1)] == ["LOW-1", "NUT-1"]


def test_a_second_break_at_the_same_quantity_is_refused(catalog):
    admin, hex1 = catalog["admin"], catalog["HEX-1"].id
    price_lists.add_price_break(admin, hex1, 10, Decimal("5"))
    with pytest.raises(ServiceError, match="already a break at 10 units"):
        price_lists.add_price_break(admin, hex1, 10, Decimal("7"))
    assert [b.percent_off for b in price_lists.breaks_of(hex1)] == [Decimal("5")]
