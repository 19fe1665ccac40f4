"""Curated alternatives per product (issue 3, point 5): add by SKU, remove, reorder.

Positions are kept dense (0, 1, 2, ...) so "move up" and "move down" are swaps with a neighbour. The
product's row is locked first, so two admins reordering the same list do not interleave.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Product, ProductAlternative, User
from portal.services import NotFound, ServiceError
from portal.services.audit import record
from portal.services.products import normalise_sku

DIRECTIONS = ("up", "down")


class AlternativeRefused(ServiceError):
    pass


def _lock_product(session: Session, product_id: int) -> Product:
    product = session.scalar(select(Product).where(Product.id == product_id).with_for_update())
    if product is None:
        raise NotFound("That product does not exist.")
    return product


def _ordered(session: Session, product_id: int) -> list[ProductAlternative]:
    rows = list(session.scalars(select(ProductAlternative).where(ProductAlternative.product_id == product_id)
                                .order_by(ProductAlternative.position, ProductAlternative.alternative_id)))
    for index, row in enumerate(rows):  # dense positions, whatever earlier data held
        row.position = index
    return rows


def add_alternative(actor: User, product_id: int, sku: str) -> Product:
    """Append the product with ``sku`` to the product's curated alternatives; returns it."""
    wanted = normalise_sku(sku)
    with write_transaction() as session:
        product = _lock_product(session, product_id)
        alternative = session.scalar(select(Product).where(Product.sku == wanted)) if wanted else None
        if alternative is None:
            raise AlternativeRefused(f"No product has SKU {wanted or '(blank)'}.")
        if alternative.id == product.id:
            raise AlternativeRefused("A product cannot be its own alternative.")
        rows = _ordered(session, product_id)
        if any(row.alternative_id == alternative.id for row in rows):
            raise AlternativeRefused(f"{alternative.sku} is already an alternative.")
        session.add(ProductAlternative(product_id=product_id, alternative_id=alternative.id,
                                       position=len(rows)))
        record(actor, "alternative_added", "product", product_id, after={"alternative": alternative.sku})
    return alternative


def _find(rows: list[ProductAlternative], alternative_id: int) -> int:
    for index, row in enumerate(rows):
        if row.alternative_id == alternative_id:
            return index
    raise NotFound("That product is not one of this product's alternatives.")


def remove_alternative(actor: User, product_id: int, alternative_id: int) -> None:
    with write_transaction() as session:
        _lock_product(session, product_id)
        rows = _ordered(session, product_id)
        index = _find(rows, alternative_id)
        session.delete(rows.pop(index))
        for position, row in enumerate(rows):
            row.position = position
        record(actor, "alternative_removed", "product", product_id, before={"alternative_id": alternative_id})


def move_alternative(actor: User, product_id: int, alternative_id: int, direction: str) -> None:
    """Swap with the neighbour above or below; at either end nothing changes."""
    if direction not in DIRECTIONS:
        raise AlternativeRefused("Move an alternative up or down.")
    with write_transaction() as session:
        _lock_product(session, product_id)
        rows = _ordered(session, product_id)
        index = _find(rows, alternative_id)
        other = index - 1 if direction == "up" else index + 1
        if 0 <= other < len(rows):
            rows[index].position, rows[other].position = rows[other].position, rows[index].position


def alternatives_of(product_id: int) -> list[Product]:
    return list(db.session.scalars(
        select(Product).join(ProductAlternative, ProductAlternative.alternative_id == Product.id)
        .where(ProductAlternative.product_id == product_id)
        .order_by(ProductAlternative.position, ProductAlternative.alternative_id)))
