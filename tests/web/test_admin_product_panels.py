"""The product editor's panels: alternatives, pictures and stock adjustments (issue 3, point 7)."""

from __future__ import annotations

import io

import pytest
from flask import current_app
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Product, ProductAlternative, ProductImage, Stock, StockMovement, Warehouse
from portal.services import images
from tests.conftest import login, post_form
from tests.factories import make_product, make_warehouse, set_stock
from tests.web.admin_posts import png_bytes
from tests.web.site import db_snapshot, product_id_of
from tests.web.test_admin_catalog import text_of, words_of


@pytest.fixture
def admin(client, world):
    login(client, world.email("admin"))
    return client


@pytest.fixture
def bolt(world) -> int:
    return product_id_of(world.sku)


def alternative_skus(product_id: int) -> list[str]:
    from portal.services.alternatives import alternatives_of

    db.session.rollback()
    return [p.sku for p in alternatives_of(product_id)]


# --- alternatives -------------------------------------------------------------------------------------


def test_alternatives_are_added_by_sku_in_order(admin, bolt):
    make_product(sku="BOLT-12")
    for sku in ("nut-20", "BOLT-12"):
        added = post_form(admin, f"/admin/products/{bolt}/alternatives", {"alternative_sku": sku})
        assert added.status_code == 302
    assert alternative_skus(bolt) == ["NUT-20", "BOLT-12"]
    assert "NUT-20" in text_of(admin.get(f"/admin/products/{bolt}"))


@pytest.mark.parametrize(("sku", "message"), [
    ("NOPE-1", "No product has SKU NOPE-1."),
    ("bolt-10", "A product cannot be its own alternative."),
    ("NUT-20", "NUT-20 is already an alternative."),
    ("", "Enter the SKU of the alternative."),
    ("X" * 41, "A SKU has at most 40 characters."),
])
def test_a_bad_alternative_gets_a_clear_message(admin, bolt, sku, message):
    post_form(admin, f"/admin/products/{bolt}/alternatives", {"alternative_sku": "NUT-20"})
    before = db_snapshot()
    response = post_form(admin, f"/admin/products/{bolt}/alternatives", {"alternative_sku": sku})
    assert response.status_code == 422
    assert message in text_of(response)
    assert db_snapshot() == before


def test_alternatives_move_up_and_down_and_are_removed(admin, bolt):
    ids = {sku: make_product(sku=sku).id for sku in ("ALT-A", "ALT-B", "ALT-C")}
    for sku in ids:
        post_form(admin, f"/admin/products/{bolt}/alternatives", {"alternative_sku": sku})
    move = f"/admin/products/{bolt}/alternatives/move"
    post_form(admin, move, {"item_id": ids["ALT-C"], "direction": "up"})
    assert alternative_skus(bolt) == ["ALT-A", "ALT-C", "ALT-B"]
    post_form(admin, move, {"item_id": ids["ALT-A"], "direction": "down"})
    assert alternative_skus(bolt) == ["ALT-C", "ALT-A", "ALT-B"]
    post_form(admin, move, {"item_id": ids["ALT-C"], "direction": "up"})
    assert alternative_skus(bolt) == ["ALT-C", "ALT-A", "ALT-B"]  # already first: nothing moves
    post_form(admin, f"/admin/products/{bolt}/alternatives/remove", {"item_id": ids["ALT-A"]})
    assert alternative_skus(bolt) == ["ALT-C", "ALT-B"]
    positions = db.session.scalars(select(ProductAlternative.position)
                                   .where(ProductAlternative.product_id == bolt)
                                   .order_by(ProductAlternative.position)).all()
    assert positions == [0, 1]


