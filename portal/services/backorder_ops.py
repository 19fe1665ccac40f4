"""Building blocks the back-office use cases share inside their one transaction: locks in product-id
order, the waiting queue, PO links, ETA propagation, timeline rows and buyer notices.

Nothing here commits; callers own the transaction (``write_transaction``). Lock order everywhere: stock
rows (product id, warehouse id), then order lines (id), then PO lines (id) — so use cases never deadlock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.domain.allocation import Waiting, in_queue_order
from portal.domain.eta import OpenPoLine, PoLink, WaitingBackorder, assign_etas, lead_time_days
from portal.models import (
    Company,
    Order,
    OrderEvent,
    OrderLine,
    PoLineLink,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Stock,
    User,
    Warehouse,
)
from portal.models.purchasing import OPEN_PO_STATUSES
from portal.services import ServiceError, notifications
from portal.services import settings as settings_service


def lock_stock(session: Session, product_ids: Iterable[int], create: bool = False) -> dict[int, list[Stock]]:
    """Stock rows of ``product_ids``, locked in product-id order. ``create`` makes a row in the first
    warehouse for products that have none (receiving into an empty shelf)."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    if create:
        warehouse_id = session.scalar(select(Warehouse.id).order_by(Warehouse.id).limit(1))
        if warehouse_id is None:
            raise ServiceError("Set up a warehouse before receiving goods.")
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        for product_id in ids:
            session.execute(
                dialect.insert(Stock)
                .values(product_id=product_id, warehouse_id=warehouse_id, on_hand=0, allocated=0)
                .on_conflict_do_nothing(index_elements=["product_id", "warehouse_id"])
            )
    rows: dict[int, list[Stock]] = defaultdict(list)
    for stock in session.scalars(
        select(Stock)
        .where(Stock.product_id.in_(ids))
        .order_by(Stock.product_id, Stock.warehouse_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ):
        rows[stock.product_id].append(stock)
    return rows


def take_from_stock(stocks: list[Stock], units: int) -> None:
    """Promise ``units`` from a product's locked stock rows, first warehouse first. Callers check what
    is free first; running short here is a bug, refused rather than allowed to oversell."""
    for stock in stocks:
        take = min(units, stock.on_hand - stock.allocated)
        if take > 0:
            stock.allocated += take
            units -= take
    if units:
        raise ServiceError("Not enough free stock to allocate.")


def waiting_lines(session: Session, product_ids: Iterable[int]) -> list[tuple[OrderLine, Order, Company]]:
    """Backordered lines of open orders for these products, locked (id order)."""
    ids = sorted(set(product_ids))
    if not ids:
        return []
    rows = session.execute(
        select(OrderLine, Order, Company)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Company, Company.id == Order.company_id)
        .where(OrderLine.product_id.in_(ids), OrderLine.backordered > 0, Order.status != "cancelled")
        .order_by(OrderLine.id)
        .with_for_update(of=OrderLine)
        .execution_options(populate_existing=True)
    ).all()
    return [(line, order, company) for line, order, company in rows]


def as_waiting(line: OrderLine, order: Order, company: Company) -> Waiting:
    return Waiting(
        order_line_id=line.id,
        backordered=line.backordered,
        placed_at=order.placed_at,
        need_by=line.need_by,
        tier=company.priority_tier,
        priority=line.priority,
    )


#: Ids per IN list (see links_of_lines).
ID_CHUNK = 10_000


def links_of_lines(session: Session, order_line_ids: Iterable[int]) -> dict[int, list[PoLineLink]]:
    ids = list(order_line_ids)
    found: dict[int, list[PoLineLink]] = defaultdict(list)
    # In chunks: a statement takes at most 65,535 parameters on PostgreSQL (32,766 on SQLite), and
    # generating POs reads the links of every waiting line (100,000 in bench/bench_purchasing.py).
    for start in range(0, len(ids), ID_CHUNK):
        for link in session.scalars(
            select(PoLineLink).where(PoLineLink.order_line_id.in_(ids[start:start + ID_CHUNK]))
            .order_by(PoLineLink.id)
        ):
            found[link.order_line_id].append(link)
    return found


def trim_line_links(session: Session, line: OrderLine, links: list[PoLineLink] | None = None) -> None:
    """Keep an order line's links within its backordered units (latest links give way first).
    ``links``: the line's links when the caller loaded them already."""
    if links is None:
        links = list(session.scalars(select(PoLineLink).where(PoLineLink.order_line_id == line.id)))
    links = sorted(links, key=lambda link: -link.id)
    excess = sum(link.quantity for link in links) - line.backordered
    if excess <= 0:
        return
    for link in links:
        if excess <= 0:
            break
        cut = min(excess, link.quantity)
        excess -= cut
        if cut == link.quantity:
            session.delete(link)
        else:
            link.quantity -= cut


