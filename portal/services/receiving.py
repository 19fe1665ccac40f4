"""Receiving goods against a PO (DESIGN §4, §5, §6): one receipt, one transaction.

The receipt row is inserted first, keyed by the form's one-time token ("on conflict do nothing"): a double
submit finds the first receipt and counts nothing twice. Then the PO, stock rows (product-id order), the
waiting order lines and the PO lines are locked; every bad quantity is reported at once; stock goes up
through ``receipt`` movements; arriving units are allocated to waiting backorders — lines linked to the
PO line first, then the queue in the configured priority — and each allocation is recorded, so the result
page can say "put 4 × SKU aside for Company, order #". Buyers whose lines became ready get a notice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite

from portal.database import write_transaction
from portal.domain.allocation import allocate_arrivals
from portal.domain.purchasing import check_transition, status_after_receipt
from portal.extensions import db
from portal.models import (
    Allocation,
    Company,
    Order,
    OrderEvent,
    OrderLine,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    ReceiptLine,
    StockMovement,
    User,
)
from portal.services import NotFound, ServiceError, audit, notifications
from portal.services import backorder_ops as ops
from portal.services import settings as settings_service

MAX_UNITS = 1_000_000


class ReceiptRefused(ServiceError):
    def __init__(self, problems: list[str], over: list[str] | None = None):
        super().__init__(" ".join(problems))
        self.problems = problems
        #: Lines that would be over-received: the form asks to confirm them.
        self.over = over or []


def _claim(session, token: str, po_id: int, actor: User) -> tuple[int | None, Receipt | None]:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    receipt_id = session.execute(
        dialect.insert(Receipt)
        .values(token=token, purchase_order_id=po_id, received_by_id=actor.id if actor else None)
        .on_conflict_do_nothing(index_elements=["token"])
        .returning(Receipt.id)
    ).scalar_one_or_none()
    if receipt_id is not None:
        return receipt_id, None
    existing = session.scalar(select(Receipt).where(Receipt.token == token))
    if existing is None or existing.purchase_order_id != po_id:
        raise ServiceError("This receiving form has expired. Open the purchase order again.")
    return None, existing


def _check(
    po: PurchaseOrder, lines: dict[int, PurchaseOrderLine], quantities: dict[int, int], accept_over: bool
) -> None:
    problems, over = [], []
    if po.status not in ("sent", "partially_received"):
        problems.append(
            f"{po.number} is {po.status.replace('_', ' ')}: only sent purchase orders receive goods."
        )
    for line_id, quantity in quantities.items():
        line = lines.get(line_id)
        if line is None:
            problems.append("A line of the form is not on this purchase order.")
            continue
        sku = line.product.sku
        if quantity < 0:
            problems.append(f"{sku}: a received quantity cannot be negative.")
        elif quantity > MAX_UNITS:
            problems.append(f"{sku}: at most {MAX_UNITS:,} units at a time.")
        elif quantity > line.open_quantity and not accept_over:
            over.append(sku)
            problems.append(
                f"{sku}: {quantity} is more than the {line.open_quantity} still expected. "
                f"Tick “accept over-receipt” to receive it anyway."
            )
    if not problems and not any(q > 0 for q in quantities.values()):
        problems.append("Enter the quantity received on at least one line.")
    if problems:
        raise ReceiptRefused(problems, over)


def receive_purchase_order(
    actor: User, po_id: int, token: str, quantities: dict[int, int], today: date, accept_over: bool = False
) -> Receipt:
    """Receive ``quantities`` (PO line id -> units). Raises ReceiptRefused with every problem; then
    nothing is written."""
    if not token or len(token) > 64:
        raise ServiceError("This receiving form has expired. Open the purchase order again.")
    with write_transaction() as session:
        po = session.scalar(select(PurchaseOrder).where(PurchaseOrder.id == po_id).with_for_update())
        if po is None:
            raise NotFound("That purchase order does not exist.")
        receipt_id, existing = _claim(session, token, po_id, actor)
        if existing is not None:
            return existing
        lines = {
            line.id: line
            for line in session.scalars(
                select(PurchaseOrderLine)
                .where(PurchaseOrderLine.purchase_order_id == po.id)
                .order_by(PurchaseOrderLine.id)
            )
        }
        _check(po, lines, quantities, accept_over)
        arriving = {line_id: q for line_id, q in quantities.items() if q > 0}
        product_ids = sorted({lines[i].product_id for i in arriving})
        stocks = ops.lock_stock(session, product_ids, create=True)
        waiting = ops.waiting_lines(session, product_ids)
        # PO lines after stock and order lines (the lock order of every back-office use case).
        for line in session.scalars(
            select(PurchaseOrderLine)
            .where(PurchaseOrderLine.id.in_(list(arriving)))
            .order_by(PurchaseOrderLine.id)
            .with_for_update()
        ):
            lines[line.id] = line
        receipt = session.get(Receipt, receipt_id)
        receipt.warehouse_id = stocks[product_ids[0]][0].warehouse_id
        rule = settings_service.priority_rule(session)
        by_product = defaultdict(list)
        for row in waiting:
            by_product[row[0].product_id].append(row)
        for line_id in sorted(arriving, key=lambda i: (lines[i].product_id, i)):
            _receive_line(
                session, po, lines[line_id], arriving[line_id], receipt, stocks, by_product, rule, actor
            )
        target = status_after_receipt(
            [(line.quantity_ordered, line.quantity_received) for line in lines.values()]
        )
        check_transition(po.status, target)
        po.status = target
        audit.record(
            actor,
            "po_received",
            "purchase_order",
            po.id,
            None,
            {"receipt": receipt.id, "lines": {str(k): v for k, v in arriving.items()}, "status": target},
        )
        session.flush()
        ops.recompute_etas(session, product_ids, today, actor)
        # What is left after the waiting backorders were served may be orderable again: tell subscribers.
        notifications.notify_back_in_stock(session, product_ids)
    return receipt


def _receive_line(
    session,
    po: PurchaseOrder,
    line: PurchaseOrderLine,
    quantity: int,
    receipt: Receipt,
    stocks,
    by_product,
    rule: str,
    actor: User,
) -> None:
    if line.quantity_received + quantity > line.quantity_ordered:
        line.over_receipt_accepted = True
    line.quantity_received += quantity
    stock = stocks[line.product_id][0]
    stock.on_hand += quantity
    session.add(ReceiptLine(receipt_id=receipt.id, po_line_id=line.id, quantity=quantity))
    session.add(
        StockMovement(
            product_id=line.product_id,
            warehouse_id=stock.warehouse_id,
            quantity=quantity,
            kind="receipt",
            reason=f"Received on {po.number}",
            reference=po.number,
            actor_id=actor.id if actor else None,
        )
    )
    rows = by_product.get(line.product_id, [])
    lookup = {row[0].id: row for row in rows}
    linked = [(link.order_line_id, link.quantity) for link in line.links if link.order_line_id in lookup]
    free = sum(s.on_hand - s.allocated for s in stocks[line.product_id])
    waiting = [ops.as_waiting(*row) for row in rows if row[0].backordered > 0]
    given = allocate_arrivals(min(quantity, free), linked, waiting, rule)
    links = ops.links_of_lines(session, [order_line_id for order_line_id, _ in given])
    allocations, events = [], []
    actor_id = actor.id if actor else None
    for order_line_id, units in given:
        order_line, order, _company = lookup[order_line_id]
        _allocate(session, stocks[line.product_id], order_line, units)
        allocations.append({"order_line_id": order_line.id, "receipt_id": receipt.id, "source": "receipt",
                            "quantity": units, "actor_id": actor_id})
        events.append(ops.event_row(order.id, "allocated",
                                    f"{units} × {order_line.sku} arrived and set aside for this order", actor,
                                    buyer_visible=not order_line.backorder_hidden))
        ops.notify_buyer(session, order, "backorder_ready",
                         {"sku": order_line.sku, "name": order_line.name, "quantity": units})
        if links.get(order_line_id):
            ops.trim_line_links(session, order_line, links[order_line_id])
    # Thousands of waiting lines may be served by one receipt: insert their records in one statement each.
    for model, rows_ in ((Allocation, allocations), (OrderEvent, events)):
        if rows_:
            session.execute(insert(model), rows_)
    session.flush()
    session.refresh(line, ["links"])
    ops.trim_po_line_links(session, line)


def _allocate(session, stocks, order_line: OrderLine, units: int) -> None:
    """Move ``units`` of a line from backordered to allocated, promised from the product's stock rows."""
    need = units
    for stock in stocks:
        take = min(need, stock.on_hand - stock.allocated)
        if take > 0:
            stock.allocated += take
            need -= take
    if need:
        raise ServiceError("Not enough free stock to allocate.")  # callers check availability first
    order_line.backordered -= units
    order_line.allocated += units
    if order_line.backordered == 0:
        order_line.eta, order_line.eta_estimated = None, False


