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

from sqlalchemy import case, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from portal.database import write_transaction
from portal.domain.allocation import Waiting, in_queue_order
from portal.domain.purchasing import (
    FreeIncoming,
    PoValue,
    ProductDemand,
    TransitionRefused,
    Uncovered,
    check_transition,
    po_value,
    suggest,
)
from portal.extensions import db
from portal.formatting import money
from portal.models import (
    Company,
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
from portal.services import NotFound, ServiceError, audit, bulk
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
MAX_MONEY = Decimal("9999999999.99")


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
                unit_cost=product.cost_price,  # what we pay today; editable while the PO is a draft
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


#: ``update_line``'s unit cost when the form does not change it.
KEEP_COST = object()


def update_line(
    actor: User,
    po_id: int,
    line_id: int,
    quantity: int,
    expected_date: date | None,
    confirmed: bool,
    today: date,
    unit_cost: Decimal | None | object = KEEP_COST,
) -> PurchaseOrderLine:
    """Quantities and unit costs change only on drafts; the expected date (and whether the vendor confirmed
    it) until the line is received. A new date recomputes the ETAs of the backorders waiting on the
    product."""
    with write_transaction() as session:
        po = _locked_po(session, po_id)
        line = _po_line(session, po, line_id)
        if unit_cost is KEEP_COST:
            unit_cost = line.unit_cost
        problems = []
        if unit_cost != line.unit_cost:
            if po.status != "draft":
                problems.append(f"{po.number} was sent: unit costs change only while it is a draft.")
            elif unit_cost is not None and not 0 <= unit_cost <= MAX_MONEY:
                problems.append("A unit cost is between 0 and 9,999,999,999.99.")
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
            "unit_cost": line.unit_cost,
        }
        line.quantity_ordered, line.unit_cost = quantity, unit_cost
        date_changed = expected_date != line.expected_date
        line.expected_date, line.date_confirmed = expected_date, confirmed
        audit.record(
            actor,
            "po_line_updated",
            "purchase_order",
            po.id,
            before,
            {"quantity": quantity, "expected_date": expected_date, "confirmed": confirmed,
             "unit_cost": unit_cost},
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


def change_status(
    actor: User, po_id: int, target: str, today: date, below_minimum_reason: str = ""
) -> PurchaseOrder:
    """Staff move a PO through the status table: send a draft, or cancel. Receiving moves the rest.

    A PO worth less than its vendor's minimum order value is not sent, unless ``below_minimum_reason``
    says why it goes anyway (audit-logged with the value and the shortfall)."""
    below_minimum_reason = (below_minimum_reason or "").strip()
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
            _check_minimum(actor, po, lines, below_minimum_reason)
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


def _check_minimum(actor: User, po: PurchaseOrder, lines: list[PurchaseOrderLine], reason: str) -> None:
    vendor = po.vendor
    value = po_value([(line.quantity_ordered, line.unit_cost) for line in lines], vendor.min_order_value)
    if not value.below_minimum:
        return
    if not reason:
        unknown = (f" {value.lines_without_cost} line{'s have' if value.lines_without_cost != 1 else ' has'} "
                   f"no unit cost." if value.lines_without_cost else "")
        raise PurchasingRefused([
            f"{po.number} is worth {money(value.total)}, {money(value.shortfall)} below {vendor.name}'s "
            f"minimum order of {money(value.minimum)}.{unknown} Add to it, or tick “send anyway” and give "
            f"a reason."])
    audit.record(actor, "po_sent_below_minimum", "purchase_order", po.id, None,
                 {"value": value.total, "minimum": value.minimum, "shortfall": value.shortfall,
                  "lines_without_cost": value.lines_without_cost, "reason": reason})


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


def _linked_per_line(product_ids: list[int] | None):
    """Units linked to PO lines per order line (of these products), as a subquery to join: one pass over
    the links (a correlated subquery per waiting line cost as much again at 100,000 lines)."""
    query = select(PoLineLink.order_line_id, func.sum(PoLineLink.quantity).label("units"))
    if product_ids is not None:
        query = query.join(OrderLine, OrderLine.id == PoLineLink.order_line_id).where(
            OrderLine.product_id.in_(product_ids))
    return query.group_by(PoLineLink.order_line_id).subquery()


def _demands(session: Session, product_ids: list[int] | None) -> list[ProductDemand]:
    """Per product with waiting backorders or a reorder rule: the figures ``suggest`` needs.

    Set-based (issue 6: 100,000 waiting lines): demand is summed per product in SQL, and only products
    with units not yet linked to a PO line have their waiting lines read one by one (they are the ones to
    link, in queue order). A second run that adds nothing therefore reads a few aggregates."""
    waiting_filter = [OrderLine.backordered > 0, Order.status != "cancelled"]
    if product_ids is not None:
        waiting_filter.append(OrderLine.product_id.in_(product_ids))
    candidates = set(session.scalars(select(OrderLine.product_id).join(Order).where(*waiting_filter)
                                     .distinct()))
    rule_query = select(ProductReorderRule)
    if product_ids is not None:
        rule_query = rule_query.where(ProductReorderRule.product_id.in_(product_ids))
    rules = {r.product_id: r for r in session.scalars(rule_query)}
    ids = sorted(candidates | set(rules))
    if not ids:
        return []
    stocks = ops.lock_stock(session, ids)
    # After the stock locks (they serialise every use case that changes these products' backorders).
    linked = _linked_per_line(product_ids)
    per_line = (select(OrderLine.product_id, OrderLine.backordered,
                       func.coalesce(linked.c.units, 0).label("linked"))
                .join(Order).outerjoin(linked, linked.c.order_line_id == OrderLine.id)
                .where(*waiting_filter).subquery())
    totals = {product_id: (backordered, uncovered) for product_id, backordered, uncovered in session.execute(
        select(per_line.c.product_id, func.sum(per_line.c.backordered),
               func.sum(case((per_line.c.backordered > per_line.c.linked,
                              per_line.c.backordered - per_line.c.linked), else_=0)))
        .group_by(per_line.c.product_id))}
    incoming = _planned_lines(session, product_ids)
    products = {row.id: row for row in session.execute(
        select(Product.id, Product.vendor_id, Vendor.pack_size).join(Vendor, Vendor.id == Product.vendor_id)
        .where(*([Product.id.in_(product_ids)] if product_ids is not None else [])))}
    uncovered = _uncovered(session, sorted(p for p, (_, units) in totals.items() if units > 0))
    demands = []
    for product_id in ids:
        product = products[product_id]
        po_lines = incoming.get(product_id, [])
        reorder = rules.get(product_id)
        demands.append(
            ProductDemand(
                product_id=product_id,
                vendor_id=product.vendor_id,
                available=max(sum(s.on_hand - s.allocated for s in stocks.get(product_id, [])), 0),
                incoming=sum(line.open for line in po_lines),
                backordered=totals.get(product_id, (0, 0))[0],
                uncovered=tuple(uncovered.get(product_id, ())),
                free_lines=tuple(FreeIncoming(line.id, line.expected_date, line.open - line.linked)
                                 for line in po_lines if line.open > line.linked),
                pack_size=(reorder.pack_size if reorder and reorder.pack_size else product.pack_size),
                reorder_min=reorder.reorder_min if reorder else None,
                reorder_max=reorder.reorder_max if reorder else None,
            )
        )
    return demands


@dataclass(frozen=True, slots=True)
class _Planned:
    id: int
    product_id: int
    expected_date: date | None
    open: int
    linked: int


def _planned_lines(session: Session, product_ids: list[int] | None) -> dict[int, list[_Planned]]:
    """Open units and linked units of every planned PO line (draft, sent, partly received), per product."""
    linked = (select(func.coalesce(func.sum(PoLineLink.quantity), 0))
              .where(PoLineLink.po_line_id == PurchaseOrderLine.id).scalar_subquery())
    query = (select(PurchaseOrderLine.id, PurchaseOrderLine.product_id, PurchaseOrderLine.expected_date,
                    PurchaseOrderLine.quantity_ordered - PurchaseOrderLine.quantity_received, linked)
             .join(PurchaseOrder).where(PurchaseOrder.status.in_(PLANNED_PO_STATUSES)))
    if product_ids is not None:
        query = query.where(PurchaseOrderLine.product_id.in_(product_ids))
    lines: dict[int, list[_Planned]] = defaultdict(list)
    for line_id, product_id, expected, open_, linked_ in session.execute(query):
        lines[product_id].append(_Planned(line_id, product_id, expected, max(open_, 0), linked_))
    return lines


def _uncovered(session: Session, product_ids: list[int]) -> dict[int, list[Uncovered]]:
    """The waiting lines of these products with units not linked yet, in queue order, locked (id order)."""
    rule = settings_service.priority_rule(session)
    rows = []
    for start in range(0, len(product_ids), ops.ID_CHUNK):
        chunk = product_ids[start:start + ops.ID_CHUNK]
        linked = _linked_per_line(chunk)
        rows += session.execute(
            select(OrderLine.id, OrderLine.product_id, OrderLine.backordered, Order.placed_at,
                   OrderLine.need_by, Company.priority_tier, OrderLine.priority,
                   func.coalesce(linked.c.units, 0))
            .join(Order, Order.id == OrderLine.order_id).join(Company, Company.id == Order.company_id)
            .outerjoin(linked, linked.c.order_line_id == OrderLine.id)
            .where(OrderLine.product_id.in_(chunk), OrderLine.backordered > 0, Order.status != "cancelled")
            .order_by(OrderLine.id).with_for_update(of=OrderLine)).all()
    waiting: dict[int, list[Waiting]] = defaultdict(list)
    left: dict[int, int] = {}
    for line_id, product_id, backordered, placed_at, need_by, tier, priority, units_linked in rows:
        waiting[product_id].append(Waiting(line_id, backordered, placed_at, need_by, tier, priority))
        left[line_id] = backordered - units_linked
    return {product_id: [Uncovered(w.order_line_id, left[w.order_line_id])
                         for w in in_queue_order(rule, queue) if left[w.order_line_id] > 0]
            for product_id, queue in waiting.items()}


def _apply(session: Session, demands: list[ProductDemand], actor: User | None, today: date) -> GenerateResult:
    suggestions = [s for s in map(suggest, demands) if not s.empty]
    wanted: dict[tuple[int, int], int] = defaultdict(int)
    eta_products: set[int] = set()
    ordering: dict[int, dict[int, int]] = defaultdict(dict)  # vendor -> product -> units to add
    for suggestion in suggestions:
        for po_line_id, order_line_id, quantity in suggestion.existing_links:
            wanted[(po_line_id, order_line_id)] += quantity
            eta_products.add(suggestion.product_id)  # links onto sent lines move ETAs
        if suggestion.order_quantity:
            ordering[suggestion.vendor_id][suggestion.product_id] = suggestion.order_quantity
    lines, touched = _order_on_drafts(session, ordering)
    for suggestion in suggestions:
        for order_line_id, quantity in suggestion.new_links:
            wanted[(lines[suggestion.product_id], order_line_id)] += quantity
    lines_added = sum(len(products) for products in ordering.values())
    _link_all(session, wanted)
    if actor is not None and (lines_added or wanted):
        audit.record(actor, "pos_generated", "purchase_order", None, None,
                     {"purchase_orders": sorted(touched), "lines": lines_added, "links": len(wanted)})
    if eta_products:
        ops.recompute_etas(session, sorted(eta_products), today, actor)
    return GenerateResult(sorted(touched), lines_added, len(wanted))


def _order_on_drafts(
    session: Session, ordering: dict[int, dict[int, int]]
) -> tuple[dict[int, int], set[str]]:
    """Add units to each vendor's draft (vendor -> product -> units): a product's line grows, or a new line
    is inserted — one statement each for all drafts. Returns product -> draft PO line id, and the drafts'
    numbers."""
    drafts = {vendor_id: draft_for_vendor(session, vendor_id) for vendor_id in sorted(ordering)}
    session.flush()
    if not drafts:
        return {}, set()
    draft_ids = [po.id for po in drafts.values()]
    on_drafts = {(po_id, product_id): (line_id, quantity) for line_id, po_id, product_id, quantity in
                 session.execute(select(PurchaseOrderLine.id, PurchaseOrderLine.purchase_order_id,
                                        PurchaseOrderLine.product_id, PurchaseOrderLine.quantity_ordered)
                                 .where(PurchaseOrderLine.purchase_order_id.in_(draft_ids))
                                 .order_by(PurchaseOrderLine.id.desc()))}
    grow, new = [], []
    for vendor_id, products in ordering.items():
        po_id = drafts[vendor_id].id
        for product_id, units in products.items():
            found = on_drafts.get((po_id, product_id))
            if found:
                grow.append({"id": found[0], "quantity_ordered": found[1] + units})
            else:
                new.append({"purchase_order_id": po_id, "product_id": product_id, "quantity_ordered": units,
                            "quantity_received": 0, "expected_date": None, "unit_cost": None})
    # A new line costs what the product costs today (as add_line), whatever the vendor's minimum: a draft
    # below it is listed as such and cannot be sent without a reason.
    new_ids = [row["product_id"] for row in new]
    costs = {}
    for start in range(0, len(new_ids), ops.ID_CHUNK):
        costs.update(session.execute(select(Product.id, Product.cost_price)
                                     .where(Product.id.in_(new_ids[start:start + ops.ID_CHUNK]))).all())
    for row in new:
        row["unit_cost"] = costs.get(row["product_id"])
    bulk.update_rows(session, PurchaseOrderLine, grow)
    bulk.insert_rows(session, PurchaseOrderLine, new)
    lines = {product_id: line_id for line_id, product_id in session.execute(
        select(PurchaseOrderLine.id, PurchaseOrderLine.product_id)
        .where(PurchaseOrderLine.purchase_order_id.in_(draft_ids)).order_by(PurchaseOrderLine.id.desc()))}
    return lines, {po.number for po in drafts.values()}


def _link_all(session: Session, wanted: dict[tuple[int, int], int]) -> None:
    """Add ``wanted`` (po line, order line) -> units to the links: existing pairs grow, new ones are
    inserted in one statement (the pair is unique)."""
    if not wanted:
        return
    session.flush()
    po_line_ids = sorted({po_line_id for po_line_id, _ in wanted})
    existing = {}
    for start in range(0, len(po_line_ids), ops.ID_CHUNK):
        for link_id, po_line_id, order_line_id, quantity in session.execute(
                select(PoLineLink.id, PoLineLink.po_line_id, PoLineLink.order_line_id, PoLineLink.quantity)
                .where(PoLineLink.po_line_id.in_(po_line_ids[start:start + ops.ID_CHUNK]))):
            existing[(po_line_id, order_line_id)] = (link_id, quantity)
    new, grow = [], []
    for (po_line_id, order_line_id), quantity in wanted.items():
        found = existing.get((po_line_id, order_line_id))
        if found is None:
            new.append({"po_line_id": po_line_id, "order_line_id": order_line_id, "quantity": quantity})
        else:
            grow.append({"id": found[0], "quantity": found[1] + quantity})
    bulk.update_rows(session, PoLineLink, grow)
    bulk.insert_rows(session, PoLineLink, new)
    session.expire_all()


def generate_purchase_orders(actor: User, today: date) -> GenerateResult:
    """Turn uncovered backorders and reorder points into lines on each vendor's draft PO (see
    :mod:`portal.domain.purchasing`). Running it twice adds nothing the second time."""
    with write_transaction() as session:
        return _apply(session, _demands(session, None), actor, today)


def add_backorders_to_drafts(session: Session, product_ids: list[int], today: date, *,
                             enabled: bool | None = None) -> None:
    """The ``auto_add_backorders`` setting: called by ``place_order`` inside its transaction (stock rows
    are locked already) so a new backorder lands on its vendor's draft PO at once.

    ``enabled``: the setting, when the caller read it already (the API reads it with the key); None
    reads it here."""
    if not product_ids:
        return
    if enabled is None:
        enabled = settings_service.auto_add_backorders(session)
    if not enabled:
        return
    session.flush()
    _apply(session, _demands(session, sorted(product_ids)), None, today)


# --- reading ------------------------------------------------------------------------------------------


def purchase_orders(status: str = "") -> list[tuple[PurchaseOrder, int, PoValue]]:
    """The latest 500 POs with their line count and value (one query)."""
    cost = PurchaseOrderLine.unit_cost * PurchaseOrderLine.quantity_ordered
    query = (
        select(PurchaseOrder, func.count(PurchaseOrderLine.id), func.sum(cost),
               func.count(PurchaseOrderLine.id) - func.count(PurchaseOrderLine.unit_cost))
        .join(PurchaseOrderLine, isouter=True)
        .group_by(PurchaseOrder.id)
        .options(selectinload(PurchaseOrder.vendor))
        .order_by(PurchaseOrder.id.desc())
        .limit(500)
    )
    if status:
        query = query.where(PurchaseOrder.status == status)
    return [
        (po, count,
         PoValue(Decimal(total or 0).quantize(Decimal("0.01")), po.vendor.min_order_value, missing))
        for po, count, total, missing in db.session.execute(query).all()
    ]


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