def trim_po_line_links(session: Session, po_line: PurchaseOrderLine) -> None:
    """Keep a PO line's links within its open quantity (latest links give way first)."""
    excess = po_line.linked_quantity - po_line.open_quantity
    for link in sorted(po_line.links, key=lambda link: -link.id):
        if excess <= 0:
            break
        cut = min(excess, link.quantity)
        excess -= cut
        if cut == link.quantity:
            po_line.links.remove(link)
        else:
            link.quantity -= cut
    session.flush()


def event_row(order_id: int, kind: str, text: str, actor: User | None = None,
              buyer_visible: bool = True) -> dict:
    """An order event as a row for a bulk insert."""
    return {"order_id": order_id, "kind": kind, "text": text[:500], "buyer_visible": buyer_visible,
            "actor_id": actor.id if actor else None}


def add_event(
    session: Session,
    order_id: int,
    kind: str,
    text: str,
    actor: User | None = None,
    buyer_visible: bool = True,
) -> None:
    session.add(
        OrderEvent(
            order_id=order_id,
            kind=kind,
            text=text[:500],
            buyer_visible=buyer_visible,
            actor_id=actor.id if actor else None,
        )
    )


def notify_buyer(session: Session, order: Order, topic: str, payload: dict) -> None:
    """An outbox message and in-app notice to whoever placed the order (sent after commit by the outbox
    worker; see portal.services.notifications)."""
    # The identity map holds objects weakly: keep the buyers of this unit of work, so a receipt serving
    # thousands of orders of one buyer loads them once (and does not autoflush per notice).
    users = session.info.setdefault("backorder_ops_users", {})
    placed_by = users.get(order.placed_by_id) or session.get(User, order.placed_by_id)
    if placed_by is None:
        return
    users[placed_by.id] = placed_by
    notifications.notify(placed_by, topic, {"order_number": order.number, **payload})


def _open_po_lines(
    session: Session, product_ids: list[int], today: date
) -> dict[int, list[PurchaseOrderLine]]:
    rows = session.execute(
        select(PurchaseOrderLine, PurchaseOrder)
        .join(PurchaseOrder)
        .where(
            PurchaseOrderLine.product_id.in_(product_ids),
            PurchaseOrder.status.in_(OPEN_PO_STATUSES),
            PurchaseOrderLine.quantity_received < PurchaseOrderLine.quantity_ordered,
        )
    ).all()
    lines: dict[int, list[PurchaseOrderLine]] = defaultdict(list)
    for line, po in rows:
        if line.expected_date is None:
            sent = po.sent_at.date() if po.sent_at else today
            line.expected_date_fallback = sent + timedelta(days=14)  # as portal.services.stock_facts does
        lines[line.product_id].append(line)
    return lines


def expected(line: PurchaseOrderLine) -> date:
    return line.expected_date or getattr(line, "expected_date_fallback", None)


def recompute_etas(
    session: Session, product_ids: Iterable[int], today: date, actor: User | None = None
) -> list[OrderLine]:
    """Recompute the ETA of every waiting backorder of these products (queue in the configured priority,
    links honoured); for each line whose ETA changed, a timeline row and a buyer notice. Lines whose new
    ETA passes their deadline read "at risk" from then on (the queue page lists them)."""
    ids = sorted(set(product_ids))
    if not ids:
        return []
    rule = settings_service.priority_rule(session)
    waiting = waiting_lines(session, ids)
    links = links_of_lines(session, [line.id for line, _, _ in waiting])
    po_lines = _open_po_lines(session, ids, today)
    products = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(ids)))}
    by_product: dict[int, list[tuple[OrderLine, Order, Company]]] = defaultdict(list)
    for row in waiting:
        by_product[row[0].product_id].append(row)
    changed: list[OrderLine] = []
    moved: list[tuple[OrderLine, Order]] = []
    for product_id, rows in by_product.items():
        product = products[product_id]
        open_lines = po_lines.get(product_id, [])
        open_ids = {line.id for line in open_lines}
        domain_lines = [
            OpenPoLine(
                line.id, expected(line), line.open_quantity, min(line.open_quantity, line.linked_quantity)
            )
            for line in open_lines
        ]
        lookup = {line.id: (line, order) for line, order, _ in rows}
        ordered = in_queue_order(rule, [as_waiting(*row) for row in rows])
        queue = []
        for w in ordered:
            line_links = [link for link in links.get(w.order_line_id, []) if link.po_line_id in open_ids]
            queue.append(
                WaitingBackorder(
                    w.order_line_id,
                    w.backordered,
                    tuple(PoLink(link.po_line_id, link.quantity) for link in line_links),
                )
            )
        vendor_days = product.vendor.lead_time_days
        etas = assign_etas(
            domain_lines,
            queue,
            today=today,
            lead_time_days=lead_time_days(product.lead_time_days, vendor_days),
        )
        for line_id, eta in etas.items():
            line, order = lookup[line_id]
            if (line.eta, line.eta_estimated) == (eta.date, eta.estimated):
                continue
            old = line.eta
            line.eta, line.eta_estimated = eta.date, eta.estimated
            changed.append(line)
            _tell_eta_change(session, line, order, old, actor)
            moved.append((line, order))
    apply_goodwill_rules(session, moved, actor)
    return changed


