"""Shipments from allocated units (DESIGN §2, §5): partial shipments are normal.

One transaction: the shipment row first, keyed by the form's one-time token (a double submit finds the
first shipment), then stock rows in product-id order and the order's lines. Each shipped unit leaves
``on_hand`` and ``allocated`` together through a ``shipment`` movement; lines and the order follow.

Card orders charged per shipment (``at_shipment``) are charged *before* anything ships, off-session and
outside any transaction, keyed by the same token (``shipment:<token>``: the shipment row does not exist
yet). Paid: the shipment ships as above and the charge is linked to it. Declined, or the bank wants the
buyer to authenticate: nothing moves; the shipment is kept as a :class:`PlannedShipment` ("payment due",
its units still allocated to their lines and held from other shipments), the buyer is told
(``payment_failed`` / ``payment_due``) and pays on-session from the order page. Staff then ship the
planned units (:func:`ship_planned`), or ship them unpaid with a reason (an audit-logged override; the
charge stays due).
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from portal import clock
from portal.database import write_transaction
from portal.extensions import db
from portal.formatting import money
from portal.integrations import stripe as gateway
from portal.models import (
    CardCharge,
    Invoice,
    Order,
    OrderAdjustment,
    OrderLine,
    PlannedShipment,
    PlannedShipmentLine,
    Shipment,
    ShipmentLine,
    StockMovement,
    User,
)
from portal.models.base import utcnow
from portal.services import NotFound, ServiceError, audit, balances, invoices, payments, refunds
from portal.services import backorder_ops as ops
from portal.services.payment_due import DUE

#: The longest reason staff may give for shipping a payment-due shipment unpaid.
MAX_OVERRIDE_REASON = 500


class ShipmentRefused(ServiceError):
    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


class PaymentDue(ServiceError):
    """The card charge of an ``at_shipment`` order's shipment did not go through: nothing shipped; the
    shipment is kept as payment due (``plan``)."""

    def __init__(self, plan: PlannedShipment, message: str):
        super().__init__(message)
        self.plan = plan


def charged_per_shipment(order: Order) -> bool:
    return order.payment_method == "card" and order.charge_policy == "at_shipment"


def _claim(session, token: str, order_id: int) -> tuple[int | None, Shipment | None]:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    shipment_id = session.execute(
        dialect.insert(Shipment)
        # A random placeholder number, never the token's: see ``ordering.placeholder_number``.
        .values(token=token, order_id=order_id, number=f"S{uuid.uuid4().hex[:19]}", tracking_number="",
                carrier="")
        .on_conflict_do_nothing(index_elements=["token"])
        .returning(Shipment.id)
    ).scalar_one_or_none()
    if shipment_id is not None:
        balances.forget(session, orders=[order_id])  # a Core insert: the session hook cannot see it
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
    :func:`invoice_due`. A double submit finds the first shipment and its invoice.

    An ``at_shipment`` card order is charged first (:func:`_ship_charged`); when the charge does not go
    through, this raises :class:`PaymentDue` and nothing ships."""
    order = db.session.get(Order, order_id)
    if order is not None and charged_per_shipment(order):
        shipment = _ship_charged(actor, order, token, quantities, tracking_number, carrier)
    else:
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
    billed = db.session.scalar(select(func.coalesce(func.sum(Invoice.total), 0)).where(
        Invoice.order_id == order_id, Invoice.status != "void"))
    due = max(shipped + _order_credit(order_id), Decimal("0"))
    return max(due - Decimal(billed), Decimal("0")).quantize(Decimal("0.01"))


def _order_credit(order_id: int) -> Decimal:
    """The order's own (order-level, approved) goodwill: zero or negative."""
    return Decimal(db.session.scalar(select(func.coalesce(func.sum(OrderAdjustment.amount), 0)).where(
        OrderAdjustment.order_id == order_id, OrderAdjustment.order_line_id.is_(None),
        OrderAdjustment.status == "approved")))


def _ship(
    actor: User,
    order_id: int,
    token: str,
    quantities: dict[int, int],
    tracking_number: str,
    carrier: str = "",
    today: date | None = None,
    *,
    charge_id: int | None = None,
    plan_id: int | None = None,
    override_reason: str = "",
) -> Shipment:
    """Ship ``quantities`` (order line id -> units) of allocated stock. Every problem is reported at once
    and nothing is written then. ``charge_id``: the card charge paying for it, linked to the shipment.
    ``plan_id``: the payment-due shipment this ships (its own units are not held from it), unpaid when
    ``override_reason`` is given."""
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
        plan = _lock_plan(session, plan_id, charge_id, override_reason) if plan_id else None
        problems = _problems(order, lines, quantities, tracking_number,
                             reserved_units(session, order.id, except_plan=plan_id))
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
        if charge_id is not None:
            session.get(CardCharge, charge_id).shipment_id = shipment.id
        if plan is not None:
            _close_plan(session, plan, shipment, order, actor, override_reason)
    return shipment


