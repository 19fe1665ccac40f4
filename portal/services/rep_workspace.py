"""The sales rep's workspace (issue 7): trouble first. For the companies a rep looks after (an admin:
all), backorders whose ETA is past the buyer's deadline, recent ETA changes, open orders and overdue
invoices, each in one query; and notes kept on an account."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import AccountNote, Company, Invoice, Order, OrderEvent, OrderLine, User
from portal.models.base import utcnow
from portal.services import ServiceError, audit
from portal.services.scope import company_filter, company_or_404

#: Rows per dashboard section; each section links to its full list.
SECTION_LIMIT = 20
#: "Recent" ETA changes: this many days back.
RECENT_DAYS = 14
MAX_NOTE = 2000
OPEN_ORDER_STATUSES = ("open", "partially_shipped")


class NoteRefused(ServiceError):
    pass


@dataclass(frozen=True)
class RiskRow:
    order_number: str
    company: str
    sku: str
    name: str
    backordered: int
    eta: date
    need_by: date

    @property
    def days_late(self) -> int:
        return (self.eta - self.need_by).days


@dataclass(frozen=True)
class EtaChange:
    order_number: str
    company: str
    text: str
    at: datetime


@dataclass(frozen=True)
class OpenOrder:
    number: str
    company: str
    placed_at: datetime
    status: str
    total: Decimal


@dataclass(frozen=True)
class OverdueInvoice:
    number: str
    company: str
    due_on: date
    outstanding: Decimal

    def days_overdue(self, today: date) -> int:
        return (today - self.due_on).days


@dataclass
class Dashboard:
    at_risk: list[RiskRow] = field(default_factory=list)
    eta_changes: list[EtaChange] = field(default_factory=list)
    open_orders: list[OpenOrder] = field(default_factory=list)
    overdue: list[OverdueInvoice] = field(default_factory=list)


def dashboard(user: User, today: date) -> Dashboard:
    reach = company_filter(user, Order.company_id)
    risk = db.session.execute(
        select(Order.number, Company.name, OrderLine.sku, OrderLine.name, OrderLine.backordered,
               OrderLine.eta, OrderLine.need_by)
        .join(Order, Order.id == OrderLine.order_id).join(Company, Company.id == Order.company_id)
        .where(reach, Order.status.in_(OPEN_ORDER_STATUSES), OrderLine.backordered > 0,
               OrderLine.need_by.is_not(None), OrderLine.eta.is_not(None), OrderLine.eta > OrderLine.need_by)
        .order_by(OrderLine.need_by, OrderLine.id).limit(SECTION_LIMIT)).all()
    since = utcnow() - timedelta(days=RECENT_DAYS)
    changes = db.session.execute(
        select(Order.number, Company.name, OrderEvent.text, OrderEvent.created_at)
        .join(Order, Order.id == OrderEvent.order_id).join(Company, Company.id == Order.company_id)
        .where(reach, OrderEvent.kind == "eta_changed", OrderEvent.created_at >= since)
        .order_by(OrderEvent.created_at.desc(), OrderEvent.id.desc()).limit(SECTION_LIMIT)).all()
    orders = db.session.execute(
        select(Order.number, Company.name, Order.placed_at, Order.status, Order.total)
        .join(Company, Company.id == Order.company_id)
        .where(reach, Order.status.in_(OPEN_ORDER_STATUSES))
        .order_by(Order.placed_at.desc(), Order.id.desc()).limit(SECTION_LIMIT)).all()
    invoices = db.session.execute(
        select(Invoice.number, Company.name, Invoice.due_on, Invoice.total - Invoice.amount_paid)
        .join(Company, Company.id == Invoice.company_id)
        .where(company_filter(user, Invoice.company_id), Invoice.status == "open", Invoice.due_on < today)
        .order_by(Invoice.due_on, Invoice.id).limit(SECTION_LIMIT)).all()
    return Dashboard(at_risk=[RiskRow(*row) for row in risk],
                     eta_changes=[EtaChange(*row) for row in changes],
                     open_orders=[OpenOrder(*row) for row in orders],
                     overdue=[OverdueInvoice(*row) for row in invoices])


def notes(company_id: int, limit: int = 50) -> list[AccountNote]:
    return list(db.session.scalars(select(AccountNote).where(AccountNote.company_id == company_id)
                                   .order_by(AccountNote.id.desc()).limit(limit)))


def add_note(actor: User, company_id: int, body: str) -> AccountNote:
    """A note on an account the actor looks after (others: 404)."""
    company = company_or_404(actor, company_id)
    body = (body or "").replace("\x00", "").strip()
    if not body:
        raise NoteRefused("Write the note first.")
    if len(body) > MAX_NOTE:
        raise NoteRefused(f"A note holds at most {MAX_NOTE:,} characters (this one has {len(body):,}).")
    with write_transaction() as session:
        note = AccountNote(company_id=company.id, author_id=actor.id, body=body)
        session.add(note)
        session.flush()
        audit.record(actor, "account_note_added", "company", company.id, None, {"note_id": note.id})
    return note
