"""The transactional outbox: a message is written in the same transaction as the event that caused it,
and sent later by a worker (the notifications issue builds the sender)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_pending", "sent_at", "available_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: What happened, e.g. "order_confirmed"; the sender picks the email template by it.
    topic: Mapped[str] = mapped_column(String(60))
    recipient_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recipient_email: Mapped[str] = mapped_column(String(254))
    #: JSON: what the template needs (order number, lines, ...).
    payload: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Not before this time (retries back off by moving it).
    available_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
