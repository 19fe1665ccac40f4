"""Staff actions on waiting backorders and order lines (DESIGN §4, §5): the queue with its filters,
manual re-prioritisation, manual allocation from stock on the shelf, and cancelling (parts of) lines,
which releases allocations and PO links. Each is one transaction, audit-logged, with a timeline row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, select

from portal.database import write_transaction
from portal.domain.allocation import in_queue_order
from portal.extensions import db
from portal.integrations import stripe as gateway
from portal.models import (
    Allocation,
    Company,
    Order,
    OrderLine,
    PoLineLink,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    User,
)
from portal.services import NotFound, ServiceError, audit, refunds
from portal.services import backorder_ops as ops
from portal.services import settings as settings_service
from portal.services.receiving import _allocate
from portal.services.scope import company_filter

MAX_PRIORITY = 1000


class LineRefused(ServiceError):
    pass


@dataclass(frozen=True)
class QueueRow:
    line: OrderLine
    order: Order
    company: Company
    #: "PO-00012 (4)" for each linked PO line.
    linked: list[str]
    at_risk: bool


def is_late(line: OrderLine) -> bool:
    """At risk: units still on backorder expected after the buyer's deadline."""
    return bool(line.backordered and line.need_by and line.eta and line.eta > line.need_by)


def backorder_queue(
    user: User, sku: str = "", company_id: int | None = None, at_risk: bool = False, limit: int = 500
) -> list[QueueRow]:
    """Every open backordered line the user may see, in the order arriving stock would serve them."""
    where = [OrderLine.backordered > 0, Order.status != "cancelled", company_filter(user, Order.company_id)]
    if sku:
        where.append(OrderLine.sku.ilike(f"%{sku[:40]}%"))
    if company_id:
        where.append(Order.company_id == company_id)
    if at_risk:
        where.append(
            and_(
                OrderLine.need_by.is_not(None), OrderLine.eta.is_not(None), OrderLine.eta > OrderLine.need_by
            )
        )
    rows = db.session.execute(
        select(OrderLine, Order, Company)
        .join(Order, Order.id == OrderLine.order_id)
        .join(Company, Company.id == Order.company_id)
        .where(*where)
        .order_by(OrderLine.id)
        .limit(5000)
    ).all()
    rule = settings_service.priority_rule()
    lookup = {line.id: (line, order, company) for line, order, company in rows}
    ordered = in_queue_order(rule, [ops.as_waiting(*row) for row in rows])
    links = db.session.execute(
        select(PoLineLink.order_line_id, PurchaseOrder.number, PoLineLink.quantity)
        .join(PurchaseOrderLine, PurchaseOrderLine.id == PoLineLink.po_line_id)
        .join(PurchaseOrder)
        .where(PoLineLink.order_line_id.in_(list(lookup)))
    ).all()
    linked: dict[int, list[str]] = {}
    for line_id, number, quantity in links:
        linked.setdefault(line_id, []).append(f"{number} ({quantity})")
    result = []
    for w in ordered[:limit]:
        line, order, company = lookup[w.order_line_id]
        result.append(QueueRow(line, order, company, linked.get(line.id, []), is_late(line)))
    return result


