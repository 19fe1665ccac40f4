"""Valid form data for each back-office product and pricing POST route, built from the web tests' world
(used by the CSRF tests: the same post is refused without a token and accepted with one)."""

from __future__ import annotations

import io
from collections.abc import Callable

from sqlalchemy import select

from portal.extensions import db
from portal.models import Product, ProductImage, Warehouse
from tests.web import backoffice_world as bo
from tests.web.site import World


def png_bytes(size: tuple[int, int] = (8, 8), color: tuple[int, int, int] = (30, 90, 200)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def product_fields(w: World, sku: str = "BOLT-10", **changes) -> dict[str, str]:
    """Every field of the product form, as the editor would post it for the world's product."""
    product = db.session.scalar(select(Product).where(Product.sku == w.sku))
    fields = {"sku": sku, "name": product.name, "description": "", "category_id": str(product.category_id),
              "vendor_id": str(product.vendor_id), "price": "10.00", "cost_price": "", "order_minimum": "1",
              "order_multiple": "1", "backorder_policy": "block", "backorder_cap": "",
              "backorder_visibility": "show", "stock_display": "exact", "low_stock_threshold": "10",
              "lead_time_days": "", "active": "y"}
    return {**fields, **changes}


def _image_id(w: World) -> str:
    return str(db.session.scalar(select(ProductImage.id).where(ProductImage.stem == w.image_stem)))


def _warehouse_id(w: World) -> str:
    return str(db.session.scalar(select(Warehouse.id).limit(1)))


def _vendor_fields(name: str) -> dict[str, str]:
    return {"name": name, "contact_name": "Vera", "email": "orders@vendor.example", "phone": "",
            "lead_time_days": "10", "min_order_value": "0", "pack_size": "6", "active": "y"}


def _draft_line(w: World) -> dict[str, str]:
    line_id = bo.draft_line_id()
    return {"line_id": str(line_id), f"line{line_id}-quantity": "12",
            f"line{line_id}-expected_date": "2027-01-15"}


#: The back office of issue 6 (objects from tests/web/backoffice_world.py).
BACKOFFICE_VALID_POSTS: dict[str, tuple[str, Callable[[World], dict]]] = {
    "admin.new_vendor": ("admin", lambda w: _vendor_fields("Fresh Vendor")),
    "admin.vendor": ("admin", lambda w: _vendor_fields("Renamed Vendor")),
    "admin.new_purchase_order": ("admin", lambda w: {"vendor_id": str(bo.vendor_id())}),
    "admin.generate_purchase_orders": ("admin", lambda w: {}),
    "admin.add_po_line": ("admin", lambda w: {"sku": "BOLT-10", "quantity": "5"}),
    "admin.update_po_line": ("admin", _draft_line),
    "admin.remove_po_line": ("admin", lambda w: {"line_id": str(bo.draft_line_id())}),
    "admin.po_notes": ("admin", lambda w: {"notes": "Deliver to dock 2"}),
    "admin.po_status": ("admin", lambda w: {"status": "sent"}),
    "admin.receive_purchase_order": ("admin", lambda w: {"token": "receipt-token-1",
                                                         f"received-{bo.sent_line_id()}": "1"}),
    "admin.backorder_priority": ("admin", lambda w: {"priority": "3"}),
    # Valid only with free stock on the shelf, which the world keeps at 0 for NUT-20 (NEEDS_PAGE_STATE).
    "admin.allocate_backorder": ("admin", lambda w: {"quantity": "1"}),
    "admin.settings": ("admin", lambda w: {"backorder_priority": "deadline", "rep_goodwill_limit": "25"}),
    "admin.outbox_retry": ("admin", lambda w: {}),
    "admin.reorder_points": ("admin", lambda w: {"sku": "BOLT-10", "reorder_min": "10", "reorder_max": "50"}),
    "admin.decide_goodwill": ("admin", lambda w: {"decision": "approve"}),
    "admin.ship_order": ("admin", lambda w: {"token": "shipment-token-1", "tracking_number": "1Z-2",
                                             f"ship-{bo.order_line_id(w.order_a)}": "1"}),
    "admin.ship_planned": ("admin", lambda w: {"reason": "Long-standing customer"}),
    "admin.cancel_planned": ("admin", lambda w: {}),
    "account.cancel_line": ("rep_a", lambda w: {"quantity": "1", "reason": "Customer changed plans"}),
    "account.cancel_backorder": ("buyer_a",
                                 lambda w: {f"cancel-{bo.order_line_id(w.order_a)}-quantity": "1"}),
    "account.accept_date": ("buyer_a", lambda w: {}),
    "account.swap_backorder": ("buyer_a", lambda w: {"alternative_id": "1", "quantity": "1",
                                                     "unit_price": "1.00", "version": "0" * 16,
                                                     "token": "0" * 32}),
    "account.grant_goodwill": ("rep_a", lambda w: {"percent": "5", "reason": "Sorry for the wait"}),
}

ADMIN_VALID_POSTS: dict[str, tuple[str, Callable[[World], dict]]] = {
    "admin.bulk_edit": ("admin", lambda w: {"set_visibility": "hide", "scope": "all", "confirmed": "yes"}),
    "admin.new_product": ("admin", lambda w: product_fields(w, sku="NEW-1")),
    "admin.product": ("admin", lambda w: product_fields(w, backorder_policy="allow_up_to",
                                                        backorder_cap="5")),
    "admin.add_alternative": ("admin", lambda w: {"alternative_sku": "NUT-20"}),
    # No alternative or break exists in the world: an unknown row is flashed, not an error page.
    "admin.remove_alternative": ("admin", lambda w: {"item_id": "1"}),
    "admin.move_alternative": ("admin", lambda w: {"item_id": "1", "direction": "up"}),
    "admin.upload_image": ("admin", lambda w: {"image": (io.BytesIO(png_bytes()), "blue.png"),
                                               "alt_text": "A blue square"}),
    "admin.remove_image": ("admin", lambda w: {"item_id": _image_id(w)}),
    "admin.adjust_stock": ("admin", lambda w: {"warehouse_id": _warehouse_id(w), "change": "-3",
                                               "reason": "Stock count"}),
    "admin.add_price_break": ("admin", lambda w: {"min_quantity": "10", "percent_off": "5"}),
    "admin.remove_price_break": ("admin", lambda w: {"item_id": "1"}),
    "admin.new_price_list": ("admin", lambda w: {"name": "Silver", "discount_percent": "5"}),
    "admin.price_list": ("admin", lambda w: {"name": "Gold", "discount_percent": "12.5"}),
    "admin.add_list_price": ("admin", lambda w: {"sku": "BOLT-10", "price": "7.50"}),
    "admin.remove_list_price": ("admin", lambda w: {"item_id": "1"}),
    **BACKOFFICE_VALID_POSTS,
}
