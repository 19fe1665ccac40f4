"""Customer companies, their people and addresses, staff, and login sessions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, Money, utcnow

ROLES = ("buyer", "sales_rep", "admin")
STAFF_ROLES = ("sales_rep", "admin")
PAYMENT_TERMS = ("card_only", "net15", "net30", "net60")
#: When card orders are charged (see portal.models.payments).
CHARGE_POLICIES = ("at_order", "at_shipment")
PRIORITY_TIERS = (1, 2, 3)  # 1 is served first when the allocation priority is "company tier"


class PriceList(Base):
    """A company's pricing. This issue has a flat percentage; fixed prices per product come later."""

    __tablename__ = "price_lists"
    __table_args__ = (
        CheckConstraint("discount_percent >= 0 AND discount_percent <= 100", name="discount_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    #: Percent off the product list price, 0-100.
    discount_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))


class Company(Base):
    __tablename__ = "companies"
    __table_args__ = (
        CheckConstraint("credit_limit >= 0", name="credit_limit_nonnegative"),
        CheckConstraint(f"payment_terms IN {PAYMENT_TERMS!r}", name="payment_terms_known"),
        CheckConstraint("priority_tier BETWEEN 1 AND 3", name="priority_tier_range"),
        CheckConstraint(f"charge_policy IN {CHARGE_POLICIES!r}", name="charge_policy_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: Our customer number, printed on documents.
    account_number: Mapped[str] = mapped_column(String(20), unique=True)
    price_list_id: Mapped[int | None] = mapped_column(ForeignKey("price_lists.id"))
    payment_terms: Mapped[str] = mapped_column(String(20), default="net30")
    credit_limit: Mapped[Money] = mapped_column(default=Decimal("0"))
    #: The sales rep who looks after this account. The FK is added after ``users`` exists (cycle).
    sales_rep_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", use_alter=True, ondelete="SET NULL"), index=True
    )
    #: 1 (served first) to 3, used when waiting backorders are allocated by company tier.
    priority_tier: Mapped[int] = mapped_column(Integer, default=2)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: The company's Stripe customer (cus_...), created the first time someone saves a card.
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True, index=True)
    #: When card orders are charged: ``at_order`` (whole order when placed) or ``at_shipment``.
    charge_policy: Mapped[str] = mapped_column(String(20), default="at_order", server_default="at_order")

    price_list: Mapped[PriceList | None] = relationship()
    sales_rep: Mapped[User | None] = relationship(foreign_keys=[sales_rep_id])
    users: Mapped[list[User]] = relationship(
        back_populates="company", foreign_keys="User.company_id", order_by="User.name"
    )
    addresses: Mapped[list[Address]] = relationship(back_populates="company", order_by="Address.id")


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN {ROLES!r}", name="role_known"),
        # A buyer belongs to exactly one company; staff belong to none.
        CheckConstraint(
            "(role = 'buyer' AND company_id IS NOT NULL) OR (role <> 'buyer' AND company_id IS NULL)",
            name="buyer_has_company",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-cased; login compares lower-cased.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    #: Argon2id hash; NULL until an invited user sets a password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    company: Mapped[Company | None] = relationship(back_populates="users", foreign_keys=[company_id])

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class LoginSession(Base):
    """One row per signed-in browser. Logging out deletes it, so a replayed cookie is refused."""

    __tablename__ = "login_sessions"

    #: Random token kept in the signed session cookie.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class Address(Base):
    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20))
    #: ISO 3166-1 alpha-2.
    country: Mapped[str] = mapped_column(String(2), default="US")
    is_default_shipping: Mapped[bool] = mapped_column(Boolean, default=False)
    is_billing: Mapped[bool] = mapped_column(Boolean, default=False)

    company: Mapped[Company] = relationship(back_populates="addresses")

    def one_line(self) -> str:
        parts = [self.line1, self.line2, self.city, self.region, self.postal_code, self.country]
        return ", ".join(p for p in parts if p)


class AuditLog(Base):
    """Who changed what, when, with the values before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None]
    #: JSON text of the changed fields before and after.
    before: Mapped[str] = mapped_column(Text, default="{}")
    after: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
