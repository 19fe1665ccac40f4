"""Carts, orders and their lines, adjustments (goodwill), and automatic goodwill rules (DESIGN §2, §4-6).

Invariant per order line: ordered = allocated + backordered + shipped + cancelled.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.accounts import Address, Company, User
from portal.models.base import Base, Money, utcnow
from portal.models.catalog import Product

ORDER_STATUSES = ("open", "partially_shipped", "shipped", "cancelled")
SHIPPING_PREFERENCES = ("ship_partial", "ship_complete")
PAYMENT_METHODS = ("on_account", "card")
GOODWILL_KINDS = ("percent_off_late_backorder", "credit_missed_deadline")
ADJUSTMENT_KINDS = ("goodwill_rule", "manual_goodwill")
#: Manual goodwill above a rep's limit waits for an admin; only approved adjustments count in totals.
ADJUSTMENT_STATUSES = ("approved", "pending", "rejected")


class Cart(Base):
    """One cart per user and company (a rep ordering for several customers has one per company).

    Checkout details live here between the checkout form and placing the order."""

    __tablename__ = "carts"
    __table_args__ = (
        UniqueConstraint("user_id", "company_id"),
        CheckConstraint(f"shipping_preference IN {SHIPPING_PREFERENCES!r}", name="shipping_known"),
        CheckConstraint(f"payment_method IN {PAYMENT_METHODS!r}", name="payment_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    ship_to_id: Mapped[int | None] = mapped_column(ForeignKey("addresses.id", ondelete="SET NULL"))
    po_reference: Mapped[str] = mapped_column(String(60), default="")
    #: The buyer's "need by" date for the whole order (lines may override).
    need_by: Mapped[date | None] = mapped_column(Date)
    shipping_preference: Mapped[str] = mapped_column(String(20), default="ship_partial")
    payment_method: Mapped[str] = mapped_column(String(20), default="on_account")
    #: The saved card chosen at checkout when paying by card.
    payment_card_id: Mapped[int | None] = mapped_column(ForeignKey("payment_cards.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    lines: Mapped[list[CartLine]] = relationship(back_populates="cart", order_by="CartLine.id",
                                                 cascade="all, delete-orphan")
    ship_to: Mapped[Address | None] = relationship()
    payment_card = relationship("PaymentCard")


class CartLine(Base):
    __tablename__ = "cart_lines"
    __table_args__ = (
        UniqueConstraint("cart_id", "product_id"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    #: This line's own deadline, overriding the cart's.
    need_by: Mapped[date | None] = mapped_column(Date)
    #: The buyer accepted that this line arrives after its deadline (deadline check at review).
    accept_late: Mapped[bool] = mapped_column(Boolean, default=False)

    cart: Mapped[Cart] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"status IN {ORDER_STATUSES!r}", name="status_known"),
        CheckConstraint(f"shipping_preference IN {SHIPPING_PREFERENCES!r}", name="shipping_known"),
        CheckConstraint(f"payment_method IN {PAYMENT_METHODS!r}", name="payment_known"),
        CheckConstraint("charge_policy IS NULL OR charge_policy IN ('at_order', 'at_shipment')",
                        name="charge_policy_known"),
        Index("ix_orders_company_id_placed_at", "company_id", "placed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "SO-00042", shown to buyers and printed on documents.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    #: One-time token from the review page; a second submit of it finds this order instead of a new one.
    checkout_token: Mapped[str] = mapped_column(String(64), unique=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"))
    #: Who pressed "Place order": the buyer, or a rep ordering for the company.
    placed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    po_reference: Mapped[str] = mapped_column(String(60), default="")
    need_by: Mapped[date | None] = mapped_column(Date)
    shipping_preference: Mapped[str] = mapped_column(String(20), default="ship_partial")
    payment_method: Mapped[str] = mapped_column(String(20), default="on_account")
    #: Card orders: the saved card, and when it is charged (the company's policy when the order was placed).
    payment_card_id: Mapped[int | None] = mapped_column(ForeignKey("payment_cards.id"))
    charge_policy: Mapped[str | None] = mapped_column(String(20))
    #: The ship-to address as it was when ordered (addresses may change later).
    ship_to_text: Mapped[str] = mapped_column(Text, default="")
    #: Sum of line totals before adjustments; recomputed from lines, never edited by hand.
    subtotal: Mapped[Money] = mapped_column(default=Decimal("0"))
    adjustments_total: Mapped[Money] = mapped_column(default=Decimal("0"))
    total: Mapped[Money] = mapped_column(default=Decimal("0"))

    company: Mapped[Company] = relationship()
    placed_by: Mapped[User] = relationship()
    payment_card = relationship("PaymentCard")
    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", order_by="OrderLine.id")
    adjustments: Mapped[list[OrderAdjustment]] = relationship(back_populates="order",
                                                              order_by="OrderAdjustment.id")


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("allocated >= 0 AND backordered >= 0 AND shipped >= 0 AND cancelled >= 0",
                        name="parts_nonnegative"),
        CheckConstraint("quantity = allocated + backordered + shipped + cancelled", name="parts_add_up"),
        CheckConstraint("unit_price >= 0", name="unit_price_nonnegative"),
        # The backorder queue and caps read open backorders per product.
        Index("ix_order_lines_product_id_backordered", "product_id", "backordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    allocated: Mapped[int] = mapped_column(Integer, default=0)
    backordered: Mapped[int] = mapped_column(Integer, default=0)
    shipped: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
    #: Company price after volume break, per unit.
    unit_price: Mapped[Money]
    line_total: Mapped[Money]
    #: ETA of the backordered part (NULL when nothing is backordered).
    eta: Mapped[date | None] = mapped_column(Date)
    eta_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The buyer's deadline for this line (its own, or the order's).
    need_by: Mapped[date | None] = mapped_column(Date)
    #: The buyer knowingly accepted an ETA after the deadline.
    accepted_late: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Copied from the product at ordering: the buyer saw "Available" for a hidden backorder.
    backorder_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Manual priority in the backorder queue: higher is served first, before the configured rule.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()


class GoodwillRule(Base):
    """An automatic goodwill rule, edited by admins. Parameters by kind:

    - ``percent_off_late_backorder``: ``percent`` off the backordered units' value when the ETA is more
      than ``days`` days away.
    - ``credit_missed_deadline``: a fixed ``amount`` per line whose ETA misses the buyer's deadline and
      the buyer keeps the line.
    """

    __tablename__ = "goodwill_rules"
    __table_args__ = (
        CheckConstraint(f"kind IN {GOODWILL_KINDS!r}", name="kind_known"),
        CheckConstraint("days IS NULL OR days >= 0", name="days_nonnegative"),
        CheckConstraint("percent IS NULL OR (percent > 0 AND percent <= 100)", name="percent_range"),
        CheckConstraint("amount IS NULL OR amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(40))
    days: Mapped[int | None] = mapped_column(Integer)
    percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class OrderAdjustment(Base):
    """A discount or credit on an order or one of its lines; amounts are negative (they reduce the total)."""

    __tablename__ = "order_adjustments"
    __table_args__ = (
        CheckConstraint(f"kind IN {ADJUSTMENT_KINDS!r}", name="kind_known"),
        CheckConstraint(f"status IN {ADJUSTMENT_STATUSES!r}", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    #: The automatic rule that made it (NULL for manual goodwill).
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("goodwill_rules.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(String(255))
    amount: Mapped[Money]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Why staff granted manual goodwill (shown to the buyer with the description).
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: approved (counts in totals), pending (a rep's grant above their limit) or rejected.
    status: Mapped[str] = mapped_column(String(20), default="approved", server_default="approved")
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    order: Mapped[Order] = relationship(back_populates="adjustments")
