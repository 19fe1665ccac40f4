"""Shipments from allocated units (DESIGN §2, §5): partial shipments are normal.

One transaction: the shipment row first, keyed by the form's one-time token (a double submit finds the
first shipment), then stock rows in product-id order and the order's lines. Each shipped unit leaves
``on_hand`` and ``allocated`` together through a ``shipment`` movement; lines and the order follow.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from portal import clock
from portal.database import write_transaction
from portal.extensions import db
from portal.models import (
    Invoice,
    Order,
    OrderAdjustment,
    OrderLine,
    Shipment,
    ShipmentLine,
    StockMovement,
    User,
)
from portal.services import NotFound, ServiceError, audit, invoices, refunds
from portal.services import backorder_ops as ops


class ShipmentRefused(ServiceError):
    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


def _claim(session, token: str, order_id: int) -> tuple[int | None, Shipment | None]:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    shipment_id = session.execute(
        dialect.insert(Shipment)
        .values(token=token, order_id=order_id, number=f"S{token[:19]}", tracking_number="", carrier="")
        .on_conflict_do_nothing(index_elements=["token"])
        .returning(Shipment.id)
    ).scalar_one_or_none()
    if shipment_id is not None:
        return shipment_id, None
    existing = session.scalar(select(Shipment).where(Shipment.token == token))
    if existing is None or existing.order_id != order_id:
        raise ServiceError("This shipping form has expired. Open the order again.")
    return None, existing


def ship_order(
    actor: User,
    order_id: int,
    token: str,
    quantities: dict[int, int],
    tracking_number: str,
    carrier: str = "",
    today: date | None = None,
) -> Shipment:
    """Ship, then (after that commits) invoice an on-account order's shipment: see :func:`_ship` and
    :func:`invoice_due`. A double submit finds the first shipment and its invoice."""
    shipment = _ship(actor, order_id, token, quantities, tracking_number, carrier, today)
    order = db.session.get(Order, shipment.order_id)
    if order.payment_method == "on_account":
        invoices.invoice_shipment(order.id, shipment.id, invoice_due(order.id), today or clock.today())
    return shipment


def invoice_due(order_id: int) -> Decimal:
    """What an on-account order's next invoice bills: the value of every unit shipped so far (its share
    of the line total and of the line's goodwill, as a cancellation values it), less the order's own
    goodwill, less what earlier invoices billed. Computed cumulatively, so order-level credit is used up
    first, no rounding is lost between shipments, and the invoices of a fully shipped order add up to
    its total."""
    db.session.expire_all()
    lines = list(db.session.scalars(select(OrderLine).where(OrderLine.order_id == order_id)))
    shipped = sum((refunds.cancellation_value(line, line.shipped) for line in lines if line.shipped),
                  Decimal("0"))
    order_credit = db.session.scalar(select(func.coalesce(func.sum(OrderAdjustment.amount), 0)).where(
        OrderAdjustment.order_id == order_id, OrderAdjustment.order_line_id.is_(None),
        OrderAdjustment.status == "approved"))
    billed = db.session.scalar(select(func.coalesce(func.sum(Invoice.total), 0)).where(
        Invoice.order_id == order_id, Invoice.status != "void"))
    due = max(shipped + Decimal(order_credit), Decimal("0"))
    return max(due - Decimal(billed), Decimal("0")).quantize(Decimal("0.01"))


def _ship(
    actor: User,
    order_id: int,
    token: str,
    quantities: dict[int, int],
    tracking_number: str,
    carrier: str = "",
    today: date | None = None,
) -> Shipment:
    """Ship ``quantities`` (order line id -> units) of allocated stock. Every problem is reported at once
    and nothing is written then."""
    if not token or len(token) > 64:
        raise ServiceError("This shipping form has expired. Open the order again.")
    tracking_number, carrier = (tracking_number or "").strip(), (carrier or "").strip()
    with write_transaction() as session:
        order = session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise NotFound("That order does not exist.")
        shipment_id, existing = _claim(session, token, order_id)
        if existing is not None:
            return existing
        lines = {
            line.id: line
            for line in session.scalars(
                select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)
            )
        }
        problems = _problems(order, lines, quantities, tracking_number)
        if problems:
            raise ShipmentRefused(problems)
        shipping = {line_id: q for line_id, q in quantities.items() if q > 0}
        stocks = ops.lock_stock(session, [lines[i].product_id for i in shipping])
        for line in session.scalars(
            select(OrderLine)
            .where(OrderLine.order_id == order.id)
            .order_by(OrderLine.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ):
            lines[line.id] = line
        shipment = session.get(Shipment, shipment_id)
        shipment.number, shipment.tracking_number, shipment.carrier = (
            f"SH-{shipment_id:05d}",
            tracking_number.strip(),
            carrier.strip(),
        )
        shipment.created_by_id = actor.id if actor else None
        for line_id in sorted(shipping, key=lambda i: (lines[i].product_id, i)):
            _ship_line(
                session,
                stocks[lines[line_id].product_id],
                lines[line_id],
                shipping[line_id],
                shipment,
                order,
                actor,
            )
        ops.refresh_order_status(order, lines.values())
        summary = ", ".join(f"{shipping[i]} × {lines[i].sku}" for i in sorted(shipping))
        tracking = f" (tracking {shipment.tracking_number})" if shipment.tracking_number else ""
        ops.add_event(session, order.id, "shipped", f"Shipment {shipment.number}: {summary}{tracking}", actor)
        ops.notify_buyer(
            session,
            order,
            "order_shipped",
            {
                "shipment": shipment.number,
                "tracking_number": shipment.tracking_number,
                "carrier": shipment.carrier,
                "lines": [{"sku": lines[i].sku, "quantity": shipping[i]} for i in sorted(shipping)],
            },
        )
        audit.record(
            actor,
            "order_shipped",
            "order",
            order.id,
            None,
            {"shipment": shipment.number, "lines": {str(k): v for k, v in shipping.items()}},
        )
    return shipment


def _problems(
    order: Order, lines: dict[int, OrderLine], quantities: dict[int, int], tracking: str
) -> list[str]:
    problems = []
    if order.status in ("shipped", "cancelled"):
        problems.append(f"{order.number} is {order.status}: nothing is left to ship.")
    for line_id, quantity in quantities.items():
        line = lines.get(line_id)
        if line is None:
            problems.append("A line of the form is not on this order.")
        elif quantity < 0:
            problems.append(f"{line.sku}: a quantity cannot be negative.")
        elif quantity > line.allocated:
            problems.append(
                f"{line.sku}: only {line.allocated} allocated (set aside) to ship, not {quantity}."
            )
    if len(tracking.strip()) > 60:
        problems.append("A tracking number has at most 60 characters.")
    if not problems and not any(q > 0 for q in quantities.values()):
        problems.append("Enter the quantity to ship on at least one line.")
    return problems


def _ship_line(
    session, stocks, line: OrderLine, quantity: int, shipment: Shipment, order: Order, actor: User
) -> None:
    need = quantity
    for stock in stocks:
        take = min(need, stock.allocated)
        if take <= 0:
            continue
        stock.on_hand -= take
        stock.allocated -= take
        need -= take
        session.add(
            StockMovement(
                product_id=line.product_id,
                warehouse_id=stock.warehouse_id,
                quantity=-take,
                kind="shipment",
                reason=f"Shipment {shipment.number}",
                reference=order.number,
                actor_id=actor.id if actor else None,
            )
        )
    if need:
        raise ServiceError(f"{line.sku}: the stock rows hold fewer allocated units than the order line.")
    line.allocated -= quantity
    line.shipped += quantity
    session.add(ShipmentLine(shipment_id=shipment.id, order_line_id=line.id, quantity=quantity))


def shipments_of(order_id: int) -> list[Shipment]:
    return list(
        db.session.scalars(select(Shipment).where(Shipment.order_id == order_id).order_by(Shipment.id))
    )
