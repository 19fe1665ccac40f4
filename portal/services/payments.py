"""Card charges (DESIGN §6, §7): the whole order at placement (``at_order``), or each shipment when it
ships (``at_shipment``, :func:`charge_shipment`).

Placing a card order (``place_order_paid_by_card``) runs in this order, so that a decline means no
order and no Stripe call ever happens while we hold stock locks:

1. Re-check the cart against live stock without locks (the same review the buyer saw). Problems or
   changed figures stop here: nothing is charged.
2. Authorize: a ``card_charges`` row keyed ``order:<checkout token>`` is inserted ("on conflict do
   nothing", our idempotency: Stripe's own keys are a second net), then a PaymentIntent with manual
   capture is created and confirmed on-session. A decline marks the row failed and raises
   :class:`PaymentDeclined`: no order exists. A card that needs authentication raises
   :class:`AuthenticationRequired`; Stripe.js authenticates and the same form is submitted again.
3. Place the order in its one transaction (``ordering.place_order``), which checks the authorized
   amount equals the order total and links the charge to the order. If placing fails for any reason,
   the authorization is cancelled (the card is released) and the charge marked canceled.
4. After commit, capture. The authorization is held for seconds, never for a backorder. If the capture
   fails the order stands with its charge failed ("payment due" on the order page) for staff to chase.

A double submit of the same token finds the same charge row and the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from portal.database import write_transaction
from portal.domain.checkout import changed_lines
from portal.extensions import db
from portal.integrations import stripe as gateway
from portal.models import CardCharge, Company, Order, PaymentCard, User
from portal.models.payments import CHARGE_TRANSITIONS
from portal.services import ServiceError, ordering


class PaymentDeclined(ServiceError):
    """The card was refused; nothing was ordered."""


class AuthenticationRequired(ServiceError):
    """The bank wants the buyer to authenticate: Stripe.js takes ``client_secret``."""

    def __init__(self, client_secret: str):
        super().__init__("Your bank asks you to confirm this payment.")
        self.client_secret = client_secret


@dataclass(frozen=True)
class ChargeResult:
    charge_id: int
    status: str
    message: str = ""


def move_status(charge: CardCharge, status: str, message: str = "") -> None:
    """Statuses move through CHARGE_TRANSITIONS only; a late or repeated update changes nothing."""
    if status == charge.status or status not in CHARGE_TRANSITIONS[charge.status]:
        return
    charge.status = status
    if message:
        charge.failure_message = message[:255]


def update_charge(charge_id: int, status: str, message: str = "", **values) -> CardCharge:
    with write_transaction() as session:
        charge = session.get(CardCharge, charge_id)
        for name, value in values.items():
            setattr(charge, name, value)
        move_status(charge, status, message)
    return charge


def _claim(company_id: int, key: str, purpose: str, amount: Decimal, card: PaymentCard,
           **values) -> tuple[CardCharge, bool]:
    """The charge row for ``key``: (row, True) when this call inserted it, (row, False) when it existed."""
    with write_transaction() as session:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        inserted = session.execute(dialect.insert(CardCharge).values(
            company_id=company_id, idempotency_key=key, purpose=purpose, amount=amount,
            payment_card_id=card.id, stripe_payment_method_id=card.stripe_payment_method_id,
            currency=current_app.config["DEFAULT_CURRENCY"], status="pending", amount_refunded=0,
            failure_message="", **values)
            .on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(CardCharge.id)
        ).scalar_one_or_none()
        charge = session.scalar(select(CardCharge).where(CardCharge.idempotency_key == key))
    return charge, inserted is not None


def status_of_intent(intent: gateway.Intent) -> str:
    return {"requires_capture": "authorized", "succeeded": "succeeded", "requires_action": "requires_action",
            "canceled": "canceled", "requires_payment_method": "failed"}.get(intent.status, "pending")


# --- at order ---------------------------------------------------------------------------------------


def _authorize(company: Company, card: PaymentCard, amount: Decimal, token: str) -> CardCharge:
    charge, fresh = _claim(company.id, f"order:{token}", "order", amount, card)
    if not fresh:
        return _resume(charge)
    intent = gateway.create_payment_intent(
        amount=amount, currency=charge.currency, customer_id=company.stripe_customer_id,
        payment_method_id=card.stripe_payment_method_id, idempotency_key=charge.idempotency_key,
        metadata={"company_id": str(company.id), "checkout_token": token}, manual_capture=True)
    update_charge(charge.id, "pending", stripe_payment_intent_id=intent.id)
    try:
        intent = gateway.confirm_payment_intent(intent.id)
    except gateway.CardDeclined as exc:
        update_charge(charge.id, "failed", exc.message)
        raise PaymentDeclined(exc.message) from exc
    return _after_confirm(charge.id, intent)


def _after_confirm(charge_id: int, intent: gateway.Intent) -> CardCharge:
    status = status_of_intent(intent)
    charge = update_charge(charge_id, status, intent.error, stripe_charge_id=intent.charge_id)
    if charge.status == "requires_action":
        raise AuthenticationRequired(intent.client_secret)
    if charge.status != "authorized":
        raise PaymentDeclined(charge.failure_message or "Your card was declined.")
    return charge


def _resume(charge: CardCharge) -> CardCharge:
    """A second submit of the same checkout token: carry on from where the charge is."""
    if charge.status == "failed":
        raise PaymentDeclined(charge.failure_message or "Your card was declined.")
    if charge.status == "requires_action" and charge.stripe_payment_intent_id:
        return _after_confirm(charge.id, gateway.retrieve_payment_intent(charge.stripe_payment_intent_id))
    if charge.status in ("authorized", "succeeded"):
        return charge
    raise ServiceError("Your payment is still being processed. Refresh the page in a moment.")


def place_order_paid_by_card(user: User, company_id: int, token: str, reviewed: list, today: date) -> Order:
    """Place the cart paid by card now (``at_order``); see the module docstring for the order of steps."""
    if not token or len(token) > 64:
        raise ServiceError("This checkout page has expired. Review your order again.")
    existing = db.session.scalar(select(Order).where(Order.checkout_token == token))
    if existing is not None:
        order = ordering.place_order(user, company_id, token, reviewed, today)  # finds it, or refuses
        key = f"order:{token}"
        charge_id = db.session.scalar(select(CardCharge.id).where(CardCharge.idempotency_key == key))
        if charge_id is not None:
            _capture(charge_id)  # a first submit that stopped between commit and capture
        return order
    company = db.session.get(Company, company_id)
    review = ordering.review_cart(user, company, today)
    if review is None or review.problems:
        raise ordering.CheckoutRejected(review.problems if review else [(None, "Your cart is empty.")])
    changed = changed_lines(reviewed, review.lines)
    if changed:
        raise ordering.ReviewOutdated(changed)
    card = ordering.chosen_card(review.cart, company_id)
    charge = _authorize(company, card, review.total, token)
    try:
        order = ordering.place_order(user, company_id, token, reviewed, today, card_charge_id=charge.id)
    except Exception:
        _release(charge.id)
        raise
    _capture(charge.id)
    return order


def _release(charge_id: int) -> None:
    db.session.rollback()  # read the charge as committed, after the failed placing
    charge = db.session.get(CardCharge, charge_id)
    if charge.order_id is not None or charge.status != "authorized":
        return
    try:
        gateway.cancel_payment_intent(charge.stripe_payment_intent_id)
    except (gateway.StripeUnavailable, gateway.CardDeclined):
        current_app.logger.exception("Could not release authorization %s", charge.stripe_payment_intent_id)
        return
    update_charge(charge_id, "canceled")


def _capture(charge_id: int) -> None:
    charge = db.session.get(CardCharge, charge_id)
    if charge.status != "authorized":
        return
    try:
        intent = gateway.capture_payment_intent(charge.stripe_payment_intent_id)
    except (gateway.StripeUnavailable, gateway.CardDeclined) as exc:
        current_app.logger.exception("Capture failed for charge %s", charge_id)
        update_charge(charge_id, "failed", str(exc))
        return
    update_charge(charge_id, status_of_intent(intent), intent.error, stripe_charge_id=intent.charge_id)


# --- at shipment ----------------------------------------------------------------------------------


def charge_shipment(order_id: int, token: str, amount: Decimal) -> ChargeResult:
    """Charge the order's saved card off-session for one shipment (``at_shipment`` card orders).

    Called by the shipping service *before* anything ships (see ``shipping.ship_order``), with the value
    of the units the shipment would ship. The shipment does not exist yet, so the charge is keyed by the
    shipping form's one-time token (``shipment:<token>``); ``shipment_id`` is linked when it ships.
    Idempotent per token: calling it again returns the first result (a charge still ``pending`` is being
    processed). A decline or a bank asking for authentication returns status ``failed`` /
    ``requires_action``: the shipment is then "payment due" and the buyer pays on-session from the
    order page. A removed card gives a ``failed`` charge too, so the buyer can pay with another card.
    """
    order = db.session.get(Order, order_id)
    if order is None or order.payment_method != "card" or order.charge_policy != "at_shipment":
        raise ServiceError("This order is not charged per shipment.")
    if amount <= 0:
        raise ServiceError("A shipment charge must be positive.")
    if not token or len(token) > 64:
        raise ServiceError("This shipping form has expired. Open the order again.")
    card = db.session.get(PaymentCard, order.payment_card_id) if order.payment_card_id else None
    if card is None:
        raise ServiceError(f"{order.number} has no card to charge.")
    charge, fresh = _claim(order.company_id, f"shipment:{token}", "shipment", amount, card,
                           order_id=order.id)
    if not fresh:
        if charge.order_id != order.id or charge.amount != amount:
            raise ServiceError("This shipping form was already used for another shipment. Open the order "
                               "again.")
        return ChargeResult(charge.id, charge.status, charge.failure_message)
    if card.removed_at is not None:
        charge = update_charge(charge.id, "failed",
                               f"The card on this order ({card.short_label}) was removed.")
        return ChargeResult(charge.id, charge.status, charge.failure_message)
    try:
        intent = gateway.charge_off_session(
            amount=amount, currency=charge.currency, customer_id=order.company.stripe_customer_id,
            payment_method_id=card.stripe_payment_method_id, idempotency_key=charge.idempotency_key,
            metadata={"order": order.number, "shipment_token": token})
    except gateway.CardDeclined as exc:
        charge = update_charge(charge.id, "failed", exc.message)
        return ChargeResult(charge.id, charge.status, charge.failure_message)
    except gateway.StripeUnavailable:
        _unclaim(charge.id)  # the same form can try again: Stripe's idempotency key is the second net
        raise
    charge = update_charge(charge.id, status_of_intent(intent), intent.error,
                           stripe_payment_intent_id=intent.id, stripe_charge_id=intent.charge_id)
    return ChargeResult(charge.id, charge.status, charge.failure_message)


def _unclaim(charge_id: int) -> None:
    """Forget a shipment charge that never reached Stripe (still pending, no PaymentIntent)."""
    with write_transaction() as session:
        charge = session.get(CardCharge, charge_id)
        if charge is not None and charge.status == "pending" and not charge.stripe_payment_intent_id:
            session.delete(charge)


# --- reading --------------------------------------------------------------------------------------


def charges_of(order_id: int) -> list[CardCharge]:
    return list(db.session.scalars(select(CardCharge).where(CardCharge.order_id == order_id)
                                   .order_by(CardCharge.id)))


def payment_status(order: Order) -> str:
    """What the buyer is told about paying for ``order``, in one sentence."""
    from portal.formatting import money
    from portal.services.refunds import cancelled_on_account_sentence, refunds_sentence

    if order.payment_method != "card":
        return ("On account: invoiced as the goods ship, on your payment terms."
                + cancelled_on_account_sentence(order.id))
    card = order.payment_card.short_label if order.payment_card else "card"
    charges = charges_of(order.id)
    paid = sum((c.amount - c.amount_refunded for c in charges if c.status == "succeeded"), Decimal("0.00"))
    due = [c for c in charges if c.status in ("failed", "requires_action")]
    refunded, back = refunds_sentence(order.id)
    if order.charge_policy == "at_order":
        if paid or refunded:
            return f"Paid {money(paid + refunded)} by card ({card}).{back}"
        return f"Payment due: the charge to your {card} did not go through." if due else \
            f"Being charged to your {card}."
    sentence = f"Charged to your {card} as each shipment ships"
    sentence += f"; {money(paid)} paid so far." if paid else "."
    if due:
        sentence += " A shipment's payment is due: the card charge did not go through."
    return sentence


def order_paid(order: Order) -> Decimal:
    return sum((c.amount - c.amount_refunded for c in charges_of(order.id) if c.status == "succeeded"),
               Decimal("0.00"))