def apply_goodwill_rules(session: Session, moved: list[tuple[OrderLine, Order]], actor: User | None) -> None:
    """Automatic goodwill after an ETA moved (DESIGN §4): the active rules judge the line as at ordering
    (days from the order date to the new ETA; a missed deadline the buyer now lives with). Each rule gives
    a line at most one adjustment; the order's totals follow."""
    from decimal import Decimal

    from portal.domain.checkout import PlanLine
    from portal.domain.eta import Eta
    from portal.domain.goodwill import Rule, adjustments_for
    from portal.models import GoodwillRule, OrderAdjustment

    if not moved:
        return
    rules = [Rule(r.id, r.name, r.kind, r.days, r.percent, r.amount) for r in session.scalars(
        select(GoodwillRule).where(GoodwillRule.active).order_by(GoodwillRule.id))]
    if not rules:
        return
    given = set(session.execute(select(OrderAdjustment.order_line_id, OrderAdjustment.rule_id).where(
        OrderAdjustment.order_line_id.in_([line.id for line, _ in moved]),
        OrderAdjustment.rule_id.is_not(None))).all())
    touched: dict[int, Order] = {}
    for line, order in moved:
        if line.eta is None or not line.backordered:
            continue
        plan = PlanLine(product_id=line.product_id, sku=line.sku, name=line.name, quantity=line.quantity,
                        allocate=line.allocated, backorder=line.backordered, unit_price=line.unit_price,
                        line_total=line.line_total, eta=Eta(line.eta, line.eta_estimated,
                                                             None if line.eta_estimated else -1),
                        need_by=line.need_by, accept_late=True, hidden=line.backorder_hidden)
        open_rules = [rule for rule in rules if (line.id, rule.id) not in given]
        for adjustment in adjustments_for([plan], open_rules, order.placed_at.date()):
            session.add(OrderAdjustment(order_id=order.id, order_line_id=line.id, kind="goodwill_rule",
                                        rule_id=adjustment.rule_id, description=adjustment.description,
                                        amount=adjustment.amount, created_by_id=actor.id if actor else None))
            add_event(session, order.id, "goodwill", f"{adjustment.description} on {line.sku}: "
                      f"{-adjustment.amount} off, as the expected date moved", actor,
                      buyer_visible=not line.backorder_hidden or plan.late)
            touched[order.id] = order
    session.flush()
    for order in touched.values():
        approved = session.scalars(select(OrderAdjustment.amount).where(
            OrderAdjustment.order_id == order.id, OrderAdjustment.status == "approved"))
        order.adjustments_total = sum(approved, Decimal("0.00"))
        order.total = order.subtotal + order.adjustments_total


def _tell_eta_change(
    session: Session, line: OrderLine, order: Order, old: date | None, actor: User | None
) -> None:
    late = line.need_by is not None and line.eta is not None and line.eta > line.need_by
    visible = not line.backorder_hidden or late
    when = _day(line.eta) + (" (estimated)" if line.eta_estimated else "")
    text = f"{line.backordered} × {line.sku}: expected {when}" + (f" (was {_day(old)})" if old else "")
    if late:
        text += f" — after the deadline {_day(line.need_by)}"
    add_event(session, order.id, "eta_changed", text, actor, buyer_visible=visible)
    was_late = old is not None and line.need_by is not None and old > line.need_by
    if late and not was_late:
        # The change that breaks the deadline is its own notice: the buyer has a choice to make.
        notify_buyer(session, order, "deadline_at_risk", {
            "sku": line.sku, "name": line.name, "quantity": line.backordered, "eta": line.eta,
            "need_by": line.need_by, "previous_eta": old})
    elif visible:
        notify_buyer(
            session,
            order,
            "backorder_eta_changed",
            {
                "sku": line.sku,
                "name": line.name,
                "quantity": line.backordered,
                "eta": line.eta,
                "estimated": line.eta_estimated,
                "previous_eta": old,
                "at_risk": late,
            },
        )


def _day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def refresh_order_status(order: Order, lines: Iterable[OrderLine]) -> None:
    """Order status follows its lines: shipped when nothing is left to ship, cancelled when all was
    cancelled, partly shipped once anything shipped."""
    lines = list(lines)
    left = sum(line.allocated + line.backordered for line in lines)
    shipped = sum(line.shipped for line in lines)
    if left == 0 and shipped == 0:
        order.status = "cancelled"
    elif left == 0:
        order.status = "shipped"
    elif shipped:
        order.status = "partially_shipped"
    else:
        order.status = "open"
