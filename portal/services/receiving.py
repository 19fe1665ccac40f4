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

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from portal.database import write_transaction
from portal.domain.allocation import Waiting, allocate_arrivals
from portal.domain.purchasing import check_transition, status_after_receipt
from portal.extensions import db
from portal.models import (
    Allocation,
    Company,
    Order,
    OrderEvent,
    OrderLine,
    PoLineLink,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    ReceiptLine,
    StockMovement,
    User,
)
from portal.services import NotFound, ServiceError, audit, bulk, notifications
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
        serving = _Serving(_waiting(session, product_ids), _links(session, product_ids, arriving))
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
        for line_id in sorted(arriving, key=lambda i: (lines[i].product_id, i)):
            _receive_line(
                session, po, lines[line_id], arriving[line_id], receipt, stocks, serving, rule, actor
            )
        session.flush()
        serving.write(session, receipt.id, actor)
        for line in lines.values():
            session.expire(line, ["links"])  # links were trimmed in SQL
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
    serving: _Serving,
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
    free = sum(s.on_hand - s.allocated for s in stocks[line.product_id])
    given = allocate_arrivals(min(quantity, free), serving.linked_to(line.id), serving.queue(line.product_id),
                              rule)
    ops.take_from_stock(stocks[line.product_id], sum(units for _, units in given))
    for order_line_id, units in given:
        serving.serve(order_line_id, units)
    serving.trim_po_line(line.id, line.open_quantity)


#: The waiting lines a receipt reads, as plain rows: it may serve thousands, and an ORM object for each
#: cost more than the allocation itself (bench/bench_purchasing.py, bench/RESULTS.md).
_WAITING_COLUMNS = (
    OrderLine.id, OrderLine.product_id, OrderLine.order_id, OrderLine.backordered, OrderLine.allocated,
    OrderLine.sku, OrderLine.name, OrderLine.need_by, OrderLine.priority, OrderLine.backorder_hidden,
    OrderLine.eta, OrderLine.eta_estimated, Order.placed_at, Order.number, Order.placed_by_id,
    Company.priority_tier,
)


def _waiting(session, product_ids: list[int]) -> list:
    """Backordered lines of open orders for these products, locked in id order (as
    ``backorder_ops.waiting_lines``, without building ORM objects)."""
    return session.execute(
        select(*_WAITING_COLUMNS)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Company, Company.id == Order.company_id)
        .where(OrderLine.product_id.in_(product_ids), OrderLine.backordered > 0, Order.status != "cancelled")
        .order_by(OrderLine.id)
        .with_for_update(of=OrderLine)
    ).all()


def _links(session, product_ids: list[int], arriving: dict[int, int]) -> list:
    """Links of the arriving PO lines and of every waiting line of these products: (id, po line, order
    line, quantity). A subquery, not a list of ids: a statement takes at most 65,535 parameters."""
    waiting_ids = select(OrderLine.id).where(OrderLine.product_id.in_(product_ids), OrderLine.backordered > 0)
    return session.execute(
        select(PoLineLink.id, PoLineLink.po_line_id, PoLineLink.order_line_id, PoLineLink.quantity)
        .where(or_(PoLineLink.po_line_id.in_(list(arriving)), PoLineLink.order_line_id.in_(waiting_ids)))
        .order_by(PoLineLink.id)
    ).all()


