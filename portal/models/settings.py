"""Back-office settings kept in the database (admins change them on the settings page, no restart), and
per-rep goodwill limits. Keys and defaults live in :mod:`portal.services.settings`."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, Money


class PortalSetting(Base):
    __tablename__ = "portal_settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class GoodwillLimit(Base):
    """The most manual goodwill a rep grants per adjustment without an admin's approval (overrides the
    default setting)."""

    __tablename__ = "goodwill_limits"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_nonnegative"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    amount: Mapped[Money] = mapped_column(default=Decimal("0"))
