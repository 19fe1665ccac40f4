"""API keys: how a buyer's own system (an ERP, an EDI gateway) places orders without a browser."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import User
from portal.models.base import Base, utcnow


class ApiKey(Base):
    """A secret a buyer created for one of their systems. Only its SHA-256 is kept (the key is long and
    random, so a fast hash is enough and costs nothing per request); the buyer sees the key once."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: What the buyer calls it ("ERP production").
    name: Mapped[str] = mapped_column(String(100))
    #: The key's first characters, shown in lists so the buyer can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    #: SHA-256 of the whole key, hex.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()