def _problems(
    order: Order,
    lines: dict[int, OrderLine],
    quantities: dict[int, int],
    tracking: str,
    reserved: dict[int, int] | None = None,
) -> list[str]:
    problems = []
    reserved = reserved or {}
    if order.status in ("shipped", "cancelled"):
        problems.append(f"{order.number} is {order.status}: nothing is left to ship.")
    for line_id, quantity in quantities.items():
        line = lines.get(line_id)
        held = reserved.get(line_id, 0)
        if line is None:
            problems.append("A line of the form is not on this order.")
        elif quantity < 0:
            problems.append(f"{line.sku}: a quantity cannot be negative.")
        elif quantity > line.allocated - held:
            problems.append(
                f"{line.sku}: only {line.allocated - held} allocated (set aside) to ship, not {quantity}"
                + (f"; {held} more wait for payment in a planned shipment." if held else ".")
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


# --- card orders charged per shipment -------------------------------------------------------------


def reserved_units(session, order_id: int, except_plan: int | None = None) -> dict[int, int]:
    """Units of each order line held by the order's payment-due shipments: they stay allocated to the
    line, but no other shipment may take them."""
    query = (
        select(PlannedShipmentLine.order_line_id, func.sum(PlannedShipmentLine.quantity))
        .join(PlannedShipment, PlannedShipment.id == PlannedShipmentLine.planned_shipment_id)
        .where(PlannedShipment.order_id == order_id, PlannedShipment.status == "payment_due")
        .group_by(PlannedShipmentLine.order_line_id)
    )
    if except_plan is not None:
        query = query.where(PlannedShipment.id != except_plan)
    return {line_id: int(units) for line_id, units in session.execute(query).all()}


def shipment_charge_due(order_id: int, shipping: dict[int, int], own_key: str = "") -> Decimal:
    """What shipping ``shipping`` (line id -> units) of an ``at_shipment`` card order charges, computed
    cumulatively like :func:`invoice_due`: the value of every unit shipped or held by a payment-due
    shipment, plus these units, less the order's own goodwill, less every shipment charge already made
    for the order, paid or still due (not the one keyed ``own_key``: a repeat of this very form). So the
    charges of a fully shipped order add up to its total, and a charge that went through without its
    shipment (the order changed meanwhile) is counted by the next one."""
    db.session.expire_all()
    lines = list(db.session.scalars(select(OrderLine).where(OrderLine.order_id == order_id)))
    held = reserved_units(db.session, order_id)
    value = Decimal("0")
    for line in lines:
        units = line.shipped + held.get(line.id, 0) + shipping.get(line.id, 0)
        if units:
            value += refunds.cancellation_value(line, units)
    charged = db.session.scalar(select(func.coalesce(func.sum(CardCharge.amount), 0)).where(
        CardCharge.order_id == order_id, CardCharge.purpose == "shipment", CardCharge.status != "canceled",
        CardCharge.idempotency_key != own_key))
    due = max(value + _order_credit(order_id), Decimal("0"))
    return max(due - Decimal(charged), Decimal("0")).quantize(Decimal("0.01"))


def _ship_charged(actor: User, order: Order, token: str, quantities: dict[int, int], tracking_number: str,
                  carrier: str) -> Shipment:
    """Charge, then ship; or keep the shipment as payment due. The Stripe call happens before any lock
    is taken. A double submit of the form finds the first shipment, or the payment-due one."""
    if not token or len(token) > 64:
        raise ServiceError("This shipping form has expired. Open the order again.")
    done = db.session.scalar(select(Shipment).where(Shipment.token == token))
    planned = db.session.scalar(select(PlannedShipment).where(PlannedShipment.token == token))
    found = done or planned
    if found is not None and found.order_id != order.id:
        raise ServiceError("This shipping form has expired. Open the order again.")
    if done is not None:
        return done
    if planned is not None:
        raise PaymentDue(planned, due_message(planned))
    lines = {line.id: line for line in db.session.scalars(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id))}
    problems = _problems(order, lines, quantities, tracking_number or "",
                         reserved_units(db.session, order.id))
    if problems:
        raise ShipmentRefused(problems)
    shipping = {line_id: q for line_id, q in quantities.items() if q > 0}
    amount = shipment_charge_due(order.id, shipping, own_key=f"shipment:{token}")
    if amount <= 0:  # goodwill (or an earlier charge) already covers these units
        return _ship(actor, order.id, token, quantities, tracking_number, carrier)
    try:
        result = payments.charge_shipment(order.id, token, amount)
    except gateway.StripeUnavailable as exc:
        raise ServiceError(f"{exc} Nothing was charged or shipped.") from exc
    if result.status == "succeeded":
        return _ship(actor, order.id, token, quantities, tracking_number, carrier, charge_id=result.charge_id)
    if result.status in DUE:
        plan = _plan(actor, order.id, token, shipping, tracking_number, carrier, result.charge_id)
        raise PaymentDue(plan, due_message(plan))
    if result.status == "canceled":
        raise ServiceError("This shipping form was already used. Open the order again.")
    raise ServiceError("The card payment for this shipment is still being processed: nothing was shipped. "
                       "Try again in a moment.")