@dataclass(frozen=True)
class SetAside:
    sku: str
    name: str
    quantity: int
    company: str
    order_number: str


def set_aside_list(receipt_id: int) -> tuple[Receipt, list[SetAside], list[tuple[str, int]]]:
    """What a receipt allocated: "put N × SKU aside for Company, order #", and what went to the shelf."""
    receipt = db.session.get(Receipt, receipt_id)
    if receipt is None:
        raise NotFound("That receipt does not exist.")
    rows = db.session.execute(
        select(OrderLine.sku, OrderLine.name, Allocation.quantity, Company.name, Order.number)
        .join(OrderLine, OrderLine.id == Allocation.order_line_id)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Company, Company.id == Order.company_id)
        .where(Allocation.receipt_id == receipt.id)
        .order_by(OrderLine.sku, Allocation.id)
    ).all()
    aside = [SetAside(*row) for row in rows]
    allocated: dict[str, int] = defaultdict(int)
    for item in aside:
        allocated[item.sku] += item.quantity
    shelf = []
    for line in receipt.lines:
        rest = line.quantity - allocated.get(line.po_line.product.sku, 0)
        allocated[line.po_line.product.sku] = max(
            allocated.get(line.po_line.product.sku, 0) - line.quantity, 0
        )
        if rest > 0:
            shelf.append((line.po_line.product.sku, rest))
    return receipt, aside, shelf
