"""The outbox as the back office sees it (issue 7): what is waiting, what keeps failing and why, what
was sent; one email's rendered text; "try again now" for a message backing off after failures.

Reading only, except :func:`retry_now`, which moves a waiting message's next attempt to now (the
worker's own claim rules still apply, so it cannot be sent twice by this) and is audit-logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from portal.database import write_transaction
from portal.extensions import db
from portal.models import OutboxMessage, User
from portal.services import NotFound, ServiceError, audit

#: Filters of the list: what the admin asks, as a condition on the rows.
STATUSES = ("waiting", "failing", "sent", "suppressed", "all")
PAGE_SIZE = 100
TOPIC_LABELS = {
    "order_confirmed": "Order confirmed",
    "backorder_eta_changed": "New expected date",
    "deadline_at_risk": "Deadline at risk",
    "backorder_ready": "Items set aside",
    "order_shipped": "Shipped",
    "back_in_stock": "Back in stock",
    "payment_due": "Payment due",
    "payment_failed": "Card payment failed",
    "purchase_order_sent": "Purchase order to a vendor",
}


def topic_label(topic: str) -> str:
    return TOPIC_LABELS.get(topic, topic.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Overview:
    waiting: int
    failing: int
    sent: int
    suppressed: int
    oldest_waiting: datetime | None


def _condition(status: str):
    pending = OutboxMessage.sent_at.is_(None)
    return {
        "waiting": pending,
        # Waiting after at least one failed attempt (an error is kept until it is sent).
        "failing": pending & (OutboxMessage.last_error != ""),
        "sent": OutboxMessage.status == "sent",
        "suppressed": OutboxMessage.status == "suppressed",
    }.get(status)


def overview() -> Overview:
    pending = OutboxMessage.sent_at.is_(None)
    counts = db.session.execute(select(
        func.count().filter(pending),
        func.count().filter(pending & (OutboxMessage.last_error != "")),
        func.count().filter(OutboxMessage.status == "sent"),
        func.count().filter(OutboxMessage.status == "suppressed"),
        func.min(OutboxMessage.created_at).filter(pending),
    )).one()
    return Overview(*counts)


def messages(status: str, topic: str, recipient: str, before_id: int | None = None) -> list[OutboxMessage]:
    """Newest first, ``PAGE_SIZE`` at a time (``before_id``: the next page)."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(PAGE_SIZE)
    condition = _condition(status)
    if condition is not None:
        query = query.where(condition)
    if topic:
        query = query.where(OutboxMessage.topic == topic)
    if recipient:
        email = func.lower(OutboxMessage.recipient_email)
        query = query.where(email.contains(recipient.lower(), autoescape=True))
    if before_id:
        query = query.where(OutboxMessage.id < before_id)
    return list(db.session.scalars(query))


def topics() -> list[str]:
    return list(db.session.scalars(select(OutboxMessage.topic).distinct().order_by(OutboxMessage.topic)))


def message(message_id: int) -> OutboxMessage:
    found = db.session.get(OutboxMessage, message_id) if 0 < message_id < 2**63 else None
    if found is None:
        raise NotFound("No such message.")
    return found


def payload_of(message: OutboxMessage) -> dict:
    try:
        value = json.loads(message.payload or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def retry_now(actor: User, message_id: int, now: datetime) -> OutboxMessage:
    """Make a waiting message due now. A message that was sent (or suppressed) meanwhile is refused."""
    message(message_id)
    with write_transaction() as session:
        moved = session.execute(update(OutboxMessage).where(
            OutboxMessage.id == message_id, OutboxMessage.sent_at.is_(None),
            # Not while a worker holds it (a lease that ran out counts as free: the worker died).
            OutboxMessage.claimed_by.is_(None) | (OutboxMessage.available_at <= now))
            .values(available_at=now, claimed_by=None)).rowcount
        if not moved:
            raise ServiceError("That message was sent or is being sent right now: nothing to retry.")
        audit.record(actor, "outbox_retry_now", "outbox_message", message_id)
    return message(message_id)


def state(message: OutboxMessage, now: datetime) -> str:
    """``sent``, ``suppressed``, ``sending`` (a worker holds it), ``backing_off`` (next try later) or
    ``due``."""
    if message.sent_at is not None:
        return message.status
    available = message.available_at
    if available.tzinfo is None:  # SQLite gives back naive UTC
        now = now.replace(tzinfo=None)
    if available > now:
        return "sending" if message.claimed_by else "backing_off"
    return "due"