def _plan(actor: User, order_id: int, token: str, shipping: dict[int, int], tracking_number: str,
          carrier: str, charge_id: int) -> PlannedShipment:
    """Keep the shipment as payment due (nothing moves) and tell the buyer, in one transaction."""
    with write_transaction() as session:
        order = session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        plan = session.scalar(select(PlannedShipment).where(PlannedShipment.token == token))
        if plan is not None:
            return plan  # a second submit got here first
        lines = {line.id: line for line in session.scalars(
            select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)
            .with_for_update().execution_options(populate_existing=True))}
        charge = session.scalar(select(CardCharge).where(CardCharge.id == charge_id).with_for_update())
        refused = _problems(order, lines, shipping, tracking_number or "", reserved_units(session, order.id))
        if refused:
            # The order changed while the card was being charged: nothing is due for this form.
            charge.status, charge.failure_message = "canceled", "The shipment was not made."
        else:
            plan = _add_plan(session, actor, order, lines, token, shipping, tracking_number, carrier, charge)
    if refused:
        _cancel_intent(charge_id)
        raise ShipmentRefused(refused)
    return plan


def _add_plan(session, actor: User, order: Order, lines: dict[int, OrderLine], token: str,
              shipping: dict[int, int], tracking_number: str, carrier: str,
              charge: CardCharge) -> PlannedShipment:
    plan = PlannedShipment(order_id=order.id, token=token, card_charge_id=charge.id, status="payment_due",
                           tracking_number=(tracking_number or "").strip(), carrier=(carrier or "").strip(),
                           override_reason="", created_by_id=actor.id if actor else None)
    session.add(plan)
    session.flush()
    for line_id in sorted(shipping):
        session.add(PlannedShipmentLine(planned_shipment_id=plan.id, order_line_id=line_id,
                                        quantity=shipping[line_id]))
    summary = ", ".join(f"{shipping[i]} × {lines[i].sku}" for i in sorted(shipping))
    declined = charge.status == "failed"
    why = "the card payment was declined" if declined else "your bank asks you to confirm the card payment"
    ops.add_event(session, order.id, "payment",
                  f"Shipment of {summary} is waiting for payment of {money(charge.amount)}: {why}.", actor)
    ops.notify_buyer(session, order, "payment_failed" if declined else "payment_due", {
        "amount": str(charge.amount),
        "message": charge.failure_message if declined else
        "Your bank asks you to confirm this card payment before we ship."})
    audit.record(actor, "shipment_payment_due", "order", order.id, None, {
        "planned_shipment_id": plan.id, "charge_id": charge.id, "charge_status": charge.status,
        "amount": charge.amount, "lines": {str(k): v for k, v in shipping.items()}})
    return plan


def _cancel_intent(charge_id: int) -> None:
    charge = db.session.get(CardCharge, charge_id)
    if charge is None or not charge.stripe_payment_intent_id:
        return
    try:
        gateway.cancel_payment_intent(charge.stripe_payment_intent_id)
    except (gateway.StripeUnavailable, gateway.CardDeclined):
        current_app.logger.exception("Could not cancel payment %s", charge.stripe_payment_intent_id)


def due_message(plan: PlannedShipment) -> str:
    """What staff are told about a payment-due shipment."""
    charge = db.session.get(CardCharge, plan.card_charge_id)
    if charge.status == "succeeded":
        return "The payment for this shipment has been made: it is ready to ship."
    if charge.status == "failed":
        why = (charge.failure_message or "The card was declined.").rstrip(".") + "."
    elif charge.status == "requires_action":
        why = "The buyer's bank asks them to confirm the payment."
    else:
        why = "The buyer is paying now."
    return (f"Nothing was shipped: the card payment of {money(charge.amount)} did not go through. {why} "
            "The shipment is kept as payment due; the buyer was asked to pay from the order page.")