def _locked_line(session, line_id: int) -> tuple[OrderLine, Order]:
    found = session.execute(select(OrderLine, Order).join(Order).where(OrderLine.id == line_id)).first()
    if found is None:
        raise NotFound("That order line does not exist.")
    line, order = found
    ops.lock_stock(session, [line.product_id])
    line = session.scalar(
        select(OrderLine)
        .where(OrderLine.id == line_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return line, order


def set_priority(actor: User, line_id: int, priority: int, today: date) -> OrderLine:
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise LineRefused(f"A priority is a whole number from -{MAX_PRIORITY} to {MAX_PRIORITY}.")
    with write_transaction() as session:
        line, order = _locked_line(session, line_id)
        before = line.priority
        line.priority = priority
        audit.record(
            actor,
            "backorder_reprioritised",
            "order_line",
            line.id,
            {"priority": before},
            {"priority": priority},
        )
        ops.add_event(
            session,
            order.id,
            "priority",
            f"{line.sku}: queue priority {before} → {priority}",
            actor,
            buyer_visible=False,
        )
        session.flush()
        ops.recompute_etas(session, [line.product_id], today, actor)
    return line


def allocate_from_stock(actor: User, line_id: int, quantity: int, today: date) -> OrderLine:
    """Promise ``quantity`` units on the shelf to a backordered line now, instead of waiting for a PO."""
    with write_transaction() as session:
        line, order = _locked_line(session, line_id)
        stocks = ops.lock_stock(session, [line.product_id])[line.product_id]
        available = sum(s.on_hand - s.allocated for s in stocks)
        problems = []
        if order.status == "cancelled" or line.backordered == 0:
            problems.append(f"{line.sku} on {order.number} is not waiting for stock.")
        elif quantity < 1:
            problems.append("Allocate at least 1 unit.")
        elif quantity > line.backordered:
            problems.append(f"Only {line.backordered} units of {line.sku} are backordered on {order.number}.")
        elif quantity > available:
            problems.append(f"Only {available} units of {line.sku} are available to allocate.")
        if problems:
            raise LineRefused(" ".join(problems))
        _allocate(session, stocks, line, quantity)
        session.add(Allocation(order_line_id=line.id, source="manual", quantity=quantity, actor_id=actor.id))
        ops.trim_line_links(session, line)
        audit.record(actor, "backorder_allocated", "order_line", line.id, None, {"quantity": quantity})
        ops.add_event(
            session,
            order.id,
            "allocated",
            f"{quantity} × {line.sku} set aside from stock",
            actor,
            buyer_visible=not line.backorder_hidden,
        )
        ops.notify_buyer(
            session, order, "backorder_ready", {"sku": line.sku, "name": line.name, "quantity": quantity}
        )
        session.flush()
        ops.recompute_etas(session, [line.product_id], today, actor)
    return line


def cancel_line(actor: User, line_id: int, quantity: int, reason: str, today: date) -> OrderLine:
    """Cancel ``quantity`` units of a line: backordered units first, then allocated ones (released to the
    shelf). PO links beyond what is still backordered are released."""
    reason = (reason or "").strip()
    with write_transaction() as session:
        line, order = _locked_line(session, line_id)
        open_units = line.backordered + line.allocated
        problems = []
        if quantity < 1:
            problems.append("Cancel at least 1 unit.")
        elif quantity > open_units:
            problems.append(
                f"Only {open_units} units of {line.sku} are still open (not shipped or cancelled)."
            )
        elif quantity > open_units - (held := _held_for_payment(session, line)):
            problems.append(
                f"{held} units of {line.sku} wait for payment in a planned shipment: cancel that shipment "
                f"first (on the shipping page), or cancel at most {open_units - held}."
            )
        if not reason:
            problems.append("Give a reason for the cancellation.")
        elif len(reason) > 200:
            problems.append("A reason has at most 200 characters.")
        if problems:
            raise LineRefused(" ".join(problems))
        cancel_units(session, actor, line, order, quantity, reason)
        session.flush()
        ops.recompute_etas(session, [line.product_id], today, actor)
    return line


def _held_for_payment(session, line: OrderLine) -> int:
    """Allocated units of ``line`` that a payment-due shipment holds (they ship once paid)."""
    from portal.services.shipping import reserved_units

    return reserved_units(session, line.order_id).get(line.id, 0)


def cancel_units(session, actor: User, line: OrderLine, order: Order, quantity: int, reason: str) -> None:
    """Inside the caller's transaction (the line locked, its stock rows locked first): cancel ``quantity``
    units, backordered ones first, then allocated ones (released to the shelf); PO links beyond what is
    still backordered are released; the order's status follows; audit entry and timeline row. The
    caller recomputes the product's ETAs (the queue behind this line moves up)."""
    from_backorder = min(quantity, line.backordered)
    from_allocated = quantity - from_backorder
    stocks = ops.lock_stock(session, [line.product_id]).get(line.product_id, [])
    release = from_allocated
    for stock in stocks:
        take = min(release, stock.allocated)
        stock.allocated -= take
        release -= take
    line.backordered -= from_backorder
    line.allocated -= from_allocated
    line.cancelled += quantity
    if line.backordered == 0:
        line.eta, line.eta_estimated = None, False
    ops.trim_line_links(session, line)
    lines = list(session.scalars(select(OrderLine).where(OrderLine.order_id == order.id)))
    ops.refresh_order_status(order, lines)
    audit.record(
        actor,
        "order_line_cancelled",
        "order_line",
        line.id,
        None,
        {"quantity": quantity, "reason": reason},
    )
    ops.add_event(session, order.id, "cancelled", f"{quantity} × {line.sku} cancelled: {reason}", actor)


@dataclass(frozen=True)
class Cancellation:
    line: OrderLine
    #: The refund or credit note for the cancelled units; None when it could not be made now (the
    #: payment service was unreachable): the same key settles it later, once.
    settlement: refunds.Settlement | None


def cancel_and_settle(actor: User, line_id: int, quantity: int, reason: str, today: date) -> Cancellation:
    """Cancel units (``cancel_line``), then give the money back: exactly those units' value, refunded on
    the card charge that paid them or credited on account (``refunds.settle_cancellation``; DESIGN §7).
    The settlement runs after the cancellation commits (a card refund is a call to Stripe); its key names
    the line and its cancelled total so far, so a retry settles once."""
    line = cancel_line(actor, line_id, quantity, reason, today)
    return Cancellation(line, settle_cancelled(line, quantity, reason))


def settle_cancelled(line: OrderLine, quantity: int, reason: str) -> refunds.Settlement | None:
    """The money for ``quantity`` units just cancelled on ``line`` (committed): see ``cancel_and_settle``.
    None when the payment service could not be reached (the same key settles it later, once)."""
    key = f"line:{line.id}:cancelled:{line.cancelled}"
    try:
        return refunds.settle_cancellation(line.id, quantity, key, reason)
    except gateway.StripeUnavailable:
        db.session.rollback()
        return None


def cancel_backorder_for_buyer(buyer: User, line_id: int, quantity: int, today: date) -> Cancellation:
    """A buyer cancels units of their own order still on backorder (never units set aside or shipped),
    and gets their value back per the payment rules. A backorder the buyer was shown as "Available"
    (hidden status) is not cancellable here unless its ETA misses their deadline, when it was told."""
    line = db.session.get(OrderLine, line_id)
    if line is None or line.order.company_id != buyer.company_id:
        raise NotFound("That order line does not exist.")
    if line.backorder_hidden and not is_late(line):
        raise LineRefused(f"Nothing of {line.sku} is waiting to be cancelled: ask your sales rep.")
    if not 1 <= quantity <= line.backordered:
        raise LineRefused(f"Only {line.backordered} units of {line.sku} are on backorder; units that ship "
                          "now or have shipped cannot be cancelled here.")
    return cancel_and_settle(buyer, line_id, quantity, "Cancelled by the buyer", today)


def accept_later_date(buyer: User, line_id: int) -> OrderLine:
    """The buyer keeps a backordered line whose ETA slipped past their deadline (the order page's
    choice): it stays at risk, marked accepted, with a timeline row for staff and buyer."""
    with write_transaction() as session:
        line, order = _locked_line(session, line_id)
        if order.company_id != buyer.company_id:
            raise NotFound("That order line does not exist.")
        if not is_late(line):
            raise LineRefused(f"{line.sku} is not expected after your deadline: nothing to accept.")
        if not line.accepted_late:
            line.accepted_late = True
            text = f"{buyer.name} accepted the later date for {line.sku} (expected {line.eta:%d %b %Y})."
            ops.add_event(session, order.id, "eta_changed", text, buyer)
            audit.record(buyer, "later_date_accepted", "order_line", line.id, None, {"eta": line.eta})
    return line


def product_of(line: OrderLine) -> Product:
    return db.session.get(Product, line.product_id)


def staff_lines(order: Order) -> list[OrderLine]:
    return list(
        db.session.scalars(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id))
    )


def lines_with_open_units(order: Order) -> list[OrderLine]:
    return [line for line in staff_lines(order) if line.allocated or line.backordered]
