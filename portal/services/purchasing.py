"""Vendors and purchase orders (DESIGN §2, §4): drafts, lines, the status table, sending (PDF + email
via the outbox), expected dates with ETA propagation, and generating POs from demand.

One use case, one transaction. A vendor has at most one draft (a partial unique index); drafts are
created with "insert ... on conflict do nothing" so two generators racing still share one.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from portal.database import write_transaction
from portal.domain.purchasing import (
    FreeIncoming,
    ProductDemand,
    TransitionRefused,
    Uncovered,
    check_transition,
    suggest,
)
from portal.extensions import db
from portal.models import (
    Order,
    OrderLine,
    OutboxMessage,
    PoLineLink,
    Product,
    ProductReorderRule,
    PurchaseOrder,
    PurchaseOrderLine,
    Stock,
    User,
    Vendor,
)
from portal.models.purchasing import PLANNED_PO_STATUSES
from portal.services import NotFound, ServiceError, audit
from portal.services import backorder_ops as ops
from portal.services import settings as settings_service

VENDOR_FIELDS = (
    "name",
    "contact_name",
    "email",
    "phone",
    "lead_time_days",
    "min_order_value",
    "pack_size",
    "active",
)
MAX_UNITS = 1_000_000


class PurchasingRefused(ServiceError):
    """Refused; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


# --- vendors ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VendorData:
    name: str
    contact_name: str
    email: str
    phone: str
    lead_time_days: int
    min_order_value: Decimal
    pack_size: int
    active: bool = True


def vendors() -> list[Vendor]:
    return list(db.session.scalars(select(Vendor).order_by(Vendor.name)))


def save_vendor(actor: User, vendor_id: int | None, data: VendorData) -> Vendor:
    with write_transaction() as session:
        clash = session.scalar(
            select(Vendor.id).where(
                func.lower(Vendor.name) == data.name.lower(), Vendor.id != (vendor_id or 0)
            )
        )
        if clash:
            raise PurchasingRefused([f"A vendor named “{data.name}” exists already."])
        if vendor_id is None:
            vendor = Vendor(**data.__dict__)
            session.add(vendor)
            session.flush()
            audit.record(
                actor, "vendor_created", "vendor", vendor.id, None, audit.snapshot(vendor, VENDOR_FIELDS)
            )
            return vendor
        vendor = session.get(Vendor, vendor_id)
        if vendor is None:
            raise NotFound("That vendor does not exist.")
        before = audit.snapshot(vendor, VENDOR_FIELDS)
        for name, value in data.__dict__.items():
            setattr(vendor, name, value)
        audit.record(
            actor, "vendor_updated", "vendor", vendor.id, before, audit.snapshot(vendor, VENDOR_FIELDS)
        )
        return vendor


# --- drafts and lines ---------------------------------------------------------------------------------


