"""Customer pricing, admin side: price lists (percentage, fixed prices) and volume breaks, as buyers then
see them on the product page (issue 3, point 6)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import AuditLog, Company, PriceBreak, PriceList, PriceListItem
from tests.conftest import post_form
from tests.web.site import db_snapshot, product_id_of
from tests.web.test_admin_catalog import text_of, words_of


@pytest.fixture
def admin(client_for):
    return client_for("admin")


@pytest.fixture
def buyer(world, client_for):
    """Buyer A, whose company uses the world's "Gold" price list (10% off)."""
    with write_transaction() as s:
        s.get(Company, world.company_a).price_list_id = world.price_list
    return client_for("buyer_a")


def buyer_price_text(buyer, sku: str = "BOLT-10") -> str:
    response = buyer.get(f"/catalog/p/{sku}")
    assert response.status_code == 200
    return words_of(response)


# --- price lists --------------------------------------------------------------------------------------


def test_a_price_list_is_created_then_renamed_and_its_percentage_changed(admin):
    created = post_form(admin, "/admin/price-lists/new", {"name": "Silver", "discount_percent": "5"})
    assert created.status_code == 302
    silver = db.session.scalar(select(PriceList).where(PriceList.name == "Silver"))
    assert silver.discount_percent == Decimal("5")
    edited = post_form(admin, f"/admin/price-lists/{silver.id}",
                       {"name": "Silver plus", "discount_percent": "12.5"})
    assert edited.status_code == 302
    db.session.rollback()
    silver = db.session.get(PriceList, silver.id)
    assert (silver.name, silver.discount_percent) == ("Silver plus", Decimal("12.5"))
    assert "Silver plus" in text_of(admin.get("/admin/price-lists"))
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.entity == "price_list")).all()
    assert actions == ["price_list_created", "price_list_updated"]


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "Silver", "discount_percent": "101"}, "Between 0 and 100."),
    ({"name": "Silver", "discount_percent": "-1"}, "Between 0 and 100."),
    ({"name": "Silver", "discount_percent": "ten"}, "Enter a percentage, like 10 or 12.5."),
    ({"name": "Silver", "discount_percent": "NaN"}, "Enter a percentage, like 10 or 12.5."),
    ({"name": "Silver", "discount_percent": ""}, "Enter the percentage off (0 for none)."),
    ({"name": "  ", "discount_percent": "5"}, "Enter a name for the price list."),
    ({"name": "n" * 101, "discount_percent": "5"}, "At most 100 characters."),
    ({"name": "gold", "discount_percent": "5"}, "A price list named “gold” already exists."),
])
def test_a_bad_price_list_gets_a_message_and_is_not_saved(admin, data, message):
    before = db_snapshot()
    response = post_form(admin, "/admin/price-lists/new", data)
    assert response.status_code == 422
    assert message in text_of(response)
    assert db_snapshot() == before


def test_a_buyer_on_a_percentage_list_sees_the_discounted_price(admin, buyer, world):
    assert "$9.00 per unit, your Gold price" in buyer_price_text(buyer)
    post_form(admin, f"/admin/price-lists/{world.price_list}", {"name": "Gold", "discount_percent": "25"})
    assert "$7.50 per unit" in buyer_price_text(buyer)


def test_a_fixed_price_replaces_the_percentage_for_that_product_only(admin, buyer, world):
    response = post_form(admin, f"/admin/price-lists/{world.price_list}/prices",
                         {"sku": "bolt-10", "price": "6.40"})
    assert response.status_code == 302
    assert "$6.40 per unit" in buyer_price_text(buyer)
    assert "$9.00 per unit" in buyer_price_text(buyer, "NUT-20")
    page = words_of(admin.get(f"/admin/price-lists/{world.price_list}"))
    assert "BOLT-10 Hex bolt $10.00 $9.00 $6.40" in page
    post_form(admin, f"/admin/price-lists/{world.price_list}/prices", {"sku": "BOLT-10", "price": "6.10"})
    assert "$6.10 per unit" in buyer_price_text(buyer)
    assert db.session.query(PriceListItem).count() == 1


def test_removing_a_fixed_price_brings_back_the_percentage(admin, buyer, world):
    post_form(admin, f"/admin/price-lists/{world.price_list}/prices", {"sku": "BOLT-10", "price": "6.40"})
    removed = post_form(admin, f"/admin/price-lists/{world.price_list}/prices/remove",
                        {"item_id": product_id_of("BOLT-10")})
    assert removed.status_code == 302
    assert "$9.00 per unit" in buyer_price_text(buyer)


