"""Stripe webhook events (DESIGN §6): each event id is stored under a unique constraint in the same
transaction as its effect, so a repeated delivery changes nothing.

Order does not matter either: an event only says *what* changed; the handler reads the object's
current state from Stripe (before its transaction, so no lock waits on the network) and moves our row
towards it through the status table, which never goes backwards. Any order and any number of
deliveries of the same events end in the same state.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from portal.database import write_transaction
from portal.integrations import stripe as gateway
from portal.models import CardCharge, StripeEvent
from portal.models.base import utcnow
from portal.services.cards import sync_card_in
from portal.services.payments import move_status, status_of_intent

PAYMENT_INTENT_EVENTS = {"payment_intent.succeeded", "payment_intent.payment_failed",
                         "payment_intent.canceled", "payment_intent.amount_capturable_updated",
                         "payment_intent.requires_action"}
CARD_EVENTS = {"payment_method.attached", "payment_method.detached", "payment_method.updated",
               "setup_intent.succeeded"}


def _current_state(kind: str, obj: dict):
    """What Stripe says now about the event's object (None for events we do not act on)."""
    if kind in PAYMENT_INTENT_EVENTS:
        return gateway.retrieve_payment_intent(obj["id"])
    if kind == "setup_intent.succeeded":
        method = obj.get("payment_method")
        method = method.get("id") if isinstance(method, dict) else method
        return gateway.retrieve_card(method) if method else None
    if kind in CARD_EVENTS:
        return gateway.retrieve_card(obj["id"])
    return None


def apply_event(event: dict) -> bool:
    """Apply a verified event once. True when applied now, False for a repeat delivery."""
    event_id, kind = str(event.get("id", ""))[:255], str(event.get("type", ""))[:100]
    obj = (event.get("data") or {}).get("object") or {}
    if not event_id or not isinstance(obj, dict):
        raise ValueError("not a Stripe event")
    try:
        state = _current_state(kind, obj)
    except gateway.UnknownAtStripe:
        state = None  # not an object of this account: record the event, change nothing
    with write_transaction() as session:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        fresh = session.execute(dialect.insert(StripeEvent)
                                .values(id=event_id, type=kind, received_at=utcnow())
                                .on_conflict_do_nothing(index_elements=["id"])
                                .returning(StripeEvent.id)).scalar_one_or_none()
        if fresh is None:
            return False
        if isinstance(state, gateway.Intent):
            _apply_payment_intent(session, state)
        elif isinstance(state, gateway.Card):
            sync_card_in(session, state)
    return True


def _apply_payment_intent(session, intent: gateway.Intent) -> None:
    charge = session.scalar(select(CardCharge).where(CardCharge.stripe_payment_intent_id == intent.id)
                            .with_for_update())
    if charge is None:
        return  # not one of ours (or created by another system on the same account)
    if intent.charge_id and not charge.stripe_charge_id:
        charge.stripe_charge_id = intent.charge_id
    move_status(charge, status_of_intent(intent), intent.error)