def test_another_products_alternative_cannot_be_moved_or_removed_through_this_one(admin, bolt, world):
    nut = product_id_of("NUT-20")
    post_form(admin, f"/admin/products/{nut}/alternatives", {"alternative_sku": "BOLT-10"})
    before = db_snapshot()
    response = post_form(admin, f"/admin/products/{bolt}/alternatives/remove", {"item_id": bolt},
                         follow_redirects=True)
    assert "That product is not one of this product's alternatives." in text_of(response)
    moved = post_form(admin, f"/admin/products/{bolt}/alternatives/move",
                      {"item_id": bolt, "direction": "up"}, follow_redirects=True)
    assert "not one of this product's alternatives" in text_of(moved)
    assert db_snapshot() == before


@pytest.mark.parametrize("data", [{}, {"item_id": "abc"}, {"item_id": "99999999999999999999"},
                                  {"item_id": "1", "direction": "sideways"}])
def test_a_garbled_row_button_is_a_bad_request(admin, bolt, data):
    response = post_form(admin, f"/admin/products/{bolt}/alternatives/move", data)
    assert response.status_code == 400


# --- pictures -----------------------------------------------------------------------------------------


def _upload(client, product_id: int, content: bytes, filename: str = "picture.png", alt: str = "Front view"):
    return post_form(client, f"/admin/products/{product_id}/images",
                     {"image": (io.BytesIO(content), filename), "alt_text": alt},
                     content_type="multipart/form-data")


def test_a_real_png_is_stored_with_a_thumbnail_and_listed(admin, bolt):
    response = _upload(admin, bolt, png_bytes((40, 30)))
    assert response.status_code == 302
    image = db.session.scalar(select(ProductImage).where(ProductImage.alt_text == "Front view"))
    assert image.product_id == bolt and (image.width, image.height) == (40, 30)
    assert images.image_path(current_app, image.stem, "thumb").exists()
    page = text_of(admin.get(f"/admin/products/{bolt}"))
    assert f"/catalog/images/{image.stem}/thumb.jpg" in page and 'alt="Front view"' in page
    assert admin.get(f"/catalog/images/{image.stem}/thumb.jpg").status_code == 200


@pytest.mark.parametrize(("content", "filename", "message"), [
    (b"just some text, honest", "notes.png", "This file is not an image we can read."),
    (b"", "empty.png", "The file is empty."),
    (png_bytes() + b"\0" * (5 * 1024 * 1024), "huge.png", "The image is larger than 5 MB."),
])
def test_uploads_that_are_not_usable_images_are_refused_in_the_page(admin, bolt, content, filename, message):
    before = db_snapshot()
    response = _upload(admin, bolt, content, filename)
    assert response.status_code == 422
    assert message in text_of(response)
    assert db_snapshot() == before


def test_an_upload_without_a_file_asks_for_one(admin, bolt):
    response = post_form(admin, f"/admin/products/{bolt}/images", {"alt_text": "Nothing"})
    assert response.status_code == 422 and "Choose an image file to upload." in text_of(response)


def test_alt_text_is_limited(admin, bolt):
    response = _upload(admin, bolt, png_bytes(), alt="a" * 201)
    assert response.status_code == 422 and "At most 200 characters." in text_of(response)


def test_a_picture_is_removed_with_its_files(admin, bolt, world):
    image_id = db.session.scalar(select(ProductImage.id).where(ProductImage.stem == world.image_stem))
    response = post_form(admin, f"/admin/products/{bolt}/images/remove", {"item_id": image_id})
    assert response.status_code == 302
    db.session.rollback()
    assert db.session.get(ProductImage, image_id) is None
    assert not images.image_path(current_app, world.image_stem, "thumb").exists()


def test_another_products_picture_cannot_be_removed_through_this_one(admin, world):
    nut = product_id_of("NUT-20")
    image_id = db.session.scalar(select(ProductImage.id).where(ProductImage.stem == world.image_stem))
    before = db_snapshot()
    response = post_form(admin, f"/admin/products/{nut}/images/remove", {"item_id": image_id},
                         follow_redirects=True)
    assert "That picture is not one of this product's." in text_of(response)
    assert db_snapshot() == before


# --- stock --------------------------------------------------------------------------------------------


