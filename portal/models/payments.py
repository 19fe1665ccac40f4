"""Payments (DESIGN §7): saved cards, card charges (Stripe PaymentIntents), Stripe webhook events,
credit-limit exceptions, invoices and the manual payments staff record against them.

Idempotency lives here, not at Stripe (DESIGN §6): a card charge is keyed by what it pays for
(``order:<checkout token>``, ``shipment:<shipping form token>``) under a unique constraint, and a webhook
event by its Stripe id.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import Company
from portal.models.base import Base, Money, utcnow

#: When a card order is charged: the whole order when it is placed, or each shipment when it ships.
CHARGE_POLICIES = ("at_order", "at_shipment")
#: What a card charge pays for.
CHARGE_PURPOSES = ("order", "shipment")
#: pending: recorded, not yet sent to Stripe; requires_action: the buyer must authenticate on-session;
#: authorized: the card is held (manual capture), captured right after the order commits.
CHARGE_STATUSES = ("pending", "requires_action", "authorized", "succeeded", "failed", "canceled")
CHARGE_TRANSITIONS = {
    "pending": {"requires_action", "authorized", "succeeded", "failed", "canceled"},
    "requires_action": {"authorized", "succeeded", "failed", "canceled"},
    "authorized": {"succeeded", "failed", "canceled"},
    "succeeded": set(),
    "failed": set(),
    "canceled": set(),
}
INVOICE_STATUSES = ("open", "paid", "void")
MANUAL_PAYMENT_METHODS = ("bank_transfer", "cheque")


class PaymentCard(Base):
    """A card saved to the company's Stripe customer, mirrored from Stripe (never the number).

    Removing a card keeps the row (``removed_at``): carts and orders refer to it, and a per-shipment
    charge of an order whose card was removed becomes "payment due" rather than losing its history."""

    __tablename__ = "payment_cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    #: Stripe PaymentMethod id (pm_...).
    stripe_payment_method_id: Mapped[str] = mapped_column(String(255), unique=True)
    brand: Mapped[str] = mapped_column(String(30), default="card")
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: When the card was removed (detached at Stripe). The row stays: orders keep naming their card.
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    company: Mapped[Company] = relationship()

    @property
    def short_label(self) -> str:
        return f"{self.brand.title()} ending {self.last4}"

    @property
    def label(self) -> str:
        return f"{self.short_label} (expires {self.exp_month:02d}/{self.exp_year})"


class CardCharge(Base):
    """One charge of a card for one purpose (an order at placement, later a shipment)."""

    __tablename__ = "card_charges"
    __table_args__ = (
        CheckConstraint(f"purpose IN {CHARGE_PURPOSES!r}", name="purpose_known"),
        CheckConstraint(f"status IN {CHARGE_STATUSES!r}", name="status_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("amount_refunded >= 0 AND amount_refunded <= amount", name="refund_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    #: Set in the transaction that places the order (NULL while the card is being authorized).
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    #: The shipment a per-shipment charge pays for, set once it ships (the charge comes first).
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id", ondelete="SET NULL"),
                                                    index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    #: "order:<checkout token>" or "shipment:<shipping form token>": a second attempt for the same
    #: purpose finds this row.
    #: Also sent to Stripe as the Idempotency-Key.
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    payment_card_id: Mapped[int | None] = mapped_column(ForeignKey("payment_cards.id", ondelete="SET NULL"))
    #: The PaymentMethod charged, kept even if the saved card is removed later.
    stripe_payment_method_id: Mapped[str] = mapped_column(String(255))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_charge_id: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[Money]
    amount_refunded: Mapped[Money] = mapped_column(default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    #: What the buyer is told when the card was declined or needs authentication.
    failure_message: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    payment_card: Mapped[PaymentCard | None] = relationship()


class StripeEvent(Base):
    """A webhook event already applied: its id is stored in the same transaction as its effect."""

    __tablename__ = "stripe_events"

    #: Stripe's event id (evt_...).
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CreditException(Base):
    """A rep or admin lets one on-account order go over the company's credit limit by up to ``amount``.

    Used by at most one order (``used_by_order_id``); granting and using it are audit-logged."""

    __tablename__ = "credit_exceptions"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Money]
    reason: Mapped[str] = mapped_column(Text)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    used_by_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"),
                                                         unique=True)


class Invoice(Base):
    """An on-account invoice, one per shipment (created when shipments land); due on the company's terms.

    Overdue is not stored: an open invoice whose ``due_on`` is before today is overdue."""

    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint(f"status IN {INVOICE_STATUSES!r}", name="status_known"),
        CheckConstraint("total >= 0", name="total_nonnegative"),
        CheckConstraint("amount_paid >= 0 AND amount_paid <= total", name="paid_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "INV-00042", printed on the invoice.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    #: The shipment invoiced; one invoice per shipment.
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"), unique=True)
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    total: Mapped[Money]
    #: Sum of the manual payments applied to it (never more than the total; the excess is credit).
    amount_paid: Mapped[Money] = mapped_column(default=Decimal("0"))
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def balance(self) -> Decimal:
        return self.total - self.amount_paid

    def is_overdue(self, today: date) -> bool:
        return self.status == "open" and self.due_on < today


class ManualPayment(Base):
    """Money received by bank transfer or cheque, recorded by staff against an invoice.

    ``applied`` went to the invoice; ``amount - applied`` (an overpayment) is credit on the account."""

    __tablename__ = "manual_payments"
    __table_args__ = (
        CheckConstraint(f"method IN {MANUAL_PAYMENT_METHODS!r}", name="method_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("applied >= 0 AND applied <= amount", name="applied_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    method: Mapped[str] = mapped_column(String(20))
    #: The bank reference or cheque number.
    reference: Mapped[str] = mapped_column(String(60), default="")
    amount: Mapped[Money]
    applied: Mapped[Money]
    received_on: Mapped[date] = mapped_column(Date)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CardRefund(Base):
    """Money given back on a card charge, e.g. for a cancelled paid backorder (a partial refund)."""

    __tablename__ = "card_refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    card_charge_id: Mapped[int] = mapped_column(ForeignKey("card_charges.id"), index=True)
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id", ondelete="SET NULL"))
    amount: Mapped[Money]
    #: What the refund is for, e.g. "line:12:cancelled:3"; a repeat finds this row. Sent to Stripe too.
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    #: Stripe's refund id (re_...) once sent; NULL while recorded but not sent ("refund pending");
    #: "sending:<ISO time>" while one attempt holds the row until then (a lease, see services/refunds).
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CreditNote(Base):
    """On-account credit for money already invoiced (e.g. invoiced units later cancelled): it lowers what
    the company owes (and its exposure). Units cancelled before any invoice billed them get none: the
    order simply has less left to invoice."""

    __tablename__ = "credit_notes"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "CN-00007", printed on the credit note.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id", ondelete="SET NULL"))
    amount: Mapped[Money]
    reason: Mapped[str] = mapped_column(String(255), default="")
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
