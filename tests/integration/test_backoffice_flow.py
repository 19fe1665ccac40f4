"""Back office end to end on SQLite and PostgreSQL (issue 6): generate POs from demand → send → partial
receipt → allocation by each priority rule → shipment → cancellation. tests/integration/conftest.py
asserts the DESIGN §5 invariants (PO links included) after every test; ``check()`` asserts them between
steps too."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import (
    Allocation,
    OrderEvent,
    OrderLine,
    OutboxMessage,
    PoLineLink,
    ProductReorderRule,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    StockMovement,
)
from portal.services import backorders, purchasing, receiving, shipping
from portal.services import settings as settings_service
from portal.services.purchasing import PurchasingRefused
from portal.services.receiving import ReceiptRefused
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


def check() -> None:
    assert_invariants()


def customer(name: str, tier: int = 2):
    company = make_company(name, priority_tier=tier)
    return company, make_user(company=company)


def fresh(model, id_):
    db.session.rollback()
    return db.session.get(model, id_)


def po_of(vendor_id: int, status: str = "draft") -> PurchaseOrder:
    db.session.rollback()
    return db.session.scalar(
        select(PurchaseOrder).where(PurchaseOrder.vendor_id == vendor_id, PurchaseOrder.status == status)
    )


def links() -> list[tuple[int, int, int]]:
    db.session.rollback()
    return sorted(
        db.session.execute(select(PoLineLink.po_line_id, PoLineLink.order_line_id, PoLineLink.quantity)).all()
    )


def receive(admin, po, quantities, accept_over=False, token=None):
    return receiving.receive_purchase_order(
        admin, po.id, token or uuid.uuid4().hex, quantities, TODAY, accept_over=accept_over
    )


# --- generate ------------------------------------------------------------------------------------------


def test_generating_groups_uncovered_backorders_per_vendor_rounded_to_packs_and_links_them(admin):
    acme, alice = customer("Acme")
    bolt, bert = customer("Bolt")
    vendor = make_vendor(pack_size=12)
    other = make_vendor()
    nut = make_product(sku="NUT", policy="allow", vendor=vendor)
    washer = make_product(sku="WASH", policy="allow", vendor=vendor)
    pin = make_product(sku="PIN", policy="allow", vendor=other)
    first = make_backorder(acme, alice, nut, 5, day=1)
    second = make_backorder(bolt, bert, nut, 4, day=2)
    make_backorder(acme, alice, washer, 1, day=3)
    make_backorder(bolt, bert, pin, 3, day=4)

    result = purchasing.generate_purchase_orders(admin, TODAY)
    check()

    assert len(result.purchase_orders) == 2
    draft = po_of(vendor.id)
    quantities = {line.product.sku: line.quantity_ordered for line in draft.lines}
    assert quantities == {"NUT": 12, "WASH": 12}
    nut_line = next(line for line in draft.lines if line.product.sku == "NUT")
    assert {(ol, q) for po, ol, q in links() if po == nut_line.id} == {(first.id, 5), (second.id, 4)}
    assert [line.quantity_ordered for line in po_of(other.id).lines] == [3]


def test_generating_twice_creates_nothing_new_and_never_a_second_draft(admin):
    acme, alice = customer("Acme")
    vendor = make_vendor(pack_size=10)
    nut = make_product(sku="NUT", policy="allow", vendor=vendor)
    make_backorder(acme, alice, nut, 5)
    purchasing.generate_purchase_orders(admin, TODAY)
    before = (links(), [(line.id, line.quantity_ordered) for line in po_of(vendor.id).lines])

    again = purchasing.generate_purchase_orders(admin, TODAY)

    assert (again.lines_added, again.links_made) == (0, 0)
    assert (links(), [(line.id, line.quantity_ordered) for line in po_of(vendor.id).lines]) == before
    make_backorder(acme, alice, nut, 7)  # 5 free units on the draft, 2 more needed → one more pack
    purchasing.generate_purchase_orders(admin, TODAY)
    assert db.session.scalar(select(func.count(PurchaseOrder.id))) == 1
    assert [line.quantity_ordered for line in po_of(vendor.id).lines] == [20]
    check()


def test_reorder_points_top_stock_up_to_the_maximum(admin):
    vendor = make_vendor(pack_size=6)
    screw = make_product(sku="SCREW", vendor=vendor)
    set_stock(screw, 2)
    with write_transaction() as s:
        s.add(ProductReorderRule(product_id=screw.id, reorder_min=5, reorder_max=20))
    purchasing.generate_purchase_orders(admin, TODAY)
    assert [line.quantity_ordered for line in po_of(vendor.id).lines] == [18]  # 18 → 20 on hand... rounded


def test_placing_an_order_adds_its_backorder_to_the_vendor_draft_when_the_setting_is_on(admin):
    from tests.factories import make_address
    from tests.web.orders import place_order

    settings_service.update_settings(admin, "order_date", True, settings_service.default_goodwill_limit())
    company = make_company("Auto")
    make_address(company, is_default_shipping=True)
    buyer = make_user(company=company)
    vendor = make_vendor(pack_size=5)
    nut = make_product(sku="NUT", policy="allow", vendor=vendor)
    place_order(buyer.id, [(nut, 3)])
    draft = po_of(vendor.id)
    assert [line.quantity_ordered for line in draft.lines] == [5]
    assert [q for _, _, q in links()] == [3]
    check()


# --- send, receive, allocate, ship, cancel ------------------------------------------------------------


def _sent_po(admin, vendor, *lines):
    for product, _ in lines:
        set_stock(product, 0)
    po = purchasing.create_draft(admin, vendor.id)
    for product, quantity in lines:
        purchasing.add_line(admin, po.id, product.sku, quantity, TODAY + timedelta(days=10))
    return purchasing.change_status(admin, po.id, "sent", TODAY)


def test_sending_queues_an_email_to_the_vendor_and_gives_linked_backorders_the_po_date(admin):
    acme, alice = customer("Acme")
    vendor = make_vendor()
    nut = make_product(sku="NUT", policy="allow", vendor=vendor)
    line = make_backorder(acme, alice, nut, 4)
    purchasing.generate_purchase_orders(admin, TODAY)
    draft = po_of(vendor.id)
    purchasing.update_line(admin, draft.id, draft.lines[0].id, 4, TODAY + timedelta(days=9), True, TODAY)
    purchasing.change_status(admin, draft.id, "sent", TODAY)

    sent = fresh(PurchaseOrder, draft.id)
    assert sent.status == "sent" and sent.sent_at is not None
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.topic == "purchase_order_sent"))
    assert message.recipient_email == vendor.email
    assert json.loads(message.payload)["lines"][0]["sku"] == "NUT"
    assert fresh(OrderLine, line.id).eta == TODAY + timedelta(days=9)
    check()


def test_invalid_transitions_say_so_and_change_nothing(admin):
    vendor = make_vendor()
    nut = make_product(sku="NUT", policy="allow", vendor=vendor)
    po = purchasing.create_draft(admin, vendor.id)
    with pytest.raises(PurchasingRefused, match="has no lines"):
        purchasing.change_status(admin, po.id, "sent", TODAY)
    with pytest.raises(PurchasingRefused, match="A draft purchase order cannot become received"):
        purchasing.change_status(admin, po.id, "received", TODAY)
    purchasing.add_line(admin, po.id, "NUT", 3, None)
    purchasing.change_status(admin, po.id, "sent", TODAY)
    with pytest.raises(PurchasingRefused, match="quantities change only while it is a draft"):
        purchasing.update_line(admin, po.id, fresh(PurchaseOrder, po.id).lines[0].id, 9, None, False, TODAY)
    with pytest.raises(PurchasingRefused, match="only while it is a draft"):
        purchasing.add_line(admin, po.id, nut.sku, 1, None)
    assert fresh(PurchaseOrder, po.id).lines[0].quantity_ordered == 3


@pytest.mark.parametrize(
    ("rule", "served"), [("order_date", ["old"]), ("deadline", ["urgent"]), ("tier", ["gold"])]
)
def test_a_partial_receipt_serves_linked_lines_first_then_the_queue_by_the_rule(admin, rule, served):
    settings_service.update_settings(admin, rule, False, settings_service.default_goodwill_limit())
    vendor = make_vendor()
    nut = make_product(sku="NUT", policy="allow", vendor=vendor)
    companies = {
        "old": customer("Old", tier=3),
        "urgent": customer("Urgent", tier=2),
        "gold": customer("Gold", tier=1),
        "linked": customer("Linked", tier=3),
    }
    waiting = {
        "old": make_backorder(*companies["old"], nut, 3, day=1),
        "urgent": make_backorder(*companies["urgent"], nut, 3, day=2, need_by=TODAY + timedelta(days=5)),
        "gold": make_backorder(*companies["gold"], nut, 3, day=3),
    }
    po = _sent_po(admin, vendor, (nut, 10))
    po_line = fresh(PurchaseOrder, po.id).lines[0]
    linked = make_backorder(*companies["linked"], nut, 2, day=9)
    with write_transaction() as s:
        s.add(PoLineLink(po_line_id=po_line.id, order_line_id=linked.id, quantity=2))
    check()

    receipt = receive(admin, po, {po_line.id: 5})
    check()

    assert fresh(OrderLine, linked.id).allocated == 2
    for name, line in waiting.items():
        assert fresh(OrderLine, line.id).allocated == (3 if name in served else 0), name
    assert fresh(PurchaseOrder, po.id).status == "partially_received"
    _, aside, shelf = receiving.set_aside_list(receipt.id)
    assert {(a.company, a.quantity) for a in aside} == {("Linked", 2), (companies[served[0]][0].name, 3)}
    assert shelf == []
    ready = db.session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "backorder_ready")).all()
    assert len(ready) == 2


def test_a_receipt_posted_twice_counts_once(admin):
    vendor = make_vendor()
    nut = make_product(sku="NUT", policy="allow", vendor=vendor)
    po = _sent_po(admin, vendor, (nut, 10))
    line_id = fresh(PurchaseOrder, po.id).lines[0].id
    first = receive(admin, po, {line_id: 4}, token="same-token")
    second = receive(admin, po, {line_id: 4}, token="same-token")
    assert first.id == second.id
    assert fresh(PurchaseOrderLine, line_id).quantity_received == 4
    assert db.session.scalar(select(func.count(Receipt.id))) == 1
    assert db.session.scalar(select(func.sum(StockMovement.quantity))) == 4
    check()


def test_receiving_more_than_ordered_needs_confirmation(admin):
    vendor = make_vendor()
    nut = make_product(sku="NUT", policy="allow", vendor=vendor)
    po = _sent_po(admin, vendor, (nut, 5))
    line_id = fresh(PurchaseOrder, po.id).lines[0].id
    with pytest.raises(ReceiptRefused) as refused:
        receive(admin, po, {line_id: 6})
    assert refused.value.over == ["NUT"]
    with pytest.raises(ReceiptRefused, match="cannot be negative"):
        receive(admin, po, {line_id: -1})
    assert fresh(PurchaseOrderLine, line_id).quantity_received == 0
    receive(admin, po, {line_id: 6}, accept_over=True)
    line = fresh(PurchaseOrderLine, line_id)
    assert (line.quantity_received, line.over_receipt_accepted) == (6, True)
    assert fresh(PurchaseOrder, po.id).status == "received"
    with pytest.raises(ReceiptRefused, match="only sent purchase orders"):
        receive(admin, po, {line_id: 1})
    check()


def test_ship_partially_then_cancel_the_rest_releasing_links(admin):
    acme, alice = customer("Acme")
    vendor = make_vendor()
    nut = make_product(sku="NUT", policy="allow", vendor=vendor)
    line = make_backorder(acme, alice, nut, 6)
    set_stock(nut, 0)
    purchasing.generate_purchase_orders(admin, TODAY)
    draft = po_of(vendor.id)
    purchasing.change_status(admin, draft.id, "sent", TODAY)
    receive(admin, draft, {draft.lines[0].id: 4})
    check()
    assert (fresh(OrderLine, line.id).allocated, fresh(OrderLine, line.id).backordered) == (4, 2)
    assert [q for _, _, q in links()] == [2]

    with pytest.raises(shipping.ShipmentRefused, match="only 4 allocated"):
        shipping.ship_order(admin, line.order_id, uuid.uuid4().hex, {line.id: 5}, "TRK-1")
    shipment = shipping.ship_order(admin, line.order_id, uuid.uuid4().hex, {line.id: 3}, "TRK-1")
    check()
    shipped = fresh(OrderLine, line.id)
    assert (shipped.allocated, shipped.shipped, shipped.order.status) == (1, 3, "partially_shipped")
    assert shipment.number.startswith("SH-")

    backorders.cancel_line(admin, line.id, 2, "Customer no longer needs them", TODAY)
    check()
    assert links() == []
    assert fresh(OrderLine, line.id).cancelled == 2
    shipping.ship_order(admin, line.order_id, uuid.uuid4().hex, {line.id: 1}, "TRK-2")
    done = fresh(OrderLine, line.id)
    assert done.order.status == "shipped"
    kinds = db.session.scalars(
        select(OrderEvent.kind).where(OrderEvent.order_id == line.order_id).order_by(OrderEvent.id)
    ).all()
    assert {"allocated", "shipped", "cancelled"} <= set(kinds)
    check()


def test_a_later_expected_date_moves_etas_tells_buyers_and_flags_missed_deadlines(admin):
    acme, alice = customer("Acme")
    vendor = make_vendor()
    nut = make_product(sku="NUT", policy="allow", vendor=vendor)
    line = make_backorder(acme, alice, nut, 2, need_by=TODAY + timedelta(days=12))
    po = _sent_po(admin, vendor, (nut, 2))
    po_line = fresh(PurchaseOrder, po.id).lines[0]
    assert fresh(OrderLine, line.id).eta == TODAY + timedelta(days=10)
    db.session.rollback()

    def eta_changes() -> list[dict]:
        return [json.loads(m.payload) for m in db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == "backorder_eta_changed")
            .order_by(OutboxMessage.id))]

    before = len(eta_changes())
    purchasing.update_line(admin, po.id, po_line.id, 2, TODAY + timedelta(days=20), True, TODAY)

    assert fresh(OrderLine, line.id).eta == TODAY + timedelta(days=20)
    queue = backorders.backorder_queue(fresh(type(admin), admin.id), at_risk=True)
    assert [row.line.id for row in queue] == [line.id]
    # The slip that breaks the deadline is told as "deadline at risk", once; a further slip is an ETA change.
    risk = db.session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "deadline_at_risk")).all()
    assert len(risk) == 1
    assert json.loads(risk[0].payload) == {
        "order_number": line.order.number, "sku": "NUT", "name": nut.name, "quantity": 2,
        "eta": (TODAY + timedelta(days=20)).isoformat(), "need_by": (TODAY + timedelta(days=12)).isoformat(),
        "previous_eta": (TODAY + timedelta(days=10)).isoformat()}
    assert len(eta_changes()) == before

    purchasing.update_line(admin, po.id, po_line.id, 2, TODAY + timedelta(days=25), True, TODAY)

    risk = db.session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "deadline_at_risk")).all()
    assert len(risk) == 1
    assert [change["at_risk"] for change in eta_changes()[before:]] == [True]


def test_manual_allocation_from_stock_and_priority(admin):
    acme, alice = customer("Acme")
    nut = make_product(sku="NUT", policy="allow")
    line = make_backorder(acme, alice, nut, 3)
    set_stock(nut, 2)
    with pytest.raises(backorders.LineRefused, match="Only 2 units"):
        backorders.allocate_from_stock(admin, line.id, 3, TODAY)
    backorders.allocate_from_stock(admin, line.id, 2, TODAY)
    backorders.set_priority(admin, line.id, 5, TODAY)
    after = fresh(OrderLine, line.id)
    assert (after.allocated, after.backordered, after.priority) == (2, 1, 5)
    assert db.session.scalar(select(Allocation.source)) == "manual"
    check()


def test_automatic_goodwill_applies_once_when_a_moved_eta_misses_the_deadline(admin):
    from decimal import Decimal

    from portal.models import GoodwillRule, Order, OrderAdjustment

    with write_transaction() as s:
        s.add(GoodwillRule(name="Missed deadline credit", kind="credit_missed_deadline", amount=Decimal("5")))
    acme, alice = customer("Acme")
    vendor = make_vendor()
    nut = make_product(sku="NUT", policy="allow", vendor=vendor, price="10.00")
    line = make_backorder(acme, alice, nut, 2, need_by=TODAY + timedelta(days=12))
    po = _sent_po(admin, vendor, (nut, 2))
    po_line_id = fresh(PurchaseOrder, po.id).lines[0].id
    assert db.session.scalar(select(func.count(OrderAdjustment.id))) == 0  # on time: nothing

    purchasing.update_line(admin, po.id, po_line_id, 2, TODAY + timedelta(days=20), True, TODAY)
    purchasing.update_line(admin, po.id, po_line_id, 2, TODAY + timedelta(days=25), True, TODAY)

    adjustments = db.session.scalars(select(OrderAdjustment)).all()
    assert [(a.order_line_id, a.amount) for a in adjustments] == [(line.id, Decimal("-5.00"))]
    order = fresh(Order, line.order_id)
    assert (order.adjustments_total, order.total) == (Decimal("-5.00"), Decimal("15.00"))
