"""Manual goodwill (DESIGN §4): reps and admins grant a percentage or an amount off a line or the whole
order, with a reason. A rep's grant above their limit waits for an admin's approval and counts in the
order's totals only once approved. Every step is audit-logged and on the order's timeline; the buyer sees
approved goodwill on the order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Company, Order, OrderAdjustment, OrderLine, User
from portal.services import NotFound, ServiceError, audit
from portal.services import backorder_ops as ops
from portal.services import settings as settings_service

CENT = Decimal("0.01")


class GoodwillRefused(ServiceError):
    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


def _recompute_totals(session, order: Order) -> None:
    """Totals come from lines and approved adjustments, never edited by hand."""
    adjustments = session.scalars(
        select(OrderAdjustment).where(
            OrderAdjustment.order_id == order.id, OrderAdjustment.status == "approved"
        )
    )
    order.adjustments_total = sum((a.amount for a in adjustments), Decimal("0.00"))
    order.total = order.subtotal + order.adjustments_total


def grant_goodwill(
    actor: User,
    order_id: int,
    line_id: int | None,
    percent: Decimal | None,
    amount: Decimal | None,
    reason: str,
) -> OrderAdjustment:
    reason = (reason or "").strip()
    with write_transaction() as session:
        order = session.scalar(select(Order).where(Order.id == order_id).with_for_update())
        if order is None:
            raise NotFound("That order does not exist.")
        line = None
        if line_id is not None:
            line = session.scalar(
                select(OrderLine).where(OrderLine.id == line_id, OrderLine.order_id == order.id)
            )
            if line is None:
                raise NotFound("That line is not on this order.")
        base = line.line_total if line else order.subtotal
        problems = []
        if (percent is None) == (amount is None):
            problems.append("Give either a percentage or an amount.")
        elif percent is not None and not Decimal("0") < percent <= Decimal("100"):
            problems.append("A percentage is more than 0 and at most 100.")
        elif amount is not None and amount <= 0:
            problems.append("An amount is more than 0.")
        if not reason:
            problems.append("Give a reason: the buyer sees it.")
        elif len(reason) > 500:
            problems.append("A reason has at most 500 characters.")
        value = None
        if not problems:
            value = (base * percent / 100).quantize(CENT, ROUND_HALF_UP) if percent is not None else amount
            current = -(order.adjustments_total or Decimal("0"))
            if value > base or value + current > order.subtotal:
                problems.append(f"Goodwill cannot exceed the value of the {'line' if line else 'order'}.")
        if problems:
            raise GoodwillRefused(problems)
        limit = settings_service.goodwill_limit_of(actor, session)
        status = "pending" if limit is not None and value > limit else "approved"
        described = f"{percent.normalize()}% goodwill" if percent is not None else "Goodwill credit"
        adjustment = OrderAdjustment(
            order_id=order.id,
            order_line_id=line.id if line else None,
            kind="manual_goodwill",
            description=described,
            amount=-value,
            reason=reason,
            status=status,
            created_by_id=actor.id,
            approved_by_id=actor.id if status == "approved" else None,
            approved_at=datetime.now(UTC) if status == "approved" else None,
        )
        session.add(adjustment)
        session.flush()
        _recompute_totals(session, order)
        audit.record(
            actor,
            "goodwill_granted",
            "order_adjustment",
            adjustment.id,
            None,
            {"order": order.number, "amount": value, "status": status, "reason": reason},
        )
        on = f" on {line.sku}" if line else ""
        if status == "approved":
            ops.add_event(session, order.id, "goodwill", f"Goodwill of {value}{on}: {reason}", actor)
        else:
            ops.add_event(
                session,
                order.id,
                "goodwill",
                f"Goodwill of {value}{on} awaits an admin's approval (above the rep's limit {limit})",
                actor,
                buyer_visible=False,
            )
    return adjustment


def decide_goodwill(actor: User, adjustment_id: int, approve: bool) -> OrderAdjustment:
    if actor.role != "admin":
        raise ServiceError("Only admins approve goodwill.")
    with write_transaction() as session:
        adjustment = session.scalar(
            select(OrderAdjustment).where(OrderAdjustment.id == adjustment_id).with_for_update()
        )
        if adjustment is None:
            raise NotFound("That adjustment does not exist.")
        if adjustment.status != "pending":
            raise GoodwillRefused([f"This goodwill was {adjustment.status} already."])
        order = session.scalar(select(Order).where(Order.id == adjustment.order_id).with_for_update())
        adjustment.status = "approved" if approve else "rejected"
        adjustment.approved_by_id, adjustment.approved_at = actor.id, datetime.now(UTC)
        _recompute_totals(session, order)
        audit.record(
            actor,
            f"goodwill_{adjustment.status}",
            "order_adjustment",
            adjustment.id,
            {"status": "pending"},
            {"status": adjustment.status},
        )
        ops.add_event(
            session,
            order.id,
            "goodwill",
            f"Goodwill of {-adjustment.amount}: {adjustment.reason}"
            if approve
            else f"Goodwill of {-adjustment.amount} was not approved",
            actor,
            buyer_visible=approve,
        )
    return adjustment


def pending_goodwill() -> list[tuple[OrderAdjustment, Order, Company, User | None]]:
    rows = db.session.execute(
        select(OrderAdjustment, Order, Company, User)
        .join(Order, Order.id == OrderAdjustment.order_id)
        .join(Company, Company.id == Order.company_id)
        .join(User, User.id == OrderAdjustment.created_by_id, isouter=True)
        .where(OrderAdjustment.status == "pending")
        .order_by(OrderAdjustment.id)
    ).all()
    return [tuple(row) for row in rows]
