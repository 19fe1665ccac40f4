"""A receipt serving many backorders (issue 6), on SQLite and PostgreSQL: one "items ready" notice per
order listing its lines, one allocation record and timeline row per line, links trimmed in bulk, and the
bulk writers (portal/services/bulk.py) filling column defaults as the ORM would."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import (
    Allocation,
    Notification,
    Order,
    OrderEvent,
    OrderLine,
    OutboxMessage,
    PoLineLink,
    PurchaseOrder,
    PurchaseOrderLine,
)
from portal.services import bulk, outbox, purchasing, receiving
from tests.backoffice_factories import make_backorder
from tests.factories import make_company, make_product, make_user, make_vendor, set_stock
from tests.invariants import assert_invariants

TODAY = date(2026, 12, 1)


@pytest.fixture(autouse=True)
def _backends(any_app):
    return any_app


@pytest.fixture
def admin():
    return make_user("admin", email=f"admin-{uuid.uuid4().hex[:6]}@example.com")


def customer(name: str):
    company = make_company(name)
    return company, make_user(company=company)


def order_with_backorders(buyer, *items) -> Order:
    """One open order whose lines ((product, units), ...) all wait on backorder."""
    with write_transaction() as s:
        total = sum(product.price * units for product, units in items)
        order = Order(number=f"SO-R{uuid.uuid4().hex[:6]}", checkout_token=uuid.uuid4().hex,
                      company_id=buyer.company_id, placed_by_id=buyer.id,
                      placed_at=datetime(2026, 11, 2, tzinfo=UTC), subtotal=total, total=total)
        s.add(order)
        s.flush()
        for product, units in items:
            s.add(OrderLine(order_id=order.id, product_id=product.id, sku=product.sku, name=product.name,
                            quantity=units, allocated=0, backordered=units, unit_price=product.price,
                            line_total=product.price * units, eta=TODAY + timedelta(days=9),
                            eta_estimated=False))
    return order


def sent_po(admin, vendor, *lines) -> PurchaseOrder:
    for product, _ in lines:
        set_stock(product, 0)
    po = purchasing.create_draft(admin, vendor.id)
    for product, units in lines:
        purchasing.add_line(admin, po.id, product.sku, units, TODAY + timedelta(days=10))
    return purchasing.change_status(admin, po.id, "sent", TODAY)


def rows(model, *where):
    db.session.rollback()
    return db.session.scalars(select(model).where(*where).order_by(model.id)).all()


def test_a_receipt_tells_each_order_once_listing_every_line_that_became_ready(admin):
    vendor = make_vendor()
    nut = make_product(sku="NUT", policy="allow", vendor=vendor, name="Wing nut")
    bolt = make_product(sku="BOLT", policy="allow", vendor=vendor, name="Hex bolt")
    company = make_company("Acme")
    buyer = make_user(company=company)
    both = order_with_backorders(buyer, (nut, 3), (bolt, 2))
    other = make_backorder(*customer("Bolt Co"), nut, 1)
    po = sent_po(admin, vendor, (nut, 4), (bolt, 2))
    lines = {line.product_id: line.id for line in rows(PurchaseOrderLine, PurchaseOrderLine.purchase_order_id
                                                            == po.id)}

    receiving.receive_purchase_order(admin, po.id, uuid.uuid4().hex, {lines[nut.id]: 4, lines[bolt.id]: 2},
                                     TODAY)

    ready = rows(OutboxMessage, OutboxMessage.topic == "backorder_ready")
    assert len(ready) == 2  # one per order, not one per line
    mine = next(m for m in ready if json.loads(m.payload)["order_number"] == both.number)
    assert mine.recipient_email == buyer.email
    assert json.loads(mine.payload)["lines"] == [
        {"sku": "NUT", "name": "Wing nut", "quantity": 3}, {"sku": "BOLT", "name": "Hex bolt", "quantity": 2}]
    notices = rows(Notification, Notification.user_id == buyer.id, Notification.topic == "backorder_ready")
    assert [n.title for n in notices] == [f"Items set aside for order {both.number}: 3 × NUT, 2 × BOLT"]
    assert notices[0].created_at is not None and notices[0].read_at is None
    # The timeline and the set-aside list still say it per line.
    events = rows(OrderEvent, OrderEvent.order_id == both.id, OrderEvent.kind == "allocated")
    assert sorted(e.text for e in events) == ["2 × BOLT arrived and set aside for this order",
                                              "3 × NUT arrived and set aside for this order"]
    assert all(e.created_at is not None for e in events)
    assert db.session.scalar(select(func.count(Allocation.id))) == 3
    assert {(line.sku, line.allocated, line.backordered, line.eta) for line in
            rows(OrderLine, OrderLine.order_id.in_([both.id, other.order_id]))} == {
        ("NUT", 3, 0, None), ("BOLT", 2, 0, None), ("NUT", 1, 0, None)}
    assert_invariants()


def test_the_ready_email_lists_the_lines_and_old_single_line_notices_still_render(admin):
    payload = {"order_number": "SO-00042", "lines": [{"sku": "NUT-20", "name": "Wing nut", "quantity": 3},
                                                     {"sku": "BOLT-10", "name": "Hex bolt", "quantity": 1}]}
    email = outbox.render("backorder_ready", payload, "a@example.com", "<m@example.com>")
    assert email.subject == "Items set aside for order SO-00042: 3 × NUT-20, 1 × BOLT-10"
    for body in (email.text, email.html):
        assert "3 × NUT-20 Wing nut" in body and "1 × BOLT-10 Hex bolt" in body
        assert "arrived and are set aside" in body
    old = {"order_number": "SO-00042", "sku": "NUT-20", "name": "Wing nut", "quantity": 3}
    email = outbox.render("backorder_ready", old, "a@example.com", "<m@example.com>")
    assert email.subject == "3 × NUT-20 set aside for order SO-00042"
    assert "3 × NUT-20 Wing nut for order SO-00042 arrived and is set aside" in email.text


def test_a_partial_receipt_trims_links_of_served_lines_and_keeps_the_rest(admin):
    vendor = make_vendor()
    nut = make_product(sku="NUT", policy="allow", vendor=vendor)
    set_stock(nut, 0)
    waiting = [make_backorder(*customer(f"C{i}"), nut, 2, day=i) for i in range(4)]
    purchasing.generate_purchase_orders(admin, TODAY)
    draft = rows(PurchaseOrder, PurchaseOrder.vendor_id == vendor.id)[0]
    purchasing.change_status(admin, draft.id, "sent", TODAY)
    line = rows(PurchaseOrderLine, PurchaseOrderLine.purchase_order_id == draft.id)[0]
    assert sum(link.quantity for link in rows(PoLineLink)) == 8

    receiving.receive_purchase_order(admin, draft.id, uuid.uuid4().hex, {line.id: 3}, TODAY)

    served = {ol.id: (ol.allocated, ol.backordered) for ol in rows(OrderLine)}
    assert [served[w.id] for w in waiting] == [(2, 0), (1, 1), (0, 2), (0, 2)]
    left = {link.order_line_id: link.quantity for link in rows(PoLineLink)}
    assert left == {waiting[1].id: 1, waiting[2].id: 2, waiting[3].id: 2}  # 5 = open 8 - 3 received
    assert_invariants()


def test_bulk_writers_fill_defaults_and_update_by_key(admin):
    user = make_user(company=make_company("Bulk"))
    with write_transaction() as session:
        bulk.insert_rows(session, OutboxMessage, [
            {"topic": "generic", "recipient_user_id": user.id, "recipient_email": user.email, "payload": "{}"}
            for _ in range(3)])
    sent = rows(OutboxMessage, OutboxMessage.recipient_user_id == user.id)
    assert [(m.status, m.attempts, m.last_error) for m in sent] == [("pending", 0, "")] * 3
    assert all(m.created_at is not None and m.available_at is not None for m in sent)
    with write_transaction() as session:
        bulk.update_rows(session, OutboxMessage, [{"id": m.id, "attempts": n, "last_error": f"e{n}"}
                                                  for n, m in enumerate(sent)])
        bulk.update_rows(session, OutboxMessage, [])
    assert [(m.attempts, m.last_error) for m in rows(OutboxMessage, OutboxMessage.recipient_user_id
                                                     == user.id)] == [(0, "e0"), (1, "e1"), (2, "e2")]
