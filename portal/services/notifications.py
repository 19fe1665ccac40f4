"""Telling people what happened: an email through the outbox and an in-app notice, written together.

Every event worth telling calls :func:`notify` inside the transaction that records the event (DESIGN §6):
the outbox row and the in-app notice commit with it or not at all. ``portal/services/outbox.py`` sends
the emails later. Whether a user gets the email is decided when it is sent, from their choices per topic
group (:func:`email_choices`), so a change of mind applies to what is still waiting; the in-app notice is
kept either way.

Topics and their payloads (JSON; dates as ISO strings):

- ``order_confirmed``: order_number, company, total, lines [sku, name, quantity, allocated, backordered,
  hidden, eta, late]
- ``backorder_eta_changed``: order_number, sku, name, quantity, eta, estimated, previous_eta, at_risk
- ``deadline_at_risk``: order_number, sku, name, quantity, eta, need_by
- ``backorder_ready``: order_number, lines [sku, name, quantity] — one notice per order and receipt,
  however many of its lines became ready (rows written before that, and manual allocations: sku, name,
  quantity at the top; :func:`ready_lines` reads both)
- ``order_shipped``: order_number, shipment, tracking_number, carrier, lines [sku, quantity]
- ``back_in_stock``: sku, name
- ``payment_due``: order_number, amount, due_on (optional), invoice_number (optional), message (optional)
- ``payment_failed``: order_number, amount, message
- ``purchase_order_sent`` (to a vendor's address, no user): po_number, vendor, notes, lines [sku, name,
  quantity, expected_date]

A topic not listed here is still sent, with the generic template and subject.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select, update

from portal.database import write_transaction
from portal.extensions import db
from portal.formatting import day
from portal.models import (
    Notification,
    NotificationPreference,
    OutboxMessage,
    Product,
    StockSubscription,
    User,
)
from portal.models.base import utcnow
from portal.models.inventory import Stock
from portal.models.notifications import TOPIC_GROUPS
from portal.services import NotFound, bulk

#: What each topic group covers, as the preferences page says it.
GROUP_LABELS = {
    "orders": "Order confirmations, items set aside for you and shipments",
    "backorders": "New expected dates for backorders and deadline warnings",
    "stock": "Back-in-stock notices for products you asked about",
    "billing": "Payments due and failed card payments",
}
assert tuple(GROUP_LABELS) == TOPIC_GROUPS
PER_PAGE = 50
SITE_NAME = "Northwind Wholesale"
_TOPIC_NAME = re.compile(r"^[a-z0-9_]{1,60}$")

Link = tuple[str, dict[str, Any]]


def _order_link(p: Mapping) -> Link | None:
    return ("account.order", {"number": p["order_number"]}) if p.get("order_number") else None


def _product_link(p: Mapping) -> Link | None:
    return ("catalog.product", {"sku": p["sku"]}) if p.get("sku") else None


def when(value: str | date | None) -> str:
    """An ISO date from a payload as the portal shows dates ("12 Dec 2026"); "" for none."""
    if not value:
        return ""
    try:
        return day(value if isinstance(value, date) else date.fromisoformat(str(value)[:10]))
    except ValueError:
        return str(value)


def _eta_subject(p: Mapping) -> str:
    if p.get("at_risk"):
        return f"{p.get('sku')} on order {p.get('order_number')} will arrive after your deadline"
    return f"New expected date for {p.get('sku')} on order {p.get('order_number')}: {when(p.get('eta'))}"


def ready_lines(p: Mapping) -> list[Mapping]:
    """The lines of a ``backorder_ready`` payload: ``lines``, or the one line of a payload written before
    receipts told each order once (sku, name, quantity at the top)."""
    one = {"sku": p.get("sku"), "name": p.get("name"), "quantity": p.get("quantity")}
    return list(p.get("lines") or [one])


def _ready_subject(p: Mapping) -> str:
    lines = ready_lines(p)
    if len(lines) == 1:
        return f"{lines[0]['quantity']} × {lines[0]['sku']} set aside for order {p.get('order_number')}"
    listed = ", ".join(f"{line['quantity']} × {line['sku']}" for line in lines[:3])
    more = f" and {len(lines) - 3} more" if len(lines) > 3 else ""
    return f"Items set aside for order {p.get('order_number')}: {listed}{more}"


@dataclass(frozen=True)
class Topic:
    #: The preference group; None: always sent (not a user's choice, e.g. mail to a vendor).
    group: str | None
    subject: Callable[[Mapping], str]
    link: Callable[[Mapping], Link | None] = _order_link


TOPICS: dict[str, Topic] = {
    "order_confirmed": Topic("orders", lambda p: f"Order {p.get('order_number')} confirmed"),
    "backorder_ready": Topic("orders", _ready_subject),
    "order_shipped": Topic("orders", lambda p: (
        f"Order {p.get('order_number')} has shipped" + (f" ({p['shipment']})" if p.get("shipment") else ""))),
    "backorder_eta_changed": Topic("backorders", _eta_subject),
    "deadline_at_risk": Topic("backorders", lambda p: (
        f"{p.get('sku')} on order {p.get('order_number')} may miss your deadline "
        f"of {when(p.get('need_by'))}")),
    "back_in_stock": Topic("stock", lambda p: f"{p.get('name')} ({p.get('sku')}) is back in stock",
                           _product_link),
    "payment_due": Topic("billing", lambda p: f"Payment due for order {p.get('order_number')}"),
    "payment_failed": Topic("billing", lambda p: f"Card payment failed for order {p.get('order_number')}"),
    "purchase_order_sent": Topic(None, lambda p: (
        f"Purchase order {p.get('po_number')} from {SITE_NAME}"), lambda p: None),
}
GENERIC = Topic(None, lambda p: f"An update from {SITE_NAME}", lambda p: None)


def topic_of(name: str) -> Topic:
    return TOPICS.get(name, GENERIC)


def subject_of(topic: str, payload: Mapping) -> str:
    """The email subject and in-app title. A payload missing what the subject needs gets the generic
    subject: telling someone must never make the event's own transaction fail."""
    try:
        return topic_of(topic).subject(payload)[:200]
    except Exception:  # noqa: BLE001 - any payload shape
        return GENERIC.subject(payload)


