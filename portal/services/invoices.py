"""On-account invoices (one per shipment) and the manual payments staff record against them (DESIGN §7).

``invoice_shipment`` is the entry point the shipping service calls, after a shipment of an on-account
order is committed, with the value of the units shipped; it is idempotent per shipment (unique
``shipment_id``). The due date follows the company's terms (net 15/30/60 days from the issue date).

A manual payment (bank transfer, cheque) is applied to its invoice up to the balance; the rest of an
overpayment stays on the account as credit (it lowers the company's exposure, see ``credit``). A
partial payment leaves the invoice open with a smaller balance.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Company, Invoice, ManualPayment, Order, User
from portal.models.base import utcnow
from portal.models.payments import MANUAL_PAYMENT_METHODS
from portal.services import NotFound, ServiceError, audit, balances

TERMS_DAYS = {"net15": 15, "net30": 30, "net60": 60, "card_only": 0}


def due_date(terms: str, issued_on: date) -> date:
    return issued_on + timedelta(days=TERMS_DAYS.get(terms, 30))


def invoice_shipment(order_id: int, shipment_id: int, total: Decimal, issued_on: date) -> Invoice:
    """The invoice of one shipment of an on-account order (the same one if asked again)."""
    order = db.session.get(Order, order_id)
    if order is None or order.payment_method != "on_account":
        raise ServiceError("Only on-account orders are invoiced per shipment.")
    if total < 0:
        raise ServiceError("An invoice total cannot be negative.")
    company = db.session.get(Company, order.company_id)
    with write_transaction() as session:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        new_id = session.execute(dialect.insert(Invoice).values(
            number=f"T{uuid.uuid4().hex[:19]}", company_id=order.company_id, order_id=order.id,
            shipment_id=shipment_id, issued_on=issued_on, due_on=due_date(company.payment_terms, issued_on),
            total=total, amount_paid=Decimal("0"), status="paid" if total == 0 else "open",
            created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["shipment_id"]).returning(Invoice.id)).scalar_one_or_none()
        if new_id is not None:
            session.get(Invoice, new_id).number = f"INV-{new_id:05d}"
            balances.forget(session, companies=[order.company_id])  # a Core insert: the hook cannot see it
        invoice = session.scalar(select(Invoice).where(Invoice.shipment_id == shipment_id))
    return invoice


def record_payment(actor: User, invoice_id: int, method: str, reference: str, amount: Decimal,
                   received_on: date) -> ManualPayment:
    """Staff record money received against an invoice; see the module docstring for over/part payment."""
    problems = []
    if method not in MANUAL_PAYMENT_METHODS:
        problems.append("Choose bank transfer or cheque.")
    if amount is None or amount <= 0:
        problems.append("Enter the amount received, above zero.")
    if problems:
        raise ServiceError(" ".join(problems))
    with write_transaction() as session:
        invoice = session.scalar(select(Invoice).where(Invoice.id == invoice_id).with_for_update())
        if invoice is None:
            raise NotFound("No such invoice.")
        if invoice.status == "void":
            raise ServiceError(f"{invoice.number} is void: record the payment against another invoice.")
        applied = min(amount, invoice.total - invoice.amount_paid)
        payment = ManualPayment(company_id=invoice.company_id, invoice_id=invoice.id, method=method,
                                reference=(reference or "").strip()[:60], amount=amount, applied=applied,
                                received_on=received_on, recorded_by_id=actor.id)
        session.add(payment)
        invoice.amount_paid += applied
        if invoice.amount_paid == invoice.total:
            invoice.status = "paid"
        session.flush()
        audit.record(actor, "manual_payment_recorded", "invoice", invoice.id, None, {
            "payment_id": payment.id, "method": method, "amount": amount, "applied": applied,
            "credit": amount - applied, "reference": payment.reference})
    return payment


def payments_of(invoice_id: int) -> list[ManualPayment]:
    return list(db.session.scalars(select(ManualPayment).where(ManualPayment.invoice_id == invoice_id)
                                   .order_by(ManualPayment.id)))


def invoices_of(company_id: int) -> list[Invoice]:
    return list(db.session.scalars(select(Invoice).where(Invoice.company_id == company_id)
                                   .order_by(Invoice.issued_on.desc(), Invoice.id.desc()).limit(500)))


def set_charge_policy(actor: User, company_id: int, policy: str) -> Company:
    """When the company's card orders are charged (admins); applies to orders placed from now on."""
    if policy not in ("at_order", "at_shipment"):
        raise ServiceError("Choose when card orders are charged.")
    with write_transaction() as session:
        company = session.get(Company, company_id)
        if company is None:
            raise NotFound("No such company.")
        if company.charge_policy != policy:
            audit.record(actor, "charge_policy_changed", "company", company.id,
                         {"charge_policy": company.charge_policy}, {"charge_policy": policy})
            company.charge_policy = policy
    return company