def _warehouse_id() -> int:
    return db.session.scalar(select(Warehouse.id).where(Warehouse.code == "MAIN"))


def _stock(product_id: int) -> Stock:
    db.session.rollback()
    return db.session.scalar(select(Stock).where(Stock.product_id == product_id))


def test_a_stock_adjustment_with_a_reason_is_written_to_the_ledger_and_shown(admin, bolt, world):
    response = post_form(admin, f"/admin/products/{bolt}/stock",
                         {"warehouse_id": _warehouse_id(), "change": "-7", "reason": "Damaged in store"})
    assert response.status_code == 302
    assert _stock(bolt).on_hand == 33
    movement = db.session.scalar(select(StockMovement).where(StockMovement.kind == "adjustment"))
    assert (movement.quantity, movement.reason, movement.actor_id) == (-7, "Damaged in store", world.admin)
    total = db.session.scalar(select(func.sum(StockMovement.quantity))
                              .where(StockMovement.product_id == bolt))
    assert total == 33
    page = words_of(admin.get(f"/admin/products/{bolt}"))
    assert "-7 adjustment Damaged in store Ada Admin" in page


def test_the_first_adjustment_in_a_warehouse_creates_the_stock_row(admin, world):
    nut = product_id_of("NUT-20")
    post_form(admin, f"/admin/products/{nut}/stock", {"warehouse_id": _warehouse_id(), "change": "12",
                                                      "reason": "Found a box"})
    assert _stock(nut).on_hand == 12


@pytest.mark.parametrize(("data", "message"), [
    ({"change": "5", "reason": ""}, "Give a reason for the adjustment."),
    ({"change": "5", "reason": "   "}, "Give a reason for the adjustment."),
    ({"change": "5"}, "Give a reason for the adjustment."),
    ({"change": "0", "reason": "x"}, "Enter a change other than 0."),
    ({"change": "", "reason": "x"}, "Enter the change, like 12 or -3."),
    ({"change": "lots", "reason": "x"}, "Enter a whole number of units"),
    ({"change": "2.5", "reason": "x"}, "Enter a whole number of units"),
    ({"change": "5000000", "reason": "x"}, "A whole number from -1,000,000 to 1,000,000."),
    ({"change": "-41", "reason": "Count"}, "Only 40 on hand: removing 41 would leave -1."),
    ({"change": "5", "reason": "r" * 256}, "At most 255 characters."),
    ({"change": "5", "reason": "x", "warehouse_id": "999"}, "Not a valid choice"),
])
def test_a_bad_stock_adjustment_gets_a_message_and_writes_nothing(admin, bolt, data, message):
    before = db_snapshot()
    response = post_form(admin, f"/admin/products/{bolt}/stock", {"warehouse_id": _warehouse_id(), **data})
    assert response.status_code == 422
    assert message in text_of(response)
    assert db_snapshot() == before


def test_stock_cannot_be_adjusted_below_what_is_allocated(admin, bolt):
    with write_transaction() as s:
        s.scalar(select(Stock).where(Stock.product_id == bolt)).allocated = 30
    response = post_form(admin, f"/admin/products/{bolt}/stock",
                         {"warehouse_id": _warehouse_id(), "change": "-15", "reason": "Count"})
    assert response.status_code == 422
    assert "30 units are allocated to orders: on hand cannot go below that" in text_of(response)
    assert _stock(bolt).on_hand == 40


def test_the_editor_shows_on_hand_allocated_and_available_per_warehouse(admin, bolt):
    second = make_warehouse("EAST")
    set_stock(db.session.get(Product, bolt), 6, warehouse=second)
    with write_transaction() as s:
        s.scalar(select(Stock).where(Stock.product_id == bolt, Stock.warehouse_id == second.id)).allocated = 2
    page = words_of(admin.get(f"/admin/products/{bolt}"))
    assert "EAST · Warehouse EAST 6 2 4" in page
    assert "MAIN · Main warehouse 40 0 40" in page
