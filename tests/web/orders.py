"""Placing orders for web tests through the real services (cart, details, review, place), as
``tests/integration/test_place_order.py`` does, and reading order pages back."""

from __future__ import annotations

import html
import re
import uuid
from datetime import date

from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Address, Company, Order, Stock, StockMovement, User
from portal.services import carts, ordering

TODAY = date.today()


def place_order(user_id: int, items, *, need_by: date | None = None, po: str = "PO-77",
                shipping: str = "ship_partial") -> str:
    """Order ``items`` ((product, quantity) pairs) as the buyer ``user_id`` from an emptied cart; a line
    whose ETA misses ``need_by`` is kept (the buyer accepts the later date). Returns the order number."""
    empty_cart(user_id)
    user = db.session.get(User, user_id)
    company_id = user.company_id
    carts.add_items(user.id, company_id, [(product.id, quantity) for product, quantity in items])
    address = db.session.scalar(select(Address.id).where(Address.company_id == company_id)
                                .order_by(Address.id))
    carts.save_details(user.id, company_id, carts.CheckoutDetails(address, po, need_by, shipping))
    review = _review(user_id)
    cart = carts.find_cart(user_id, company_id)
    for line in review.lines:
        if line.needs_decision:
            cart_line = next(c for c in cart.lines if c.product_id == line.product_id)
            carts.accept_late(user_id, company_id, cart_line.id)
    review = _review(user_id)
    assert not review.problems, review.problems
    user = db.session.get(User, user_id)
    order = ordering.place_order(user, company_id, uuid.uuid4().hex, review.fingerprint, TODAY)
    return order.number


def empty_cart(user_id: int) -> None:
    """Take every line out of the buyer's cart (the web tests' world leaves one in buyer A's)."""
    db.session.rollback()
    user = db.session.get(User, user_id)
    cart = carts.find_cart(user.id, user.company_id)
    if cart is not None:
        with write_transaction() as s:
            carts.clear(s, cart.id)
    db.session.rollback()


def _review(user_id: int) -> ordering.Review:
    db.session.rollback()
    user = db.session.get(User, user_id)
    return ordering.review_cart(user, db.session.get(Company, user.company_id), TODAY)


def ship_everything_allocated(number: str) -> None:
    """Ship an order's allocated units (shipping is built later; this does what it will do) and mark the
    order shipped when nothing is left open."""
    with write_transaction() as s:
        order = s.scalar(select(Order).where(Order.number == number))
        for line in order.lines:
            units = line.allocated
            if not units:
                continue
            stock = s.scalar(select(Stock).where(Stock.product_id == line.product_id).order_by(Stock.id))
            stock.on_hand -= units
            stock.allocated -= units
            s.add(StockMovement(product_id=line.product_id, warehouse_id=stock.warehouse_id, quantity=-units,
                                kind="shipment", reason=f"shipment of {number}"))
            line.allocated, line.shipped = 0, line.shipped + units
        if all(line.backordered == 0 and line.allocated == 0 for line in order.lines):
            order.status = "shipped"
        else:
            order.status = "partially_shipped"


def words_of(response) -> str:
    """The page's text without tags, whitespace collapsed."""
    text = html.unescape(response.get_data(as_text=True))
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


def row_of(response, sku: str) -> str:
    """The words of the table row (``<tr>``) that shows ``sku``."""
    page = html.unescape(response.get_data(as_text=True))
    for row in re.findall(r"<tr\b.*?</tr>", page, flags=re.S):
        if f">{sku}<" in row:
            return " ".join(re.sub(r"<[^>]+>", " ", row).split())
    raise AssertionError(f"no row shows {sku}")


def cells_of(response, sku: str) -> list[str]:
    """The words of each cell of the table row that shows ``sku``."""
    page = html.unescape(response.get_data(as_text=True))
    for row in re.findall(r"<tr\b.*?</tr>", page, flags=re.S):
        if f">{sku}<" in row:
            cells = re.findall(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", row, flags=re.S)
            return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]
    raise AssertionError(f"no row shows {sku}")