def _dump(payload: Mapping) -> str:
    return json.dumps(dict(payload), sort_keys=True, default=str)


# --- writing ---------------------------------------------------------------------------------------


def notify(user: User, topic: str, payload: Mapping) -> Notification:
    """Queue the email to ``user`` and record the in-app notice, in the caller's transaction.

    Call it inside ``write_transaction`` next to the writes of the event itself; nothing is sent before
    that transaction commits (the outbox worker only sees committed rows)."""
    text = _dump(payload)
    session = db.session
    session.add(OutboxMessage(topic=topic, recipient_user_id=user.id, recipient_email=user.email,
                              payload=text))
    notice = Notification(user_id=user.id, topic=topic, payload=text,
                          title=subject_of(topic, json.loads(text)))
    session.add(notice)
    return notice


def notify_many(session, notices: Iterable[tuple[Any, str, Mapping]]) -> int:
    """:func:`notify` for many notices at once — (recipient, topic, payload), the recipient anything with
    ``id`` and ``email`` (a User or a row) — as two INSERT statements whatever their number (one on
    PostgreSQL for a single notice, an order's confirmation): a receipt may tell thousands of buyers.
    The rows are those ``notify`` writes. Returns how many."""
    outbox_rows, notice_rows = [], []
    for recipient, topic, payload in notices:
        text = _dump(payload)
        outbox_rows.append({"topic": topic, "recipient_user_id": recipient.id,
                            "recipient_email": recipient.email, "payload": text})
        # The payload itself, not its JSON read back as ``notify`` does: every subject formats a date
        # and its ISO string alike (``when``), and a receipt's payloads are strings and numbers.
        notice_rows.append({"user_id": recipient.id, "topic": topic, "payload": text,
                            "title": subject_of(topic, payload)})
    if len(outbox_rows) == 1:  # an order's confirmation: one statement on PostgreSQL
        bulk.insert_one_row_each(session, [(OutboxMessage, outbox_rows[0]), (Notification, notice_rows[0])])
    elif outbox_rows:
        bulk.insert_rows(session, OutboxMessage, outbox_rows)
        bulk.insert_rows(session, Notification, notice_rows)
    return len(outbox_rows)


