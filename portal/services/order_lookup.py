"""Any staff member finds any order (by number, company, customer PO reference or SKU) and sees its
status: order status never lives in one person's head (DESIGN §1). Reading an order's status is open to
every staff member; acting on it (and the company's own pages) stays with the staff who look after
the company (``portal/services/scope.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import exists, func, or_, select

from portal.extensions import db
from portal.models import Company, Order, OrderLine, User
from portal.services.scope import company_filter

#: Rows a lookup shows; a buyer's question names one order, a company or a SKU narrows it further.
LIMIT = 50
MAX_QUERY = 60


@dataclass(frozen=True)
class FoundOrder:
    number: str
    company: str
    placed_at: datetime
    status: str
    po_reference: str
    total: Decimal
    backordered: int
    #: The reader looks after this company: the full order page with its actions.
    in_reach: bool


def clean_query(raw: str | None) -> str:
    return " ".join((raw or "").replace("\x00", "").split())[:MAX_QUERY]


def find_orders(reader: User, text: str) -> list[FoundOrder]:
    """Newest first. An order number or SKU matches exactly or by prefix, a company name or customer PO
    reference anywhere in it (case-insensitive). Empty text: the newest orders."""
    text = clean_query(text)
    backordered = (select(func.coalesce(func.sum(OrderLine.backordered), 0))
                   .where(OrderLine.order_id == Order.id).scalar_subquery())
    query = (select(Order.number, Company.name, Order.placed_at, Order.status, Order.po_reference,
                    Order.total, backordered, company_filter(reader, Order.company_id))
             .join(Company, Company.id == Order.company_id))
    if text:
        upper, lower = text.upper(), text.lower()
        query = query.where(or_(
            Order.number.startswith(upper, autoescape=True),
            func.lower(Company.name).contains(lower, autoescape=True),
            func.lower(Order.po_reference).contains(lower, autoescape=True),
            exists().where(OrderLine.order_id == Order.id, OrderLine.sku.startswith(upper, autoescape=True)),
        ))
    rows = db.session.execute(query.order_by(Order.placed_at.desc(), Order.id.desc()).limit(LIMIT)).all()
    return [FoundOrder(number, company, placed_at, status, po_reference, total, int(units or 0), bool(reach))
            for number, company, placed_at, status, po_reference, total, units, reach in rows]


def order_for_staff(number: str) -> Order | None:
    """The order numbered ``number`` whatever its company (staff only: the caller checks the role)."""
    if not 0 < len(number) <= 20:
        return None
    return db.session.scalar(select(Order).where(Order.number == number))


def in_reach(reader: User, order: Order) -> bool:
    reach = company_filter(reader, Order.company_id)
    return bool(db.session.scalar(select(reach).where(Order.id == order.id)))