def draft_for_vendor(session: Session, vendor_id: int) -> PurchaseOrder:
    """The vendor's draft PO, created if there is none (never a second one), locked."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(PurchaseOrder)
        .values(
            number=f"D{uuid.uuid4().hex[:19]}",
            vendor_id=vendor_id,
            status="draft",
            notes="",
            created_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["vendor_id"], index_where=text("status = 'draft'"))
    )
    po = session.scalar(
        select(PurchaseOrder)
        .where(PurchaseOrder.vendor_id == vendor_id, PurchaseOrder.status == "draft")
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if po.number.startswith("D"):
        po.number = f"PO-{po.id:05d}"
    return po


def create_draft(actor: User, vendor_id: int) -> PurchaseOrder:
    with write_transaction() as session:
        vendor = session.get(Vendor, vendor_id)
        if vendor is None:
            raise NotFound("That vendor does not exist.")
        po = draft_for_vendor(session, vendor_id)
        session.flush()
        audit.record(actor, "po_draft_opened", "purchase_order", po.id, None, {"vendor": vendor.name})
    return po


def _locked_po(session: Session, po_id: int) -> PurchaseOrder:
    po = session.scalar(
        select(PurchaseOrder)
        .where(PurchaseOrder.id == po_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if po is None:
        raise NotFound("That purchase order does not exist.")
    return po


def _require_draft(po: PurchaseOrder, what: str) -> None:
    if po.status != "draft":
        raise PurchasingRefused([f"{po.number} was sent: {what} only while it is a draft."])


def add_line(
    actor: User, po_id: int, sku: str, quantity: int, expected_date: date | None
) -> PurchaseOrderLine:
    with write_transaction() as session:
        po = _locked_po(session, po_id)
        _require_draft(po, "lines can be added")
        product = session.scalar(select(Product).where(Product.sku == sku))
        problems = []
        if product is None:
            problems.append(f"No product has the SKU “{sku}”.")
        elif product.vendor_id != po.vendor_id:
            problems.append(f"{product.sku} comes from another vendor.")
        if not 1 <= quantity <= MAX_UNITS:
            problems.append(f"Order between 1 and {MAX_UNITS:,} units.")
        if problems:
            raise PurchasingRefused(problems)
        line = session.scalar(
            select(PurchaseOrderLine).where(
                PurchaseOrderLine.purchase_order_id == po.id, PurchaseOrderLine.product_id == product.id
            )
        )
        if line is None:
            line = PurchaseOrderLine(
                purchase_order_id=po.id,
                product_id=product.id,
                quantity_ordered=quantity,
                quantity_received=0,
                expected_date=expected_date,
            )
            session.add(line)
        else:
            line.quantity_ordered += quantity
        session.flush()
        audit.record(
            actor, "po_line_added", "purchase_order", po.id, None, {"sku": product.sku, "quantity": quantity}
        )
    return line


def _po_line(session: Session, po: PurchaseOrder, line_id: int) -> PurchaseOrderLine:
    line = session.scalar(
        select(PurchaseOrderLine)
        .where(PurchaseOrderLine.id == line_id, PurchaseOrderLine.purchase_order_id == po.id)
        .with_for_update()
    )
    if line is None:
        raise NotFound("That line is not on this purchase order.")
    return line


def update_line(
    actor: User,
    po_id: int,
    line_id: int,
    quantity: int,
    expected_date: date | None,
    confirmed: bool,
    today: date,
) -> PurchaseOrderLine:
    """Quantities change only on drafts; the expected date (and whether the vendor confirmed it) until the
    line is received. A new date recomputes the ETAs of the backorders waiting on the product."""
    with write_transaction() as session:
        po = _locked_po(session, po_id)
        line = _po_line(session, po, line_id)
        problems = []
        if quantity != line.quantity_ordered:
            if po.status != "draft":
                problems.append(f"{po.number} was sent: quantities change only while it is a draft.")
            elif not 1 <= quantity <= MAX_UNITS:
                problems.append(f"Order between 1 and {MAX_UNITS:,} units.")
            elif quantity < line.linked_quantity:
                problems.append(
                    f"{line.linked_quantity} units of this line are reserved for customer "
                    f"backorders: order at least that many."
                )
        if po.status in ("received", "cancelled") and expected_date != line.expected_date:
            problems.append(f"{po.number} is {po.status}: its dates no longer change.")
        if problems:
            raise PurchasingRefused(problems)
        before = {
            "quantity": line.quantity_ordered,
            "expected_date": line.expected_date,
            "confirmed": line.date_confirmed,
        }
        line.quantity_ordered = quantity
        date_changed = expected_date != line.expected_date
        line.expected_date, line.date_confirmed = expected_date, confirmed
        audit.record(
            actor,
            "po_line_updated",
            "purchase_order",
            po.id,
            before,
            {"quantity": quantity, "expected_date": expected_date, "confirmed": confirmed},
        )
        if date_changed and po.status != "draft":
            session.flush()
            ops.lock_stock(session, [line.product_id])
            ops.recompute_etas(session, [line.product_id], today, actor)
    return line


def remove_line(actor: User, po_id: int, line_id: int) -> None:
    with write_transaction() as session:
        po = _locked_po(session, po_id)
        _require_draft(po, "lines can be removed")
        line = _po_line(session, po, line_id)
        audit.record(
            actor,
            "po_line_removed",
            "purchase_order",
            po.id,
            {"product_id": line.product_id, "quantity": line.quantity_ordered},
            None,
        )
        session.delete(line)


def update_notes(actor: User, po_id: int, notes: str) -> None:
    with write_transaction() as session:
        po = _locked_po(session, po_id)
        if po.status in ("received", "cancelled"):
            raise PurchasingRefused([f"{po.number} is closed: its notes no longer change."])
        audit.record(
            actor, "po_notes_updated", "purchase_order", po.id, {"notes": po.notes}, {"notes": notes}
        )
        po.notes = notes


# --- status transitions -------------------------------------------------------------------------------


def change_status(actor: User, po_id: int, target: str, today: date) -> PurchaseOrder:
    """Staff move a PO through the status table: send a draft, or cancel. Receiving moves the rest."""
    with write_transaction() as session:
        # Stock rows first, in product-id order, as in every back-office use case (generating POs locks
        # them before it locks a vendor's draft): then the PO and its lines.
        ops.lock_stock(session, session.scalars(
            select(PurchaseOrderLine.product_id).where(PurchaseOrderLine.purchase_order_id == po_id)))
        po = _locked_po(session, po_id)
        try:
            check_transition(po.status, target)
        except TransitionRefused as exc:
            raise PurchasingRefused([str(exc)]) from exc
        if target in ("partially_received", "received"):
            raise PurchasingRefused(["Record a receipt to mark goods received."])
        lines = list(
            session.scalars(
                select(PurchaseOrderLine)
                .where(PurchaseOrderLine.purchase_order_id == po.id)
                .order_by(PurchaseOrderLine.id)
                .with_for_update()
            )
        )
        product_ids = [line.product_id for line in lines]
        before = po.status
        if target == "sent":
            _send(session, po, lines, today)
        else:
            for line in lines:
                line.links.clear()
            po.status = "cancelled"
        audit.record(actor, f"po_{target}", "purchase_order", po.id, {"status": before}, {"status": target})
        session.flush()
        ops.lock_stock(session, product_ids)
        ops.recompute_etas(session, product_ids, today, actor)
    return po


def _send(session: Session, po: PurchaseOrder, lines: list[PurchaseOrderLine], today: date) -> None:
    if not lines:
        raise PurchasingRefused([f"{po.number} has no lines: add what to order before sending it."])
    vendor = session.get(Vendor, po.vendor_id)
    for line in lines:
        if line.expected_date is None:
            line.expected_date = today + timedelta(days=vendor.lead_time_days)
    po.status, po.sent_at = "sent", datetime.now(UTC)
    products = {
        p.id: p
        for p in session.scalars(select(Product).where(Product.id.in_([line.product_id for line in lines])))
    }
    payload = {
        "po_number": po.number,
        "vendor": vendor.name,
        "notes": po.notes,
        "lines": [
            {
                "sku": products[line.product_id].sku,
                "name": products[line.product_id].name,
                "quantity": line.quantity_ordered,
                "expected_date": line.expected_date.isoformat(),
            }
            for line in lines
        ],
    }
    session.add(
        OutboxMessage(
            topic="purchase_order_sent",
            recipient_email=vendor.email,
            payload=json.dumps(payload, sort_keys=True),
        )
    )


# --- generating POs from demand -----------------------------------------------------------------------


@dataclass(frozen=True)
class GenerateResult:
    purchase_orders: list[str]
    lines_added: int
    links_made: int


def _demands(session: Session, product_ids: list[int] | None) -> list[ProductDemand]:
    """Per product with waiting backorders or a reorder rule: the figures ``suggest`` needs."""
    waiting_filter = [OrderLine.backordered > 0, Order.status != "cancelled"]
    if product_ids is not None:
        waiting_filter.append(OrderLine.product_id.in_(product_ids))
    candidates = set(session.scalars(select(OrderLine.product_id).join(Order).where(*waiting_filter)))
    rule_query = select(ProductReorderRule)
    if product_ids is not None:
        rule_query = rule_query.where(ProductReorderRule.product_id.in_(product_ids))
    rules = {r.product_id: r for r in session.scalars(rule_query)}
    ids = sorted(candidates | set(rules))
    if not ids:
        return []
    stocks = ops.lock_stock(session, ids)
    rule = settings_service.priority_rule(session)
    waiting = ops.waiting_lines(session, ids)
    links = ops.links_of_lines(session, [line.id for line, _, _ in waiting])
    planned = session.execute(
        select(PurchaseOrderLine, PurchaseOrder.status)
        .join(PurchaseOrder)
        .where(PurchaseOrderLine.product_id.in_(ids), PurchaseOrder.status.in_(PLANNED_PO_STATUSES))
        .options(selectinload(PurchaseOrderLine.links))
    ).all()
    incoming: dict[int, list[PurchaseOrderLine]] = defaultdict(list)
    for line, _status in planned:
        incoming[line.product_id].append(line)
    products = {
        p.id: p
        for p in session.scalars(
            select(Product).where(Product.id.in_(ids)).options(selectinload(Product.vendor))
        )
    }
    by_product: dict[int, list] = defaultdict(list)
    for row in waiting:
        by_product[row[0].product_id].append(row)
    from portal.domain.allocation import in_queue_order

    demands = []
    for product_id in ids:
        product = products[product_id]
        rows = by_product.get(product_id, [])
        lines = {line.id: line for line, _, _ in rows}
        uncovered = []
        for w in in_queue_order(rule, [ops.as_waiting(*row) for row in rows]):
            left = lines[w.order_line_id].backordered - sum(
                link.quantity for link in links.get(w.order_line_id, [])
            )
            if left > 0:
                uncovered.append(Uncovered(w.order_line_id, left))
        po_lines = incoming.get(product_id, [])
        reorder = rules.get(product_id)
        demands.append(
            ProductDemand(
                product_id=product_id,
                vendor_id=product.vendor_id,
                available=max(sum(s.on_hand - s.allocated for s in stocks.get(product_id, [])), 0),
                incoming=sum(line.open_quantity for line in po_lines),
                backordered=sum(line.backordered for line, _, _ in rows),
                uncovered=tuple(uncovered),
                free_lines=tuple(
                    FreeIncoming(line.id, line.expected_date, line.open_quantity - line.linked_quantity)
                    for line in po_lines
                    if line.open_quantity > line.linked_quantity
                ),
                pack_size=(reorder.pack_size if reorder and reorder.pack_size else product.vendor.pack_size),
                reorder_min=reorder.reorder_min if reorder else None,
                reorder_max=reorder.reorder_max if reorder else None,
            )
        )
    return demands


def _apply(session: Session, demands: list[ProductDemand], actor: User | None, today: date) -> GenerateResult:
    suggestions = [s for s in map(suggest, demands) if not s.empty]
    drafts: dict[int, tuple[PurchaseOrder, dict[int, PurchaseOrderLine]]] = {}
    touched: set[str] = set()
    wanted: dict[tuple[int, int], int] = defaultdict(int)
    eta_products: set[int] = set()
    lines_added = 0
    for suggestion in suggestions:
        for po_line_id, order_line_id, quantity in suggestion.existing_links:
            wanted[(po_line_id, order_line_id)] += quantity
            eta_products.add(suggestion.product_id)  # links onto sent lines move ETAs
        if not suggestion.order_quantity:
            continue
        if suggestion.vendor_id not in drafts:
            po = draft_for_vendor(session, suggestion.vendor_id)
            session.flush()
            lines = session.scalars(
                select(PurchaseOrderLine).where(PurchaseOrderLine.purchase_order_id == po.id))
            drafts[suggestion.vendor_id] = (po, {line.product_id: line for line in lines})
        po, lines = drafts[suggestion.vendor_id]
        line = lines.get(suggestion.product_id)
        if line is None:
            line = PurchaseOrderLine(purchase_order_id=po.id, product_id=suggestion.product_id,
                                     quantity_ordered=suggestion.order_quantity, quantity_received=0)
            session.add(line)
            session.flush()
            lines[suggestion.product_id] = line
        else:
            line.quantity_ordered += suggestion.order_quantity
        lines_added += 1
        touched.add(po.number)
        for order_line_id, quantity in suggestion.new_links:
            wanted[(line.id, order_line_id)] += quantity
    _link_all(session, wanted)
    if actor is not None and (lines_added or wanted):
        audit.record(actor, "pos_generated", "purchase_order", None, None,
                     {"purchase_orders": sorted(touched), "lines": lines_added, "links": len(wanted)})
    if eta_products:
        ops.recompute_etas(session, sorted(eta_products), today, actor)
    return GenerateResult(sorted(touched), lines_added, len(wanted))


def _link_all(session: Session, wanted: dict[tuple[int, int], int]) -> None:
    """Add ``wanted`` (po line, order line) -> units to the links: existing pairs grow, new ones are
    inserted in one statement (the pair is unique)."""
    if not wanted:
        return
    po_line_ids = sorted({po_line_id for po_line_id, _ in wanted})
    existing = {(link.po_line_id, link.order_line_id): link for link in session.scalars(
        select(PoLineLink).where(PoLineLink.po_line_id.in_(po_line_ids)))}
    new = []
    for (po_line_id, order_line_id), quantity in wanted.items():
        link = existing.get((po_line_id, order_line_id))
        if link is None:
            new.append({"po_line_id": po_line_id, "order_line_id": order_line_id, "quantity": quantity})
        else:
            link.quantity += quantity
    session.flush()
    if new:
        session.execute(insert(PoLineLink), new)
    session.expire_all()


def generate_purchase_orders(actor: User, today: date) -> GenerateResult:
    """Turn uncovered backorders and reorder points into lines on each vendor's draft PO (see
    :mod:`portal.domain.purchasing`). Running it twice adds nothing the second time."""
    with write_transaction() as session:
        return _apply(session, _demands(session, None), actor, today)


def add_backorders_to_drafts(session: Session, product_ids: list[int], today: date) -> None:
    """The ``auto_add_backorders`` setting: called by ``place_order`` inside its transaction (stock rows
    are locked already) so a new backorder lands on its vendor's draft PO at once."""
    if not product_ids or not settings_service.auto_add_backorders(session):
        return
    session.flush()
    _apply(session, _demands(session, sorted(product_ids)), None, today)


