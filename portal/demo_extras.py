"""Demo purchase orders and volume pricing, so the demo shows real (not only estimated) ETAs.

Idempotent like the rest of the demo: POs are keyed by number, price breaks by (product, quantity).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import PriceBreak, Product, PurchaseOrder, PurchaseOrderLine, Stock

#: (PO number, days from today until the goods arrive, SKUs besides the random ones)
DEMO_POS = (("PO-00001", 9, ("DEMO-BACKORDER-SHOW", "DEMO-CAPPED")), ("PO-00002", 23, ("DEMO-PARTIAL",)))
BREAKS = ((10, Decimal("3")), (50, Decimal("7")), (200, Decimal("12")))


def seed_extras(session: Session, today: date, rng: random.Random) -> None:
    products = {p.sku: p for p in session.scalars(select(Product))}
    _seed_purchase_orders(session, products, today, rng)
    _seed_price_breaks(session, products, rng)


def _short_products(session: Session) -> list[Product]:
    """Backorderable products with nothing on the shelf, in SKU order (deterministic)."""
    empty = select(Stock.product_id).where(Stock.on_hand == 0)
    return list(session.scalars(select(Product).where(Product.id.in_(empty),
                                                      Product.backorder_policy != "block")
                                .order_by(Product.sku)))


def _seed_purchase_orders(session: Session, products: dict[str, Product], today: date,
                          rng: random.Random) -> None:
    existing = set(session.scalars(select(PurchaseOrder.number)))
    short = _short_products(session)
    for index, (number, days, skus) in enumerate(DEMO_POS):
        if number in existing:
            continue
        chosen = [products[s] for s in skus if s in products]
        chosen += [p for p in short[index::2][:12] if p not in chosen]
        by_vendor: dict[int, list[Product]] = {}
        for product in chosen:
            by_vendor.setdefault(product.vendor_id, []).append(product)
        vendor_id, lines = max(by_vendor.items(), key=lambda item: len(item[1]))
        po = PurchaseOrder(number=number, vendor_id=vendor_id, status="sent", notes="Demo purchase order",
                           sent_at=datetime.now(UTC) - timedelta(days=3))
        session.add(po)
        session.flush()
        for product in chosen:
            session.add(PurchaseOrderLine(purchase_order_id=po.id, product_id=product.id,
                                          quantity_ordered=rng.choice((24, 48, 96)),
                                          expected_date=today + timedelta(days=days + rng.randint(0, 4))))


def _seed_price_breaks(session: Session, products: dict[str, Product], rng: random.Random) -> None:
    rows = session.execute(select(PriceBreak.product_id, PriceBreak.min_quantity))
    have = {(pid, qty) for pid, qty in rows}
    picked = sorted(products)[::7] + ["DEMO-PLENTY", "DEMO-CASE-PACK"]
    for sku in picked:
        product = products.get(sku)
        if product is None:
            continue
        for min_quantity, percent in BREAKS[: rng.randint(1, 3)]:
            if min_quantity > product.order_multiple and (product.id, min_quantity) not in have:
                session.add(PriceBreak(product_id=product.id, min_quantity=min_quantity, percent_off=percent))
