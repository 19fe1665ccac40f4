"""Who may see which company's data. Everything outside a user's reach is reported as 404, not 403,
so that ids of other customers' objects leak nothing."""

from __future__ import annotations

from flask import abort
from sqlalchemy import Select, select, true

from portal.extensions import db
from portal.models import Address, Company, Order, User


def company_filter(user: User, column=Company.id):
    """A WHERE clause limiting ``column`` (a company id) to the companies ``user`` may see."""
    if user.role == "admin":
        return true()
    if user.role == "sales_rep":
        return column.in_(select(Company.id).where(Company.sales_rep_id == user.id))
    return column == user.company_id


def visible_companies(user: User) -> Select[tuple[Company]]:
    return select(Company).where(company_filter(user)).order_by(Company.name)


def company_or_404(user: User, company_id: int) -> Company:
    company = db.session.scalar(select(Company).where(Company.id == company_id, company_filter(user)))
    if company is None:
        abort(404)
    return company


def address_or_404(user: User, address_id: int) -> Address:
    address = db.session.scalar(
        select(Address).where(Address.id == address_id, company_filter(user, Address.company_id))
    )
    if address is None:
        abort(404)
    return address


def order_or_404(user: User, number: str) -> Order:
    """The order numbered ``number`` if ``user`` may see its company's orders, else 404."""
    order = None
    if 0 < len(number) <= 20:
        order = db.session.scalar(
            select(Order).where(Order.number == number, company_filter(user, Order.company_id)))
    if order is None:
        abort(404)
    return order


def user_or_404(actor: User, user_id: int) -> User:
    """Admins reach every user; reps the buyers of their companies; buyers their colleagues."""
    query = select(User).where(User.id == user_id)
    if actor.role != "admin":
        query = query.where(company_filter(actor, User.company_id))
    found = db.session.scalar(query)
    if found is None:
        abort(404)
    return found


def invoice_or_404(user: User, number: str):
    """The invoice numbered ``number`` if ``user`` may see its company, else 404."""
    from portal.models import Invoice

    invoice = None
    if 0 < len(number) <= 20:
        invoice = db.session.scalar(
            select(Invoice).where(Invoice.number == number, company_filter(user, Invoice.company_id)))
    if invoice is None:
        abort(404)
    return invoice