@pytest.mark.parametrize(("data", "message"), [
    ({"sku": "NOPE-1", "price": "5"}, "No product has SKU NOPE-1."),
    ({"sku": "BOLT-10", "price": "-5"}, "Between 0 and 9,999,999,999.99."),
    ({"sku": "BOLT-10", "price": "cheap"}, "Enter an amount, like 12.50."),
    ({"sku": "BOLT-10", "price": "1e12"}, "Between 0 and 9,999,999,999.99."),
    ({"sku": "", "price": "5"}, "Enter the SKU."),
])
def test_a_bad_fixed_price_gets_a_message(admin, world, data, message):
    before = db_snapshot()
    response = post_form(admin, f"/admin/price-lists/{world.price_list}/prices", data)
    assert response.status_code == 422
    assert message in text_of(response)
    assert db_snapshot() == before


def test_removing_a_fixed_price_that_is_not_there_says_so(admin, world):
    response = post_form(admin, f"/admin/price-lists/{world.price_list}/prices/remove", {"item_id": "12345"},
                         follow_redirects=True)
    assert "That product has no fixed price on this list." in text_of(response)


# --- volume breaks ------------------------------------------------------------------------------------


def _add_break(admin, product_id: int, min_quantity: str, percent_off: str):
    return post_form(admin, f"/admin/products/{product_id}/price-breaks",
                     {"min_quantity": min_quantity, "percent_off": percent_off})


def test_volume_breaks_show_in_the_buyers_price_table_on_top_of_the_list_price(admin, buyer):
    bolt = product_id_of("BOLT-10")
    assert _add_break(admin, bolt, "50", "10").status_code == 302
    assert _add_break(admin, bolt, "10", "5").status_code == 302
    page = buyer_price_text(buyer)
    # Gold: 10.00 less 10% = 9.00; then 5% and 10% off that.
    assert "1–9 $9.00 — 10–49 $8.55 5.0% 50+ $8.10 10.0%" in page
    editor = words_of(admin.get(f"/admin/products/{bolt}"))
    assert "10 5.00% $9.50" in editor and "50 10.00% $9.00" in editor


def test_volume_breaks_apply_to_a_fixed_price_too(admin, buyer, world):
    bolt = product_id_of("BOLT-10")
    post_form(admin, f"/admin/price-lists/{world.price_list}/prices", {"sku": "BOLT-10", "price": "7.50"})
    _add_break(admin, bolt, "10", "5")
    assert "10+ $7.13 5.0%" in buyer_price_text(buyer)  # 7.125 rounds half up


@pytest.mark.parametrize(("min_quantity", "percent_off", "message"), [
    ("1", "5", "A whole number from 2 to 1,000,000."),
    ("10", "0", "More than 0 and less than 100."),
    ("10", "100", "More than 0 and less than 100."),
    ("10", "-3", "More than 0 and less than 100."),
    ("ten", "5", "Enter a whole number of units"),
    ("10", "half", "Enter a percentage, like 5 or 7.5."),
    ("20", "5", "There is already a break at 20 units; remove it first."),
])
def test_a_bad_volume_break_gets_a_message(admin, world, min_quantity, percent_off, message):
    bolt = product_id_of("BOLT-10")
    _add_break(admin, bolt, "20", "3")
    before = db_snapshot()
    response = _add_break(admin, bolt, min_quantity, percent_off)
    assert response.status_code == 422
    assert message in text_of(response)
    assert db_snapshot() == before


def test_a_volume_break_is_removed_but_not_through_another_product(admin, world):
    bolt, nut = product_id_of("BOLT-10"), product_id_of("NUT-20")
    _add_break(admin, bolt, "20", "3")
    break_id = db.session.scalar(select(PriceBreak.id))
    refused = post_form(admin, f"/admin/products/{nut}/price-breaks/remove", {"item_id": break_id},
                        follow_redirects=True)
    assert "That volume break no longer exists." in text_of(refused)
    assert db.session.scalar(select(PriceBreak.id)) == break_id
    post_form(admin, f"/admin/products/{bolt}/price-breaks/remove", {"item_id": break_id})
    db.session.rollback()
    assert db.session.scalar(select(PriceBreak.id)) is None
