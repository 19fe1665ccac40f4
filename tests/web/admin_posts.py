"""Valid form data for each back-office product and pricing POST route, built from the web tests' world
(used by the CSRF tests: the same post is refused without a token and accepted with one)."""

from __future__ import annotations

import io
from collections.abc import Callable

from sqlalchemy import select

from portal.extensions import db
from portal.models import Product, ProductImage, Warehouse
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
              "vendor_id": str(product.vendor_id), "price": "10.00", "order_minimum": "1",
              "order_multiple": "1", "backorder_policy": "block", "backorder_cap": "",
              "backorder_visibility": "show", "stock_display": "exact", "low_stock_threshold": "10",
              "lead_time_days": "", "active": "y"}
    return {**fields, **changes}


def _image_id(w: World) -> str:
    return str(db.session.scalar(select(ProductImage.id).where(ProductImage.stem == w.image_stem)))


def _warehouse_id(w: World) -> str:
    return str(db.session.scalar(select(Warehouse.id).limit(1)))


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
}
