"""Saved cards (DESIGN §7): a SetupIntent for the company's Stripe customer, confirmed by Stripe.js in
the browser; the card is then mirrored here (brand, last four digits, expiry) and can be removed.

Stripe calls happen outside our transactions (no locks held while the network is slow); each local
write is its own short transaction. What we store always follows what Stripe says now: a card is
mirrored from the PaymentMethod as retrieved, so a webhook and the browser's return may both sync it,
in either order, with the same result.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal.database import write_transaction
from portal.extensions import db
from portal.integrations import stripe as gateway
from portal.models import Company, PaymentCard
from portal.models.base import utcnow as now
from portal.services import NotFound, ServiceError


def active_cards(company_id: int) -> list[PaymentCard]:
    return list(db.session.scalars(select(PaymentCard).where(
        PaymentCard.company_id == company_id, PaymentCard.removed_at.is_(None)).order_by(PaymentCard.id)))


def card_of_company(company_id: int, card_id: int) -> PaymentCard | None:
    """A saved, not removed card of ``company_id`` (None for anything else, other companies' included)."""
    return db.session.scalar(select(PaymentCard).where(
        PaymentCard.id == card_id, PaymentCard.company_id == company_id, PaymentCard.removed_at.is_(None)))


def ensure_customer(company_id: int) -> str:
    """The company's Stripe customer id, creating the customer on first use.

    Two first uses at once may both create a customer at Stripe; the conditional update keeps the first
    one stored and the other stays unused (Stripe's idempotency key usually prevents it anyway)."""
    company = db.session.get(Company, company_id)
    if company is None:
        raise NotFound("No such company.")
    if company.stripe_customer_id:
        return company.stripe_customer_id
    created = gateway.create_customer(company.name, company.id)
    with write_transaction() as session:
        session.execute(update(Company).where(Company.id == company_id, Company.stripe_customer_id.is_(None))
                        .values(stripe_customer_id=created))
    db.session.expire_all()
    return db.session.get(Company, company_id).stripe_customer_id


def start_setup(company_id: int) -> gateway.Intent:
    """A SetupIntent whose client secret lets Stripe.js save a card for the company."""
    return gateway.create_setup_intent(ensure_customer(company_id), company_id)


def complete_setup(company_id: int, setup_intent_id: str) -> PaymentCard:
    """Record the card the browser just saved. A SetupIntent of another company is NotFound."""
    company = db.session.get(Company, company_id)
    well_formed = setup_intent_id.startswith("seti_") and len(setup_intent_id) <= 255
    if not well_formed or not company.stripe_customer_id:
        raise NotFound("No such card set-up.")
    try:
        intent = gateway.retrieve_setup_intent(setup_intent_id)
    except gateway.StripeUnavailable as exc:
        raise NotFound("No such card set-up.") from exc
    if intent.customer != company.stripe_customer_id:
        raise NotFound("No such card set-up.")
    if intent.status != "succeeded" or not intent.payment_method:
        raise ServiceError(intent.error or "The card was not saved. Please try again.")
    card = gateway.retrieve_card(intent.payment_method)
    if card.customer is None:  # Stripe attaches it; localstripe leaves it to us
        card = gateway.attach_card(card.id, company.stripe_customer_id)
    sync_card(card)
    return db.session.scalar(select(PaymentCard).where(PaymentCard.stripe_payment_method_id == card.id))


def sync_card(card: gateway.Card) -> None:
    """Mirror a PaymentMethod as Stripe has it now: attached to a known customer → saved, detached →
    removed. Idempotent: insert-or-ignore, then update."""
    with write_transaction() as session:
        sync_card_in(session, card)


def sync_card_in(session, card: gateway.Card) -> None:
    """:func:`sync_card` inside the caller's transaction (webhooks record their event id with it)."""
    row = session.scalar(select(PaymentCard).where(PaymentCard.stripe_payment_method_id == card.id))
    if row is None:
        company_id = session.scalar(select(Company.id).where(Company.stripe_customer_id == card.customer)) \
            if card.customer else None
        if company_id is None:
            return  # not ours, or detached before we ever saw it
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(dialect.insert(PaymentCard).values(
            company_id=company_id, stripe_payment_method_id=card.id, brand=card.brand, last4=card.last4,
            exp_month=card.exp_month, exp_year=card.exp_year, created_at=now())
            .on_conflict_do_nothing(index_elements=["stripe_payment_method_id"]))
        row = session.scalar(select(PaymentCard).where(PaymentCard.stripe_payment_method_id == card.id))
    row.brand, row.last4, row.exp_month, row.exp_year = card.brand, card.last4, card.exp_month, card.exp_year
    if card.customer is None and row.removed_at is None:
        row.removed_at = now()


def remove_card(company_id: int, card_id: int) -> PaymentCard:
    """Detach the card at Stripe, then mark it removed here. Another company's card is NotFound."""
    card = card_of_company(company_id, card_id)
    if card is None:
        raise NotFound("No such card.")
    gateway.detach_card(card.stripe_payment_method_id)
    with write_transaction() as session:
        row = session.get(PaymentCard, card.id)
        if row.removed_at is None:
            row.removed_at = now()
    return card