# --- reading ------------------------------------------------------------------------------------------


def purchase_orders(status: str = "") -> list[tuple[PurchaseOrder, int]]:
    query = (
        select(PurchaseOrder, func.count(PurchaseOrderLine.id))
        .join(PurchaseOrderLine, isouter=True)
        .group_by(PurchaseOrder.id)
        .options(selectinload(PurchaseOrder.vendor))
        .order_by(PurchaseOrder.id.desc())
        .limit(500)
    )
    if status:
        query = query.where(PurchaseOrder.status == status)
    return [(po, count) for po, count in db.session.execute(query).all()]


@dataclass(frozen=True)
class Reserved:
    company: str
    order_number: str
    quantity: int


def purchase_order_detail(po_id: int) -> tuple[PurchaseOrder, dict[int, list[Reserved]]]:
    po = db.session.scalar(
        select(PurchaseOrder)
        .where(PurchaseOrder.id == po_id)
        .options(
            selectinload(PurchaseOrder.lines).selectinload(PurchaseOrderLine.product),
            selectinload(PurchaseOrder.vendor),
        )
    )
    if po is None:
        raise NotFound("That purchase order does not exist.")
    from portal.models import Company

    rows = db.session.execute(
        select(PoLineLink.po_line_id, Company.name, Order.number, PoLineLink.quantity)
        .join(OrderLine, OrderLine.id == PoLineLink.order_line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Company, Company.id == Order.company_id)
        .where(PoLineLink.po_line_id.in_([line.id for line in po.lines]))
        .order_by(PoLineLink.id)
    ).all()
    reserved: dict[int, list[Reserved]] = defaultdict(list)
    for po_line_id, company, number, quantity in rows:
        reserved[po_line_id].append(Reserved(company, number, quantity))
    return po, reserved


