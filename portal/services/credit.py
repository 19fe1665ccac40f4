"""On-account terms and credit limits (DESIGN §7).

Exposure = open invoice balances + the part of live on-account orders not invoiced yet − credit on account
(overpayments) − credit notes. Cancelling units that were never invoiced lowers the uninvoiced part; it
issues no credit note (see ``billing``). An on-account order may be placed while exposure + its
total stays within the credit limit (exactly at the limit is allowed). Over it, the buyer is told by how
much and may pay by card, or a rep or admin grants a one-off credit exception (with a reason,
audit-logged) that one order uses.

The check that counts runs inside ``ordering.place_order`` (and ``api_orders.place``) after
:func:`lock_company`: the company row is locked (``FOR NO KEY UPDATE`` on PostgreSQL, which does not
conflict with the key-share lock the new order row's foreign key already holds; SQLite's ``BEGIN
IMMEDIATE`` serialises writers anyway), so two orders placed at once are checked one after the other
and cannot together pass the limit. Services that lock the company row and stock rows lock the company
first (one lock order, no deadlocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import bindparam, func, select

from portal import fast_sql
from portal.database import write_transaction
from portal.extensions import db
from portal.formatting import money
from portal.integrations import stripe as gateway
from portal.models import (
    Cart,
    Company,
    CompanyBalance,
    CreditException,
    CreditNote,
    Invoice,
    ManualPayment,
    User,
)
from portal.services import NotFound, ServiceError, audit, balances
from portal.services.cards import card_of_company

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class CreditCheck:
    limit: Decimal
    exposure: Decimal
    total: Decimal
    #: The exception that lets this order through (None when within the limit or none applies).
    exception_id: int | None = None

    @property
    def available(self) -> Decimal:
        return max(self.limit - self.exposure, ZERO)

    @property
    def over_by(self) -> Decimal:
        return max(self.exposure + self.total - self.limit, ZERO)

    @property
    def allowed(self) -> bool:
        return self.over_by == 0 or self.exception_id is not None


def _total(expression, *where):
    return select(func.coalesce(func.sum(expression), 0)).where(*where).scalar_subquery()


def _exposure_statement():
    """Open invoice balances, unapplied payments and credit notes of the company ``:company_id``, and its
    kept uninvoiced amount (``portal.services.balances``), in one statement.

    Not merged with the company row's lock: on PostgreSQL a statement reads from the snapshot it started
    with, so a ``FOR UPDATE`` that waited for another order's commit would still read without that
    order (a test with five concurrent orders of one company caught it)."""
    companies, balances_table = Company.__table__, CompanyBalance.__table__
    of_company = balances_table.c.company_id == companies.c.id
    return (select(
        _total(Invoice.total - Invoice.amount_paid, Invoice.company_id == companies.c.id,
               Invoice.status == "open"),
        _total(ManualPayment.amount - ManualPayment.applied, ManualPayment.company_id == companies.c.id),
        _total(CreditNote.amount, CreditNote.company_id == companies.c.id),
        select(balances_table.c.uninvoiced).where(of_company).scalar_subquery().label("uninvoiced"))
        .where(companies.c.id == bindparam("company_id")))


_EXPOSURE = _exposure_statement()


def exposure(company_id: int, locked: bool = False) -> Decimal:
    """What the company owes or has committed on account: open invoice balances, plus the part of its
    live on-account orders not invoiced yet (units cancelled before invoicing simply drop out of it),
    less unapplied payments and credit notes (which exist only for money already invoiced).

    The uninvoiced part is the company's kept balance (``portal.services.balances``); when it is unknown
    it is summed from the tables — and stored at commit when ``locked`` (placing, under
    :func:`lock_company`). An order being placed counts for nothing until its lines are written, so
    placing reads this before writing them."""

    row = fast_sql.first(db.session.connection(), _EXPOSURE, {"company_id": company_id})
    open_invoices, credit, notes = (Decimal(value) for value in row[:3])
    uninvoiced = balances.uninvoiced(company_id, row.uninvoiced, locked)
    return (open_invoices + uninvoiced - credit - notes).quantize(ZERO)


def check(company: Company, total: Decimal, locked: bool = False) -> CreditCheck:
    return check_against(company, exposure(company.id, locked), total)


def check_against(company: Company, current: Decimal, total: Decimal) -> CreditCheck:
    """:func:`check` with the exposure already read (under the company lock)."""
    result = CreditCheck(company.credit_limit, current, total)
    if result.over_by == 0:
        return result
    exception_id = db.session.scalar(
        select(CreditException.id).where(CreditException.company_id == company.id,
                                         CreditException.used_by_order_id.is_(None),
                                         CreditException.amount >= result.over_by)
        .order_by(CreditException.amount, CreditException.id).limit(1))
    return CreditCheck(result.limit, result.exposure, total, exception_id)


def lock_company(session, company_id: int) -> Company:
    return session.scalar(select(Company).where(Company.id == company_id).with_for_update(key_share=True))


def over_limit_message(result: CreditCheck) -> str:
    return (f"This order is {money(result.over_by)} over your credit limit of {money(result.limit)} "
            f"({money(result.exposure)} is already on account). Pay by card, or ask your sales rep to "
            f"approve a credit exception.")


def payment_problems(cart: Cart, company: Company, total: Decimal) -> list[str]:
    """Why the cart cannot be paid the way it says (empty when it can)."""
    return assess(cart, company, total)[0]


def assess(cart: Cart, company: Company, total: Decimal,
           locked: bool = False) -> tuple[list[str], CreditCheck | None]:
    """The payment problems of the cart, and (on account) the credit check they came from, so that
    placing the order can use the same check instead of reading the exposure again."""
    if cart.payment_method == "card":
        if not gateway.configured():
            return ["Card payments are not available: choose On account in the checkout details."], None
        if cart.payment_card_id is None or card_of_company(company.id, cart.payment_card_id) is None:
            return ["Choose one of your saved cards in the checkout details (add one under Payment "
                    "methods)."], None
        return [], None
    if company.payment_terms == "card_only":
        return ["Your account pays by card: choose Card in the checkout details."], None
    result = check(company, total, locked)
    return ([] if result.allowed else [over_limit_message(result)]), result


def use_exception(session, actor: User, exception_id: int, order_id: int) -> None:
    exception = session.get(CreditException, exception_id)
    exception.used_by_order_id = order_id
    audit.record(actor, "credit_exception_used", "credit_exception", exception.id,
                 after={"order_id": order_id, "amount": exception.amount})


def grant_exception(actor: User, company_id: int, amount: Decimal, reason: str) -> CreditException:
    """Let one on-account order of the company go over its limit by up to ``amount`` (audit-logged)."""
    reason = (reason or "").strip()
    if amount is None or amount <= 0:
        raise ServiceError("Enter an amount above zero.")
    if not reason:
        raise ServiceError("Give a reason for the exception.")
    with write_transaction() as session:
        company = lock_company(session, company_id)
        if company is None:
            raise NotFound("No such company.")
        exception = CreditException(company_id=company_id, amount=amount, reason=reason[:1000],
                                    granted_by_id=actor.id)
        session.add(exception)
        session.flush()
        audit.record(actor, "credit_exception_granted", "company", company_id,
                     after={"amount": amount, "reason": exception.reason, "exception_id": exception.id})
    return exception


def open_exceptions(company_id: int) -> list[CreditException]:
    return list(db.session.scalars(select(CreditException).where(
        CreditException.company_id == company_id, CreditException.used_by_order_id.is_(None))
        .order_by(CreditException.id)))
