"""Money back for cancelled units (DESIGN §7): a partial refund on the card charge that paid for them,
or on account a credit note.

:func:`settle_cancellation` is called after a cancellation is committed (``backorders.cancel_line``,
with a key naming that cancellation). It is idempotent per key: the refund or credit note row is
claimed under a unique constraint first; the Stripe refund follows outside the transaction and a
repeat call with the same key retries a refund Stripe has not confirmed, and otherwise changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from portal.database import write_transaction
from portal.extensions import db
from portal.integrations import stripe as gateway
from portal.models import CardCharge, CardRefund, CreditNote, Order, OrderAdjustment, OrderLine
from portal.services import NotFound

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Settlement:
    #: "refund" (card), "credit_note" (on account) or "none" (nothing was charged for these units).
    kind: str
    amount: Decimal
    reference: str = ""


def cancellation_value(line: OrderLine, quantity: int) -> Decimal:
    """What ``quantity`` units of the line cost the buyer: their share of the line total and of the
    goodwill given on that line."""
    adjusted = sum((a.amount for a in db.session.scalars(select(OrderAdjustment).where(
        OrderAdjustment.order_line_id == line.id)) if getattr(a, "status", "approved") == "approved"),
        Decimal("0"))
    return ((line.line_total + adjusted) * quantity / line.quantity).quantize(CENT, rounding=ROUND_HALF_UP)


def _insert(session, model, **values):
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return session.execute(dialect.insert(model).values(**values)
                           .on_conflict_do_nothing(index_elements=["idempotency_key"])
                           .returning(model.id)).scalar_one_or_none()


def settle_cancellation(order_line_id: int, quantity: int, key: str, reason: str = "") -> Settlement:
    line = db.session.get(OrderLine, order_line_id)
    if line is None or quantity < 1 or quantity > line.cancelled:
        raise NotFound("No such cancellation.")
    order: Order = line.order
    amount = cancellation_value(line, quantity)
    if amount <= 0:
        return Settlement("none", Decimal("0.00"))
    if order.payment_method == "card":
        if order.charge_policy != "at_order":
            return Settlement("none", Decimal("0.00"))  # per shipment: unshipped units were never charged
        return _refund(order, line, amount, key, reason)
    return _credit_note(order, line, amount, key, reason)


def _refund(order: Order, line: OrderLine, amount: Decimal, key: str, reason: str) -> Settlement:
    with write_transaction() as session:
        charge = session.scalar(select(CardCharge).where(
            CardCharge.order_id == order.id, CardCharge.purpose == "order", CardCharge.status == "succeeded")
            .with_for_update())
        if charge is None:
            return Settlement("none", Decimal("0.00"))
        refund_id = _insert(session, CardRefund, card_charge_id=charge.id, order_line_id=line.id,
                            amount=min(amount, charge.amount - charge.amount_refunded), idempotency_key=key,
                            reason=reason[:255])
        if refund_id is not None:
            refund = session.get(CardRefund, refund_id)
            charge.amount_refunded += refund.amount
        refund = session.scalar(select(CardRefund).where(CardRefund.idempotency_key == key))
        intent_id = charge.stripe_payment_intent_id
    if refund.stripe_refund_id is None:
        stripe_id = gateway.refund(intent_id, refund.amount, key)
        with write_transaction() as session:
            session.get(CardRefund, refund.id).stripe_refund_id = stripe_id
    return Settlement("refund", refund.amount, refund.stripe_refund_id or "")


def _credit_note(order: Order, line: OrderLine, amount: Decimal, key: str, reason: str) -> Settlement:
    with write_transaction() as session:
        note_id = _insert(session, CreditNote, number=f"T{uuid.uuid4().hex[:19]}",
                          company_id=order.company_id, order_id=order.id, order_line_id=line.id,
                          amount=amount, reason=reason[:255], idempotency_key=key)
        if note_id is not None:
            session.get(CreditNote, note_id).number = f"CN-{note_id:05d}"
        note = session.scalar(select(CreditNote).where(CreditNote.idempotency_key == key))
    return Settlement("credit_note", note.amount, note.number)


def credit_notes_of(order_id: int) -> list[CreditNote]:
    return list(db.session.scalars(select(CreditNote).where(CreditNote.order_id == order_id)
                                   .order_by(CreditNote.id)))


def refunds_of(order_id: int) -> list[CardRefund]:
    return list(db.session.scalars(select(CardRefund).join(CardCharge).where(CardCharge.order_id == order_id)
                                   .order_by(CardRefund.id)))
