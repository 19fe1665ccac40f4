"""The cart: one per user and company, stored in the database (DESIGN §9: no state in a process)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, select, update
from sqlalchemy.orm import selectinload

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Address, Cart, CartLine, Order, PaymentCard, Product
from portal.services import NotFound, ServiceError

MAX_LINE_QUANTITY = 100_000
MAX_CART_LINES = 500


def find_cart(user_id: int, company_id: int) -> Cart | None:
    return db.session.scalar(
        select(Cart).where(Cart.user_id == user_id, Cart.company_id == company_id)
        .options(selectinload(Cart.lines).selectinload(CartLine.product).selectinload(Product.vendor)))


def _cart_for_update(session, user_id: int, company_id: int) -> Cart:
    cart = session.scalar(select(Cart).where(Cart.user_id == user_id, Cart.company_id == company_id))
    if cart is None:
        default = session.scalar(select(Address.id).where(Address.company_id == company_id)
                                 .order_by(Address.is_default_shipping.desc(), Address.id))
        cart = Cart(user_id=user_id, company_id=company_id, ship_to_id=default)
        session.add(cart)
        session.flush()
    return cart


def _check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= MAX_LINE_QUANTITY:
        raise ServiceError(f"Enter a quantity from 1 to {MAX_LINE_QUANTITY:,}.")


@dataclass(frozen=True)
class AddResult:
    sku: str
    quantity: int


def add_items(user_id: int, company_id: int, items: list[tuple[int, int]]) -> list[AddResult]:
    """Add (product id, quantity) pairs; a product already in the cart gets the quantities added."""
    for _, quantity in items:
        _check_quantity(quantity)
    with write_transaction() as session:
        cart = _cart_for_update(session, user_id, company_id)
        lines = {line.product_id: line for line in cart.lines}
        products = {p.id: p for p in session.scalars(
            select(Product).where(Product.id.in_([pid for pid, _ in items]), Product.active))}
        if len(lines) + len({pid for pid, _ in items} - set(lines)) > MAX_CART_LINES:
            raise ServiceError(f"A cart holds at most {MAX_CART_LINES} lines.")
        added = []
        # Product-id order, like every other writer: inserts take key-share locks on the products.
        for product_id, quantity in sorted(items, key=lambda item: item[0]):
            product = products.get(product_id)
            if product is None:
                raise NotFound("That product is not sold any more.")
            line = lines.get(product_id)
            if line is None:
                line = lines[product_id] = CartLine(cart_id=cart.id, product_id=product_id, quantity=0)
                session.add(line)
            line.quantity = min(line.quantity + quantity, MAX_LINE_QUANTITY)
            line.accept_late = False
            added.append(AddResult(product.sku, quantity))
    return added


def update_line(user_id: int, company_id: int, line_id: int, quantity: int,
                need_by: date | None) -> None:
    _check_quantity(quantity)
    with write_transaction() as session:
        line = _own_line(session, user_id, company_id, line_id)
        if line.quantity != quantity or line.need_by != need_by:
            line.accept_late = False  # the buyer decides again for the new figures
        line.quantity, line.need_by = quantity, need_by


def remove_line(user_id: int, company_id: int, line_id: int) -> str:
    with write_transaction() as session:
        line = _own_line(session, user_id, company_id, line_id)
        sku = line.product.sku
        session.delete(line)
    return sku


def accept_late(user_id: int, company_id: int, line_id: int) -> None:
    with write_transaction() as session:
        _own_line(session, user_id, company_id, line_id).accept_late = True


def swap_line(user_id: int, company_id: int, line_id: int, alternative_id: int) -> tuple[str, str]:
    """Replace a line's product by an alternative, keeping quantity and deadline."""
    with write_transaction() as session:
        line = _own_line(session, user_id, company_id, line_id)
        alternative = session.get(Product, alternative_id)
        if alternative is None or not alternative.active:
            raise NotFound("That alternative is not available.")
        old_sku = line.product.sku
        existing = session.scalar(select(CartLine).where(CartLine.cart_id == line.cart_id,
                                                         CartLine.product_id == alternative_id))
        if existing is not None:
            existing.quantity = min(existing.quantity + line.quantity, MAX_LINE_QUANTITY)
            existing.need_by = existing.need_by or line.need_by
            session.delete(line)
        else:
            line.product_id, line.accept_late = alternative_id, False
    return old_sku, alternative.sku


def _own_line(session, user_id: int, company_id: int, line_id: int) -> CartLine:
    line = session.scalar(select(CartLine).join(Cart).where(
        CartLine.id == line_id, Cart.user_id == user_id, Cart.company_id == company_id))
    if line is None:
        raise NotFound("That cart line does not exist (it may have been removed in another window).")
    return line


@dataclass(frozen=True)
class CheckoutDetails:
    ship_to_id: int | None
    po_reference: str
    need_by: date | None
    shipping_preference: str
    payment_method: str = "on_account"
    #: The saved card to pay with (payment_method "card").
    payment_card_id: int | None = None


def save_details(user_id: int, company_id: int, details: CheckoutDetails) -> None:
    with write_transaction() as session:
        if details.ship_to_id is not None and session.scalar(select(Address.id).where(
                Address.id == details.ship_to_id, Address.company_id == company_id)) is None:
            raise NotFound("Choose one of your company's addresses.")
        card_id = details.payment_card_id if details.payment_method == "card" else None
        if details.payment_method == "card" and (card_id is None or session.scalar(
                select(PaymentCard.id).where(PaymentCard.id == card_id, PaymentCard.company_id == company_id,
                                             PaymentCard.removed_at.is_(None))) is None):
            raise NotFound("Choose one of your company's saved cards.")
        cart = _cart_for_update(session, user_id, company_id)
        if cart.need_by != details.need_by:
            for line in cart.lines:
                line.accept_late = False
        cart.ship_to_id, cart.po_reference = details.ship_to_id, details.po_reference.strip()
        cart.need_by, cart.shipping_preference = details.need_by, details.shipping_preference
        cart.payment_method, cart.payment_card_id = details.payment_method, card_id


def order_again(user_id: int, company_id: int, order_number: str) -> list[AddResult]:
    """Put a past order's products (still sold) back in the cart at the quantities ordered."""
    order = db.session.scalar(select(Order).where(Order.number == order_number,
                                                  Order.company_id == company_id))
    if order is None:
        raise NotFound("That order does not exist.")
    items = [(line.product_id, line.quantity) for line in order.lines if line.product.active]
    if not items:
        raise ServiceError("None of that order's products are sold any more.")
    return add_items(user_id, company_id, items)


def clear(session, cart_id: int) -> None:
    """Empty the cart once its order is placed. The PO reference and need-by date belonged to that order
    and go too (the next order must not inherit them); ship-to and shipping preference stay as defaults."""
    session.execute(delete(CartLine).where(CartLine.cart_id == cart_id))
    session.execute(update(Cart).where(Cart.id == cart_id).values(po_reference="", need_by=None))
