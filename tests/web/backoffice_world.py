"""The back-office part of the web tests' world (issue 6), built through the real services on top of
``seed_world``: order A's backorder (3 × NUT-20) is covered by a generated PO, which is sent, receives 2
(set aside for order A) and ships 1; BOLT-10's vendor has a draft PO; rep A's goodwill limit is 0 and a
goodwill of 1.00 waits for approval on order A. NUT-20 keeps 0 units available (catalog tests rely on it).

The route-access and CSRF tests build it (their ``world`` fixture adds it); the rest of the web tests keep
the plain world, where these lookups answer 0 (no such object: the pages answer 404 and are skipped). Ids
are looked up by these facts, so ``tests/web/site.py`` URL builders need no new World fields.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Order,
    OrderAdjustment,
    OrderLine,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    Shipment,
    User,
)
from portal.services import manual_goodwill, purchasing, receiving, shipping
from portal.services import settings as settings_service


def seed_backoffice(admin_id: int, rep_a_id: int, order_number: str) -> None:
    today = date.today()
    admin = db.session.get(User, admin_id)
    result = purchasing.generate_purchase_orders(admin, today)
    db.session.rollback()
    sent = db.session.scalar(select(PurchaseOrder).where(PurchaseOrder.number == result.purchase_orders[0]))
    purchasing.change_status(admin, sent.id, "sent", today)
    db.session.rollback()
    sent = db.session.get(PurchaseOrder, sent.id)
    receiving.receive_purchase_order(admin, sent.id, uuid.uuid4().hex, {sent.lines[0].id: 2}, today)
    db.session.rollback()
    order = db.session.scalar(select(Order).where(Order.number == order_number))
    line = order.lines[0]
    shipping.ship_order(admin, order.id, uuid.uuid4().hex, {line.id: 1}, "1Z-WORLD-1", "UPS", today)
    db.session.rollback()
    bolt = db.session.scalar(select(Product).where(Product.sku == "BOLT-10"))
    draft = purchasing.create_draft(admin, bolt.vendor_id)
    purchasing.add_line(admin, draft.id, "BOLT-10", 10, None)
    db.session.rollback()
    settings_service.set_goodwill_limit(admin, rep_a_id, Decimal("0"))
    db.session.rollback()
    manual_goodwill.grant_goodwill(db.session.get(User, rep_a_id), order.id, None, None, Decimal("1.00"),
                                   "Late delivery")
    db.session.rollback()


def _first(query) -> int:
    return db.session.scalar(query.limit(1)) or 0


def sent_po_id() -> int:
    return _first(select(PurchaseOrder.id).where(PurchaseOrder.status != "draft").order_by(PurchaseOrder.id))


def draft_po_id() -> int:
    return _first(select(PurchaseOrder.id).where(PurchaseOrder.status == "draft").order_by(PurchaseOrder.id))


def draft_line_id() -> int:
    return _first(select(PurchaseOrderLine.id).where(PurchaseOrderLine.purchase_order_id == draft_po_id()))


def sent_line_id() -> int:
    return _first(select(PurchaseOrderLine.id).where(PurchaseOrderLine.purchase_order_id == sent_po_id()))


def vendor_id() -> int:
    return _first(select(PurchaseOrder.vendor_id).where(PurchaseOrder.id == sent_po_id()))


def receipt_id() -> int:
    return _first(select(Receipt.id).order_by(Receipt.id))


def shipment_id() -> int:
    return _first(select(Shipment.id).order_by(Shipment.id))


def order_line_id(number: str) -> int:
    return _first(select(OrderLine.id).join(Order).where(Order.number == number).order_by(OrderLine.id))


def pending_adjustment_id() -> int:
    return _first(select(OrderAdjustment.id).where(OrderAdjustment.status == "pending")
                  .order_by(OrderAdjustment.id))


def with_backoffice(world):
    """The ``world`` fixture of the route-access and CSRF tests: the plain world plus the above."""
    seed_backoffice(world.admin, world.rep_a, world.order_a)
    return world
