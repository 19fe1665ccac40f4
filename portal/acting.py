"""Whom an order is for. A buyer orders for their own company; a sales rep or admin for the customer
they chose with "Order for this customer" (issue 7): the choice is kept in the session and checked
against the staff member's reach on every request, so a rep who loses an account loses its cart too.
The cart, prices, addresses and the placed order are then the customer's; the order records the rep as
the one who placed it."""

from __future__ import annotations

from flask import abort, flash, g, redirect, session, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.extensions import db
from portal.models import Company
from portal.services.scope import company_filter

ACTING_KEY = "acting_company_id"


def start(company: Company) -> None:
    session[ACTING_KEY] = company.id
    g.pop("acting_company", None)


def stop() -> None:
    session.pop(ACTING_KEY, None)
    g.pop("acting_company", None)


def acting_company() -> Company | None:
    """The company being ordered for, or None (signed out, or staff who chose none)."""
    if not current_user.is_authenticated:
        return None
    if current_user.role == "buyer":
        return current_user.company
    if "acting_company" not in g:
        company_id = session.get(ACTING_KEY)
        company = None
        if isinstance(company_id, int):
            company = db.session.scalar(select(Company).where(
                Company.id == company_id, Company.active, company_filter(current_user)))
            if company is None:
                session.pop(ACTING_KEY, None)
        g.acting_company = company
    return g.acting_company


def ordering_company() -> Company:
    """For the cart and checkout: the acting company; staff who chose none go to their accounts."""
    company = acting_company()
    if company is None:
        flash("Choose a customer first: open their account and use “Order for this customer”.", "info")
        abort(redirect(url_for("rep.index")))
    return company
