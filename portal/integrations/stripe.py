"""The thin adapter to Stripe (or any Stripe-compatible server: localstripe in tests).

Speaks in plain values (ids, cents, dataclasses) so services never touch the SDK. ``STRIPE_API_BASE``
points the client at the server; without ``STRIPE_SECRET_KEY`` Stripe is off and the portal takes
on-account orders only. Card errors become :class:`CardDeclined` with a message fit for the buyer.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import stripe
from flask import current_app


class StripeUnavailable(RuntimeError):
    """Stripe is not configured, or could not be reached."""


class UnknownAtStripe(StripeUnavailable):
    """Stripe answered 404: the object does not exist (for this account)."""


class CardDeclined(Exception):
    """The card was refused; ``message`` is what the buyer is told."""

    def __init__(self, message: str, code: str = "card_declined"):
        super().__init__(message)
        self.message, self.code = message, code


@dataclass(frozen=True)
class Card:
    id: str
    customer: str | None
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class Intent:
    """A PaymentIntent or SetupIntent as far as we care."""

    id: str
    status: str
    client_secret: str
    customer: str | None = None
    payment_method: str | None = None
    charge_id: str | None = None
    error: str = ""


def configured() -> bool:
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def publishable_key() -> str:
    return current_app.config.get("STRIPE_PUBLISHABLE_KEY", "")


def cents(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _client() -> stripe.StripeClient:
    if not configured():
        raise StripeUnavailable("Card payments are not set up.")
    cached = current_app.extensions.get("stripe_client")
    if cached is None:
        cached = stripe.StripeClient(
            current_app.config["STRIPE_SECRET_KEY"],
            base_addresses={"api": current_app.config["STRIPE_API_BASE"].rstrip("/")},
            max_network_retries=2)
        current_app.extensions["stripe_client"] = cached
    return cached


def _call(fn, *args, **kwargs) -> dict:
    """Call the SDK; answer a plain dict (SDK objects are not dicts)."""
    try:
        return fn(*args, **kwargs).to_dict()
    except stripe.CardError as exc:
        message = exc.user_message or "Your card was declined."
        raise CardDeclined(message, exc.code or "card_declined") from exc
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            raise UnknownAtStripe(str(exc)) from exc
        current_app.logger.warning("Stripe refused a call: %s", exc)
        raise StripeUnavailable("The card processor refused the request. Please try again.") from exc
    except stripe.StripeError as exc:
        current_app.logger.warning("Stripe call failed: %s", exc)
        raise StripeUnavailable("We could not reach the card processor. Please try again.") from exc


def _id(value: Any) -> str | None:
    """Stripe returns an id or, expanded, the object (localstripe always expands charges)."""
    if value is None or isinstance(value, str):
        return value
    return value.get("id")


def _intent(obj) -> Intent:
    error = obj.get("last_payment_error") or obj.get("last_setup_error") or {}
    return Intent(id=obj["id"], status=obj["status"], client_secret=obj.get("client_secret") or "",
                  customer=_id(obj.get("customer")), payment_method=_id(obj.get("payment_method")),
                  charge_id=_id(obj.get("latest_charge")), error=(error or {}).get("message") or "")


# --- customers and cards --------------------------------------------------------------------------


def create_customer(name: str, company_id: int) -> str:
    customer = _call(_client().v1.customers.create,
                     params={"name": name, "metadata": {"company_id": str(company_id)}},
                     options={"idempotency_key": f"customer-company-{company_id}"})
    return customer["id"]


def create_setup_intent(customer_id: str, company_id: int) -> Intent:
    return _intent(_call(_client().v1.setup_intents.create, params={
        "customer": customer_id, "usage": "off_session", "payment_method_types": ["card"],
        "metadata": {"company_id": str(company_id)}}))


def retrieve_setup_intent(setup_intent_id: str) -> Intent:
    return _intent(_call(_client().v1.setup_intents.retrieve, setup_intent_id))


def retrieve_card(payment_method_id: str) -> Card:
    pm = _call(_client().v1.payment_methods.retrieve, payment_method_id)
    card = pm.get("card") or {}
    return Card(id=pm["id"], customer=_id(pm.get("customer")), brand=str(card.get("brand") or "card"),
                last4=str(card.get("last4") or "????"), exp_month=int(card.get("exp_month") or 0),
                exp_year=int(card.get("exp_year") or 0))


def attach_card(payment_method_id: str, customer_id: str) -> Card:
    _call(_client().v1.payment_methods.attach, payment_method_id, params={"customer": customer_id})
    return retrieve_card(payment_method_id)


def detach_card(payment_method_id: str) -> None:
    _call(_client().v1.payment_methods.detach, payment_method_id)


# --- payments -------------------------------------------------------------------------------------


def create_payment_intent(*, amount: Decimal, currency: str, customer_id: str, payment_method_id: str,
                          idempotency_key: str, metadata: dict[str, str], manual_capture: bool) -> Intent:
    """An unconfirmed PaymentIntent (confirm it with :func:`confirm_payment_intent`)."""
    params = {"amount": cents(amount), "currency": currency.lower(), "customer": customer_id,
              "payment_method": payment_method_id, "payment_method_types": ["card"], "metadata": metadata}
    if manual_capture:
        params["capture_method"] = "manual"
    return _intent(_call(_client().v1.payment_intents.create, params=params,
                         options={"idempotency_key": idempotency_key}))


def confirm_payment_intent(payment_intent_id: str) -> Intent:
    """Confirm on-session (the buyer pressed the button). Raises CardDeclined."""
    return _intent(_call(_client().v1.payment_intents.confirm, payment_intent_id))


def charge_off_session(*, amount: Decimal, currency: str, customer_id: str, payment_method_id: str,
                       idempotency_key: str, metadata: dict[str, str]) -> Intent:
    """Create and confirm a PaymentIntent while the buyer is away (a shipment). Raises CardDeclined."""
    params = {"amount": cents(amount), "currency": currency.lower(), "customer": customer_id,
              "payment_method": payment_method_id, "payment_method_types": ["card"], "metadata": metadata,
              "confirm": True, "off_session": True}
    return _intent(_call(_client().v1.payment_intents.create, params=params,
                         options={"idempotency_key": idempotency_key}))


def authorize_off_session(*, amount: Decimal, currency: str, customer_id: str, payment_method_id: str,
                          idempotency_key: str, metadata: dict[str, str]) -> Intent:
    """Hold ``amount`` on a saved card while the buyer is away (manual capture: ``requires_capture``
    until :func:`capture_payment_intent`, released by :func:`cancel_payment_intent`). Raises
    CardDeclined."""
    params = {"amount": cents(amount), "currency": currency.lower(), "customer": customer_id,
              "payment_method": payment_method_id, "payment_method_types": ["card"], "metadata": metadata,
              "capture_method": "manual", "confirm": True, "off_session": True}
    return _intent(_call(_client().v1.payment_intents.create, params=params,
                         options={"idempotency_key": idempotency_key}))


def retrieve_payment_intent(payment_intent_id: str) -> Intent:
    return _intent(_call(_client().v1.payment_intents.retrieve, payment_intent_id))


def capture_payment_intent(payment_intent_id: str) -> Intent:
    return _intent(_call(_client().v1.payment_intents.capture, payment_intent_id))


def cancel_payment_intent(payment_intent_id: str) -> Intent:
    return _intent(_call(_client().v1.payment_intents.cancel, payment_intent_id))


def refund(payment_intent_id: str, amount: Decimal, idempotency_key: str,
           metadata: dict[str, str] | None = None) -> str:
    created = _call(_client().v1.refunds.create,
                    params={"payment_intent": payment_intent_id, "amount": cents(amount),
                            "metadata": metadata or {}},
                    options={"idempotency_key": idempotency_key})
    return created["id"]


def find_refund(payment_intent_id: str, refund_key: str) -> str | None:
    """The id of a refund of the payment carrying ``refund_key`` in its metadata (one an earlier attempt
    made although its answer never reached us), or None."""
    params: dict[str, Any] = {"payment_intent": payment_intent_id, "limit": 100}
    while True:
        page = _call(_client().v1.refunds.list, params=params)
        for found in page.get("data") or []:
            if (found.get("metadata") or {}).get("refund_key") == refund_key:
                return found["id"]
        if not page.get("has_more") or not page.get("data"):
            return None
        params["starting_after"] = page["data"][-1]["id"]


# --- webhooks -------------------------------------------------------------------------------------


class BadSignature(ValueError):
    """The webhook body does not carry a valid signature for our secret."""


def verified_event(payload: bytes, signature: str | None) -> dict:
    """The event in ``payload`` after checking its signature on the raw body; raises BadSignature."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET", "")
    if not secret or not signature:
        raise BadSignature("missing signature or secret")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise BadSignature(str(exc)) from exc
    return event.to_dict()