class _Serving:
    """What one receipt does to the waiting lines and their PO links, decided in memory and written at the
    end in a handful of statements (:meth:`write`), whatever the number of lines served."""

    def __init__(self, waiting: list, links: list):
        self.rows = {row.id: row for row in waiting}
        self.backordered = {row.id: row.backordered for row in waiting}
        self.by_product: dict[int, list] = defaultdict(list)
        for row in waiting:
            self.by_product[row.product_id].append(row)
        #: link id -> [po line id, order line id, quantity]; quantity 0 once cut away.
        self.links = {link.id: [link.po_line_id, link.order_line_id, link.quantity] for link in links}
        self.of_order_line: dict[int, list[int]] = defaultdict(list)
        self.of_po_line: dict[int, list[int]] = defaultdict(list)
        for link in links:
            self.of_order_line[link.order_line_id].append(link.id)
            self.of_po_line[link.po_line_id].append(link.id)
        self.cut: set[int] = set()
        self.served: list[tuple[int, int]] = []  # (order line id, units), in serving order

    def linked_to(self, po_line_id: int) -> list[tuple[int, int]]:
        return [(self.links[i][1], self.links[i][2]) for i in self.of_po_line.get(po_line_id, [])
                if self.links[i][2] and self.links[i][1] in self.rows]

    def queue(self, product_id: int) -> list[Waiting]:
        return [Waiting(row.id, self.backordered[row.id], row.placed_at, row.need_by, row.priority_tier,
                        row.priority)
                for row in self.by_product.get(product_id, []) if self.backordered[row.id] > 0]

    def serve(self, order_line_id: int, units: int) -> None:
        self.backordered[order_line_id] -= units
        self.served.append((order_line_id, units))
        # The line's links shrink to what it still waits for (latest links give way first), as
        # backorder_ops.trim_line_links does.
        self._trim(self.of_order_line.get(order_line_id, []), self.backordered[order_line_id])

    def trim_po_line(self, po_line_id: int, open_quantity: int) -> None:
        """Keep the PO line's links within its open quantity, latest first (as
        backorder_ops.trim_po_line_links)."""
        self._trim(self.of_po_line.get(po_line_id, []), open_quantity)

    def _trim(self, link_ids: list[int], keep: int) -> None:
        excess = sum(self.links[i][2] for i in link_ids) - keep
        for link_id in sorted(link_ids, reverse=True):
            if excess <= 0:
                break
            cut = min(excess, self.links[link_id][2])
            excess -= cut
            self.links[link_id][2] -= cut
            self.cut.add(link_id)

    def write(self, session, receipt_id: int, actor: User | None) -> None:
        """Order lines, allocation records, timeline rows, PO links and one notice per order, in bulk."""
        self._write_links(session)  # trimmed even when nobody was served (PO line links within open)
        if not self.served:
            return
        actor_id = actor.id if actor else None
        given: dict[int, int] = defaultdict(int)
        for order_line_id, units in self.served:
            given[order_line_id] += units
        updates = []
        for order_line_id, units in given.items():
            row, left = self.rows[order_line_id], self.backordered[order_line_id]
            updates.append({"id": order_line_id, "backordered": left, "allocated": row.allocated + units,
                            "eta": row.eta if left else None,
                            "eta_estimated": row.eta_estimated and bool(left)})
        bulk.update_rows(session, OrderLine, updates)
        bulk.insert_rows(session, Allocation, [
            {"order_line_id": order_line_id, "receipt_id": receipt_id, "source": "receipt", "quantity": units,
             "actor_id": actor_id} for order_line_id, units in self.served])
        bulk.insert_rows(session, OrderEvent, [
            ops.event_row(self.rows[order_line_id].order_id, "allocated",
                          f"{units} × {self.rows[order_line_id].sku} arrived and set aside for this order",
                          actor, buyer_visible=not self.rows[order_line_id].backorder_hidden)
            for order_line_id, units in self.served])
        self._notify(session, given)

    def _write_links(self, session) -> None:
        gone = sorted(i for i in self.cut if not self.links[i][2])
        for start in range(0, len(gone), ops.ID_CHUNK):
            session.execute(delete(PoLineLink).where(PoLineLink.id.in_(gone[start:start + ops.ID_CHUNK])))
        shrunk = [{"id": i, "quantity": self.links[i][2]} for i in sorted(self.cut) if self.links[i][2]]
        bulk.update_rows(session, PoLineLink, shrunk)

    def _notify(self, session, given: dict[int, int]) -> None:
        """One "items ready" notice per order, listing its lines (not one per line)."""
        ready: dict[int, list[int]] = defaultdict(list)
        for order_line_id in given:
            ready[self.rows[order_line_id].order_id].append(order_line_id)
        buyer_ids = sorted({self.rows[ids[0]].placed_by_id for ids in ready.values()} - {None})
        buyers = {}
        for start in range(0, len(buyer_ids), ops.ID_CHUNK):
            for buyer in session.execute(select(User.id, User.email).where(
                    User.id.in_(buyer_ids[start:start + ops.ID_CHUNK]))):
                buyers[buyer.id] = buyer
        notices = []
        for order_id in sorted(ready):
            rows = [self.rows[i] for i in sorted(ready[order_id])]
            buyer = buyers.get(rows[0].placed_by_id)
            if buyer is not None:
                notices.append((buyer, "backorder_ready", {
                    "order_number": rows[0].number,
                    "lines": [{"sku": row.sku, "name": row.name, "quantity": given[row.id]}
                              for row in rows]}))
        notifications.notify_many(session, notices)


def _allocate(session, stocks, order_line: OrderLine, units: int) -> None:
    """Move ``units`` of a line from backordered to allocated, promised from the product's stock rows."""
    ops.take_from_stock(stocks, units)
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
