"""Paying a shipment charge that is due (DESIGN §7): the off-session charge was declined, or the bank
asked the buyer to authenticate. The buyer pays it on-session from the order page, with the same card
or another saved one.

A retry first claims the charge (status back to ``pending``, under a row lock, only from ``failed`` or
``requires_action``): two clicks at once cannot charge twice; the second is told it is being processed.
The retry is a new PaymentIntent; events about the old one no longer match the row and change nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from portal.database import write_transaction
from portal.extensions import db
from portal.integrations import stripe as gateway
from portal.models import CardCharge, Company
from portal.services import NotFound, ServiceError
from portal.services.cards import card_of_company
from portal.services.payments import status_of_intent, update_charge

DUE = ("failed", "requires_action")


@dataclass(frozen=True)
class Attempt:
    status: str
    message: str = ""
    #: For Stripe.js when the bank asks the buyer to authenticate.
    client_secret: str = ""


def due_charges(order_id: int) -> list[CardCharge]:
    return list(db.session.scalars(select(CardCharge).where(
        CardCharge.order_id == order_id, CardCharge.purpose == "shipment", CardCharge.status.in_(DUE))
        .order_by(CardCharge.id)))


def _charge_of(company_id: int, order_id: int, charge_id: int) -> CardCharge:
    charge = db.session.scalar(select(CardCharge).where(
        CardCharge.id == charge_id, CardCharge.company_id == company_id, CardCharge.order_id == order_id,
        CardCharge.purpose == "shipment"))
    if charge is None:
        raise NotFound("No such payment.")
    return charge


def pay_due(company_id: int, order_id: int, charge_id: int, card_id: int) -> Attempt:
    """Charge a due shipment payment now, on-session, to a saved card of the company."""
    _charge_of(company_id, order_id, charge_id)
    card = card_of_company(company_id, card_id)
    if card is None:
        raise NotFound("No such card.")
    customer = db.session.get(Company, company_id).stripe_customer_id
    with write_transaction() as session:
        charge = session.scalar(select(CardCharge).where(CardCharge.id == charge_id).with_for_update())
        if charge.status not in DUE:
            if charge.status == "succeeded":
                return Attempt("succeeded")
            raise ServiceError("This payment is being processed. Refresh the page in a moment.")
        charge.status, charge.failure_message = "pending", ""  # the retry claim (see the module docstring)
        charge.payment_card_id, charge.stripe_payment_method_id = card.id, card.stripe_payment_method_id
        amount, currency, key = charge.amount, charge.currency, charge.idempotency_key
    try:
        intent = gateway.create_payment_intent(
            amount=amount, currency=currency, customer_id=customer,
            payment_method_id=card.stripe_payment_method_id, manual_capture=False,
            idempotency_key=f"{key}:retry:{uuid.uuid4().hex}", metadata={"charge_id": str(charge_id)})
        update_charge(charge_id, "pending", stripe_payment_intent_id=intent.id)
        intent = gateway.confirm_payment_intent(intent.id)
    except gateway.CardDeclined as exc:
        update_charge(charge_id, "failed", exc.message)
        return Attempt("failed", exc.message)
    except gateway.StripeUnavailable as exc:
        update_charge(charge_id, "failed", str(exc))
        raise
    charge = update_charge(charge_id, status_of_intent(intent), intent.error,
                           stripe_charge_id=intent.charge_id)
    return Attempt(charge.status, charge.failure_message, intent.client_secret)


def refresh(company_id: int, order_id: int, charge_id: int) -> Attempt:
    """After Stripe.js authenticated the payment: read its state from Stripe and record it."""
    charge = _charge_of(company_id, order_id, charge_id)
    if not charge.stripe_payment_intent_id:
        return Attempt(charge.status, charge.failure_message)
    intent = gateway.retrieve_payment_intent(charge.stripe_payment_intent_id)
    status = status_of_intent(intent)
    message = "" if status == "succeeded" else intent.error or "The payment was not authenticated."
    charge = update_charge(charge_id, status, message, stripe_charge_id=intent.charge_id)
    return Attempt(charge.status, charge.failure_message)
