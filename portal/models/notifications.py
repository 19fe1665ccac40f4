"""Notifications: the transactional outbox, in-app notices and each user's email choices.

An outbox message is written in the same transaction as the event that caused it and sent later by a
worker (``flask outbox run``, ``portal/services/outbox.py``). ``portal.services.notifications.notify``
writes it together with the in-app notice, so a notice exists exactly when its event committed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow

OUTBOX_STATUSES = ("pending", "sent", "suppressed")
#: Topic groups a user can switch email off for (portal.services.notifications.TOPICS maps topics here).
TOPIC_GROUPS = ("orders", "backorders", "stock", "billing")


class OutboxMessage(Base):
    """One email to send. Never deleted by the sender: ``sent_at`` marks it done (sent, or suppressed by
    the recipient's choices); until then a failure only moves ``available_at`` (backoff)."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_pending", "sent_at", "available_at"),
        CheckConstraint(f"status IN {OUTBOX_STATUSES!r}", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: What happened, e.g. "order_confirmed"; the sender picks the email template by it.
    topic: Mapped[str] = mapped_column(String(60))
    recipient_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recipient_email: Mapped[str] = mapped_column(String(254))
    #: JSON: what the template needs (order number, lines, ...).
    payload: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Not before this time. Retries back off by moving it; a claim moves it to the end of the lease, so
    #: a row whose worker died becomes due again when the lease runs out.
    available_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: ``pending`` until done; ``sent``, or ``suppressed`` when the recipient switched that email off.
    status: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending")
    #: Delivery attempts started (counted when a worker claims the row).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: The worker holding the lease (host:pid:random), NULL when nobody does.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    """An in-app notice for one user, written in the same transaction as its outbox row."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(60))
    #: The email's subject, as shown in the list.
    title: Mapped[str] = mapped_column(String(200))
    #: JSON, as in the outbox row: the list links to the order or product it names.
    payload: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationPreference(Base):
    """A user's email choice for one topic group; no row means "email me" (the default)."""

    __tablename__ = "notification_preferences"
    __table_args__ = (CheckConstraint(f"topic_group IN {TOPIC_GROUPS!r}", name="topic_group_known"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    topic_group: Mapped[str] = mapped_column(String(30), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean, default=True)