def queue_email(address: str, topic: str, payload: Mapping) -> OutboxMessage:
    """Queue an email to an address that is no user of the portal (a vendor); no in-app notice."""
    message = OutboxMessage(topic=topic, recipient_email=address, payload=_dump(payload))
    db.session.add(message)
    return message


def notify_back_in_stock(session, product_ids: Iterable[int]) -> int:
    """Tell every waiting subscriber of these products that have stock available now (on hand less
    allocated, over all warehouses); each subscription is told once (``notified_at``). Returns how many.

    Call it in the transaction that added the stock, after that stock went to waiting backorders (so
    "available" is what a buyer can really order) and with the stock rows locked."""
    ids = sorted(set(product_ids))
    if not ids:
        return 0
    in_stock = list(session.scalars(
        select(Stock.product_id).where(Stock.product_id.in_(ids)).group_by(Stock.product_id)
        .having(func.sum(Stock.on_hand - Stock.allocated) > 0)))
    if not in_stock:
        return 0
    rows = session.execute(
        select(StockSubscription, User, Product)
        .join(User, User.id == StockSubscription.user_id)
        .join(Product, Product.id == StockSubscription.product_id)
        .where(StockSubscription.product_id.in_(in_stock), StockSubscription.notified_at.is_(None))
        .order_by(StockSubscription.id)).all()
    now = utcnow()
    for subscription, user, product in rows:
        subscription.notified_at = now
        if user.active:
            notify(user, "back_in_stock", {"sku": product.sku, "name": product.name})
    return len(rows)


# --- email choices -----------------------------------------------------------------------------------


def email_choices(user_id: int) -> dict[str, bool]:
    """Per topic group: does the user want the email? Groups without a stored choice: yes."""
    stored = dict(db.session.execute(select(NotificationPreference.topic_group, NotificationPreference.email)
                                     .where(NotificationPreference.user_id == user_id)).all())
    return {group: stored.get(group, True) for group in TOPIC_GROUPS}


def save_email_choices(user: User, wanted: Iterable[str]) -> None:
    """Store the user's choice for every group: email for the groups in ``wanted``, none for the rest."""
    wanted = set(wanted)
    with write_transaction() as session:
        session.execute(delete(NotificationPreference).where(NotificationPreference.user_id == user.id))
        session.add_all(NotificationPreference(user_id=user.id, topic_group=group, email=group in wanted)
                        for group in TOPIC_GROUPS)


def opted_out(session, user_ids: Iterable[int]) -> set[tuple[int, str]]:
    """(user id, group) pairs whose email is switched off, for a batch of recipients (one query)."""
    ids = sorted(set(user_ids))
    if not ids:
        return set()
    rows = session.execute(
        select(NotificationPreference.user_id, NotificationPreference.topic_group)
        .where(NotificationPreference.user_id.in_(ids), NotificationPreference.email.is_(False)))
    return {(user_id, group) for user_id, group in rows}


# --- the in-app list ---------------------------------------------------------------------------------


def notifications_of(user: User, limit: int = PER_PAGE) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id.desc()).limit(limit)))


def unread_count(user_id: int) -> int:
    """One indexed count (ix_notifications_user_unread): cheap enough for every page's nav."""
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def link_of(notice: Notification) -> Link | None:
    """Where the notice points (endpoint and values), e.g. its order page."""
    return topic_of(notice.topic).link(json.loads(notice.payload or "{}"))


def mark_read(user: User, notification_id: int) -> None:
    """Only the user's own notice: any other id is NotFound (shown as 404)."""
    with write_transaction() as session:
        found = session.scalar(select(Notification.id).where(
            Notification.id == notification_id, Notification.user_id == user.id))
        if found is None:
            raise NotFound("That notification does not exist.")
        session.execute(update(Notification).where(Notification.id == found, Notification.read_at.is_(None))
                        .values(read_at=utcnow()))


def mark_all_read(user: User) -> None:
    with write_transaction() as session:
        session.execute(update(Notification).where(Notification.user_id == user.id,
                                                   Notification.read_at.is_(None)).values(read_at=utcnow()))


def valid_topic_name(name: str) -> bool:
    """Topic names pick template files: only lowercase words and underscores."""
    return bool(_TOPIC_NAME.match(name))
