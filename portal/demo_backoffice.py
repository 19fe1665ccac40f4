"""Demo backorders for the back office (issue 6): a few customer orders waiting on products with nothing
on the shelf, covered by generating POs (so vendors have draft POs and the backorder queue, the PO pages
and "reserved for Company, order #" show something in ``make run``).

Products get cost prices (seeded random, 45–80 % of the list price) and PO lines without a unit cost take
their product's, so PO values and vendors' minimum order values mean something in the demo.

Idempotent like the rest of the demo: orders are keyed by number, and generating POs twice adds nothing.
Only products with no stock are ordered, so no stock is allocated (the demo keeps ``allocated = 0``).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, select, update

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Order, OrderLine, Product, PurchaseOrderLine, Stock, User
from portal.services import purchasing

COST_SEED = 2026
#: (order number, buyer email, days ago, [(SKU or index into the short products, quantity)])
DEMO_ORDERS = (
    ("SO-D0001", "buyer@acme-hardware.example", 6, (("DEMO-BACKORDER-HIDDEN", 4), (0, 6))),
    ("SO-D0002", "buyer@bluebird.example", 4, ((0, 3), (1, 5))),
    ("SO-D0003", "buyer@cedar-build.example", 2, ((2, 8),)),
)


def _short_products(session) -> list[Product]:
    """Non-demo products that accept backorders and have nothing on the shelf (SKU order)."""
    empty = select(Stock.product_id).where(Stock.on_hand == 0)
    return list(session.scalars(select(Product).where(
        Product.id.in_(empty), Product.backorder_policy == "allow", ~Product.sku.like("DEMO-%"))
        .order_by(Product.sku)))


def seed_backoffice(today: date) -> None:
    with write_transaction() as session:
        _give_cost_prices(session)
        existing = set(session.scalars(select(Order.number).where(Order.number.like("SO-D%"))))
        short = _short_products(session)
        for number, email, days, items in DEMO_ORDERS:
            buyer = session.scalar(select(User).where(User.email == email))
            if number in existing or buyer is None:
                continue
            products = []
            for key, quantity in items:
                product = (session.scalar(select(Product).where(Product.sku == key)) if isinstance(key, str)
                           else (short[key] if key < len(short) else None))
                if product is not None:
                    products.append((product, quantity))
            _add_order(session, number, buyer, products, datetime.now(UTC) - timedelta(days=days))
    admin = db.session.scalar(select(User).where(User.role == "admin").order_by(User.id))
    if admin is not None:
        purchasing.generate_purchase_orders(admin, today)


def _give_cost_prices(session) -> None:
    """Products without a cost price get one, 45–80 % of the list price (seeded: the same on every run),
    and PO lines without a unit cost take their product's, so PO values and vendor minimums show."""
    rng = random.Random(COST_SEED)
    rows = session.execute(select(Product.id, Product.price).where(Product.cost_price.is_(None))
                           .order_by(Product.sku)).all()
    if rows:
        products = Product.__table__
        session.execute(products.update().where(products.c.id == bindparam("product_id"))
                        .values(cost_price=bindparam("cost")),
                        [{"product_id": product_id,
                          "cost": (price * Decimal(str(rng.uniform(0.45, 0.8)))).quantize(Decimal("0.01"))}
                         for product_id, price in rows])
    session.execute(update(PurchaseOrderLine).where(PurchaseOrderLine.unit_cost.is_(None)).values(
        unit_cost=select(Product.cost_price).where(Product.id == PurchaseOrderLine.product_id)
        .scalar_subquery()))


def _add_order(session, number: str, buyer: User, products, placed_at: datetime) -> None:
    if not products:
        return
    subtotal = sum(p.price * q for p, q in products)
    order = Order(number=number, checkout_token=uuid.uuid4().hex, company_id=buyer.company_id,
                  placed_by_id=buyer.id, placed_at=placed_at, subtotal=subtotal, total=subtotal,
                  po_reference=f"DEMO-{number[-2:]}")
    session.add(order)
    session.flush()
    for product, quantity in products:
        session.add(OrderLine(order_id=order.id, product_id=product.id, sku=product.sku, name=product.name,
                              quantity=quantity, allocated=0, backordered=quantity, unit_price=product.price,
                              line_total=product.price * quantity,
                              backorder_hidden=product.backorder_visibility == "hide"))
