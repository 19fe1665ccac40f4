"""Unit costs and the vendor's minimum order value (issue 6), on SQLite and PostgreSQL: a product's cost
price is copied onto the PO lines made for it (by hand or by generating), editable while the PO is a
draft; sending a PO worth less than the vendor's minimum is refused with the shortfall, unless sent anyway
with a reason, which the audit log keeps."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import AuditLog, OutboxMessage, Product, PurchaseOrder, PurchaseOrderLine
from portal.services import purchasing
from portal.services.purchasing import PurchasingRefused
from tests.backoffice_factories import make_backorder
from tests.factories import make_company, make_product, make_user, make_vendor

TODAY = date(2026, 12, 1)


@pytest.fixture(autouse=True)
def _backends(any_app):
    return any_app


@pytest.fixture
def admin():
    return make_user("admin", email=f"admin-{uuid.uuid4().hex[:6]}@example.com")


def fresh(model, id_):
    db.session.rollback()
    return db.session.get(model, id_)


def draft_with(admin, vendor, sku: str, units: int) -> PurchaseOrder:
    po = purchasing.create_draft(admin, vendor.id)
    purchasing.add_line(admin, po.id, sku, units, None)
    return fresh(PurchaseOrder, po.id)


def test_a_new_po_line_costs_what_the_product_costs_and_later_price_changes_leave_it_alone(admin):
    vendor = make_vendor()
    make_product(sku="NUT", vendor=vendor, cost_price=Decimal("2.50"))
    po = draft_with(admin, vendor, "NUT", 10)
    assert po.lines[0].unit_cost == Decimal("2.50")
    with write_transaction() as s:
        s.scalar(select(Product).where(Product.sku == "NUT")).cost_price = Decimal("3.00")
    purchasing.add_line(admin, po.id, "NUT", 2, None)  # the same line grows at its own cost
    line = fresh(PurchaseOrder, po.id).lines[0]
    assert (line.quantity_ordered, line.unit_cost) == (12, Decimal("2.50"))
    assert fresh(PurchaseOrder, po.id).value.total == Decimal("30.00")


def test_generating_pos_copies_cost_prices_and_makes_drafts_below_the_minimum(admin):
    vendor = make_vendor(min_order_value=Decimal("100.00"), pack_size=5)
    nut = make_product(sku="NUT", policy="allow", vendor=vendor, cost_price=Decimal("1.20"))
    pin = make_product(sku="PIN", policy="allow", vendor=vendor)  # no cost entered
    company = make_company("Acme")
    buyer = make_user(company=company)
    make_backorder(company, buyer, nut, 3)
    make_backorder(company, buyer, pin, 1)

    purchasing.generate_purchase_orders(admin, TODAY)

    db.session.rollback()
    po = db.session.scalar(select(PurchaseOrder).where(PurchaseOrder.vendor_id == vendor.id))
    assert po.status == "draft"
    assert {line.product.sku: line.unit_cost for line in po.lines} == {"NUT": Decimal("1.20"), "PIN": None}
    listed = {p.id: value for p, _, value in purchasing.purchase_orders()}
    assert listed[po.id].total == Decimal("6.00")  # 5 × 1.20; PIN has no cost
    assert listed[po.id].below_minimum and listed[po.id].shortfall == Decimal("94.00")
    assert listed[po.id].lines_without_cost == 1


def test_sending_below_the_minimum_is_refused_with_the_shortfall_and_changes_nothing(admin):
    vendor = make_vendor(name="Fastener Co", min_order_value=Decimal("100.00"))
    make_product(sku="NUT", vendor=vendor, cost_price=Decimal("2.50"))
    po = draft_with(admin, vendor, "NUT", 10)

    with pytest.raises(PurchasingRefused) as refused:
        purchasing.change_status(admin, po.id, "sent", TODAY)

    assert str(refused.value) == (f"{po.number} is worth $25.00, $75.00 below Fastener Co's minimum order of "
                                  "$100.00. Add to it, or tick “send anyway” and give a reason.")
    assert fresh(PurchaseOrder, po.id).status == "draft"
    vendor_mail = select(OutboxMessage).where(OutboxMessage.topic == "purchase_order_sent")
    assert not db.session.scalars(vendor_mail).all()
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "po_sent_below_minimum")) is None


def test_sending_anyway_with_a_reason_sends_it_and_audits_the_shortfall(admin):
    vendor = make_vendor(min_order_value=Decimal("100.00"))
    make_product(sku="NUT", vendor=vendor, cost_price=Decimal("2.50"))
    po = draft_with(admin, vendor, "NUT", 10)

    purchasing.change_status(admin, po.id, "sent", TODAY, below_minimum_reason="  Acme needs it Friday ")

    assert fresh(PurchaseOrder, po.id).status == "sent"
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "po_sent_below_minimum"))
    assert (entry.actor_id, entry.entity, entry.entity_id) == (admin.id, "purchase_order", po.id)
    assert json.loads(entry.after) == {"value": "25.00", "minimum": "100.00", "shortfall": "75.00",
                                       "lines_without_cost": 0, "reason": "Acme needs it Friday"}


def test_at_or_above_the_minimum_sends_without_a_reason(admin):
    vendor = make_vendor(min_order_value=Decimal("25.00"))
    make_product(sku="NUT", vendor=vendor, cost_price=Decimal("2.50"))
    po = draft_with(admin, vendor, "NUT", 10)
    purchasing.change_status(admin, po.id, "sent", TODAY)
    assert fresh(PurchaseOrder, po.id).status == "sent"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "po_sent_below_minimum")) is None


def test_lines_without_a_cost_are_named_in_the_refusal(admin):
    vendor = make_vendor(min_order_value=Decimal("10.00"))
    make_product(sku="NUT", vendor=vendor)
    po = draft_with(admin, vendor, "NUT", 10)
    with pytest.raises(PurchasingRefused, match=r"\$10.00 below .* 1 line has no unit cost"):
        purchasing.change_status(admin, po.id, "sent", TODAY)


def test_unit_costs_change_on_drafts_only(admin):
    vendor = make_vendor()
    make_product(sku="NUT", vendor=vendor, cost_price=Decimal("2.50"))
    po = draft_with(admin, vendor, "NUT", 10)
    line_id = po.lines[0].id

    purchasing.update_line(admin, po.id, line_id, 10, None, False, TODAY, unit_cost=Decimal("2.10"))
    assert fresh(PurchaseOrderLine, line_id).unit_cost == Decimal("2.10")
    purchasing.update_line(admin, po.id, line_id, 10, None, False, TODAY)  # cost not given: kept
    assert fresh(PurchaseOrderLine, line_id).unit_cost == Decimal("2.10")
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "po_line_updated")
                               .order_by(AuditLog.id)).first()
    assert json.loads(entry.before)["unit_cost"] == "2.50" and json.loads(entry.after)["unit_cost"] == "2.10"

    purchasing.change_status(admin, po.id, "sent", TODAY)
    with pytest.raises(PurchasingRefused, match="unit costs change only while it is a draft"):
        purchasing.update_line(admin, po.id, line_id, 10, None, False, TODAY, unit_cost=Decimal("1.00"))
    assert fresh(PurchaseOrderLine, line_id).unit_cost == Decimal("2.10")


def test_a_negative_unit_cost_is_refused(admin):
    vendor = make_vendor()
    make_product(sku="NUT", vendor=vendor, cost_price=Decimal("2.50"))
    po = draft_with(admin, vendor, "NUT", 10)
    with pytest.raises(PurchasingRefused, match="A unit cost is between 0 and 9,999,999,999.99."):
        purchasing.update_line(admin, po.id, po.lines[0].id, 10, None, False, TODAY, unit_cost=Decimal("-1"))
    assert fresh(PurchaseOrderLine, po.lines[0].id).unit_cost == Decimal("2.50")