def stock_total(product_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Stock.on_hand), 0)).where(Stock.product_id == product_id)
        )
        or 0
    )


def reorder_rules() -> list[tuple[ProductReorderRule, Product]]:
    rows = db.session.execute(select(ProductReorderRule, Product).join(Product).order_by(Product.sku)).all()
    return [(rule, product) for rule, product in rows]


def set_reorder_rule(actor: User, sku: str, reorder_min: int | None, reorder_max: int | None,
                     pack_size: int | None) -> Product:
    """Set (or, with no min and max, remove) a product's reorder point; audit-logged."""
    with write_transaction() as session:
        product = session.scalar(select(Product).where(Product.sku == sku))
        if product is None:
            raise PurchasingRefused([f"No product has the SKU “{sku}”."])
        if (reorder_min is None) != (reorder_max is None) or (
                reorder_min is not None and not 0 <= reorder_min <= reorder_max):
            raise PurchasingRefused(["Give a reorder point and a maximum at least as large (or neither)."])
        if pack_size is not None and pack_size < 1:
            raise PurchasingRefused(["A pack holds at least one unit."])
        rule = session.get(ProductReorderRule, product.id)
        before = audit.snapshot(rule, ("reorder_min", "reorder_max", "pack_size")) if rule else None
        if reorder_min is None and reorder_max is None:
            if rule is not None:
                session.delete(rule)
            after = None
        else:
            if rule is None:
                rule = ProductReorderRule(product_id=product.id)
                session.add(rule)
            rule.reorder_min, rule.reorder_max, rule.pack_size = reorder_min, reorder_max, pack_size
            after = {"reorder_min": reorder_min, "reorder_max": reorder_max, "pack_size": pack_size}
        audit.record(actor, "reorder_rule_set", "product", product.id, before, after)
    return product
