"""Quick order: parsed rows of SKU and quantity into the cart, every bad row reported, no good row lost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.domain.quick_order import Row, add_problems
from portal.extensions import db
from portal.models import Product
from portal.services import carts
from portal.services.stock_facts import facts_for, rules_of


@dataclass(frozen=True)
class Outcome:
    added: list[carts.AddResult]
    #: The rows that were not added, each with its reason, in the order given.
    rejected: list[Row]


def add_rows(user_id: int, company_id: int, rows: list[Row], today: date) -> Outcome:
    """Check each row against its product's rules and live stock, and add the good ones in one go.

    Rows refused here: unknown SKU, product no longer sold, below the minimum or off the multiple, and
    quantities the backorder rules refuse (a ``block`` product out of stock, a used-up cap). Reads run a
    fixed number of queries however many rows there are. Raises ServiceError when the cart refuses
    (too many lines); then nothing is added.
    """
    skus = {row.sku for row in rows if row.ok}
    products = {p.sku: p for p in db.session.scalars(
        select(Product).where(Product.sku.in_(skus)).options(selectinload(Product.vendor)))} if skus else {}
    facts = facts_for([p for p in products.values() if p.active], today)
    good: list[tuple[int, int]] = []
    rejected: list[Row] = []
    for row in rows:
        if not row.ok or row.quantity is None:
            rejected.append(row)
            continue
        product = products.get(row.sku)
        if product is None:
            rejected.append(row.refused(f"Unknown SKU {row.sku}: check it against the catalog."))
            continue
        fact = facts.get(product.id)
        problems = add_problems(
            row.quantity, active=product.active, minimum=product.order_minimum,
            multiple=product.order_multiple, available=fact.available if fact else 0,
            rules=rules_of(product), backordered_open=fact.backordered_open if fact else 0)
        if problems:
            rejected.append(row.refused(" ".join(problems)))
        else:
            good.append((product.id, row.quantity))
    added = carts.add_items(user_id, company_id, good) if good else []
    return Outcome(added, rejected)