def ship_planned(actor: User, order_id: int, plan_id: int, override_reason: str = "") -> Shipment:
    """Ship a payment-due shipment's units: once its charge is paid, or unpaid when staff give a reason
    (audit-logged, on the staff timeline; the charge stays due for the buyer). A repeated click finds
    the shipment."""
    reason = (override_reason or "").strip()
    db.session.rollback()  # read what is committed now (a payment may have just gone through)
    plan = db.session.get(PlannedShipment, plan_id)
    if plan is None or plan.order_id != order_id:
        raise NotFound("No such shipment waiting for payment.")
    if plan.status == "shipped" and plan.shipment_id is not None:
        return db.session.get(Shipment, plan.shipment_id)
    if plan.status != "payment_due":
        raise ServiceError("This shipment is no longer waiting for payment. Open the order again.")
    charge = db.session.get(CardCharge, plan.card_charge_id)
    if charge.status == "succeeded":
        reason = ""  # paid: an ordinary shipment
    elif not reason:
        raise ServiceError("The payment for this shipment is still due: to ship it unpaid, give the reason.")
    if len(reason) > MAX_OVERRIDE_REASON:
        raise ServiceError(f"A reason has at most {MAX_OVERRIDE_REASON} characters.")
    quantities = {line.order_line_id: line.quantity for line in plan.lines}
    return _ship(actor, plan.order_id, plan.token, quantities, plan.tracking_number, plan.carrier,
                 charge_id=charge.id, plan_id=plan.id, override_reason=reason)


def _lock_plan(session, plan_id: int, charge_id: int | None, override_reason: str) -> PlannedShipment:
    """The payment-due shipment being shipped, re-read under the order's lock: still due, and paid
    unless staff override."""
    plan = session.scalar(select(PlannedShipment).where(PlannedShipment.id == plan_id)
                          .execution_options(populate_existing=True))
    if plan is None or plan.status != "payment_due":
        raise ServiceError("This shipment is no longer waiting for payment. Open the order again.")
    charge = session.scalar(select(CardCharge).where(CardCharge.id == charge_id).with_for_update()
                            .execution_options(populate_existing=True))
    if charge.status != "succeeded" and not override_reason:
        raise ServiceError("The payment for this shipment is still due: to ship it unpaid, give the reason.")
    return plan


def _close_plan(session, plan: PlannedShipment, shipment: Shipment, order: Order, actor: User,
                override_reason: str) -> None:
    plan.status, plan.shipment_id, plan.closed_at = "shipped", shipment.id, utcnow()
    if not override_reason:
        return
    plan.override_reason = override_reason
    charge = session.get(CardCharge, plan.card_charge_id)
    ops.add_event(session, order.id, "payment",
                  f"Shipment {shipment.number} shipped before its payment of {money(charge.amount)} was made "
                  f"(staff override): {override_reason}", actor, buyer_visible=False)
    audit.record(actor, "shipment_payment_overridden", "order", order.id,
                 {"charge_id": charge.id, "charge_status": charge.status},
                 {"shipment": shipment.number, "planned_shipment_id": plan.id, "reason": override_reason})


def planned_shipments_of(order_id: int) -> list[PlannedShipment]:
    """The order's shipments waiting for payment (oldest first)."""
    return list(db.session.scalars(select(PlannedShipment).where(
        PlannedShipment.order_id == order_id, PlannedShipment.status == "payment_due")
        .order_by(PlannedShipment.id)))


def cancel_planned(actor: User, order_id: int, plan_id: int) -> PlannedShipment:
    """Drop a payment-due shipment that was not paid (e.g. its units were cancelled meanwhile): its units
    are free to ship again and its charge is no longer due. A paid one is shipped, not dropped."""
    db.session.rollback()
    with write_transaction() as session:
        order = session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        plan = session.get(PlannedShipment, plan_id)
        if order is None or plan is None or plan.order_id != order_id:
            raise NotFound("No such shipment waiting for payment.")
        if plan.status != "payment_due":
            raise ServiceError("This shipment is no longer waiting for payment. Open the order again.")
        charge = session.scalar(select(CardCharge).where(CardCharge.id == plan.card_charge_id)
                                .with_for_update())
        if charge.status not in DUE:
            raise ServiceError("This shipment's payment has been made (or is being made): ship it instead.")
        plan.status, plan.closed_at = "cancelled", utcnow()
        charge.status, charge.failure_message = "canceled", "The shipment was cancelled."
        ops.add_event(session, order.id, "payment",
                      f"A shipment waiting for payment of {money(charge.amount)} was cancelled: nothing "
                      "is due for it.", actor)
        audit.record(actor, "planned_shipment_cancelled", "order", order.id, None,
                     {"planned_shipment_id": plan.id, "charge_id": charge.id, "amount": charge.amount})
    _cancel_intent(plan.card_charge_id)
    return plan
