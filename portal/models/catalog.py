"""Vendors, categories and products with their per-product backorder rules (DESIGN §3)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
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

from portal.models.base import Base, Money, utcnow

#: name -> columns of the partial listing indexes on products (see Product.__table_args__).
LISTING_INDEXES = (
    ("ix_products_category_id_name", ("category_id", "name")),
    ("ix_products_category_id_price", ("category_id", "price")),
    ("ix_products_category_id_id", ("category_id", "id")),
    ("ix_products_vendor_id_name", ("vendor_id", "name")),
    ("ix_products_vendor_id_price", ("vendor_id", "price")),
    ("ix_products_vendor_id_id", ("vendor_id", "id")),
    ("ix_products_name", ("name",)),
    ("ix_products_price_id", ("price", "id")),
)
BACKORDER_POLICIES = ("block", "allow", "allow_up_to")
BACKORDER_VISIBILITIES = ("show", "hide")
STOCK_DISPLAYS = ("exact", "level")


class Vendor(Base):
    __tablename__ = "vendors"
    __table_args__ = (
        CheckConstraint("lead_time_days >= 0", name="lead_time_nonnegative"),
        CheckConstraint("min_order_value >= 0", name="min_order_value_nonnegative"),
        CheckConstraint("pack_size >= 1", name="pack_size_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    contact_name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(40), default="")
    #: Days from sending a PO to goods arriving; the ETA fallback when no PO covers a backorder.
    lead_time_days: Mapped[int] = mapped_column(Integer, default=14)
    #: The vendor's minimum PO value.
    min_order_value: Mapped[Money] = mapped_column(default=Decimal("0"))
    #: Default pack size PO quantities are rounded up to.
    pack_size: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)

    parent: Mapped[Category | None] = relationship(remote_side=[id])


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_nonnegative"),
        CheckConstraint("order_minimum >= 1", name="order_minimum_positive"),
        CheckConstraint("order_multiple >= 1", name="order_multiple_positive"),
        CheckConstraint(f"backorder_policy IN {BACKORDER_POLICIES!r}", name="policy_known"),
        CheckConstraint(f"backorder_visibility IN {BACKORDER_VISIBILITIES!r}", name="visibility_known"),
        CheckConstraint(f"stock_display IN {STOCK_DISPLAYS!r}", name="stock_display_known"),
        # The cap exists exactly when the policy is allow_up_to.
        CheckConstraint(
            "(backorder_policy = 'allow_up_to' AND backorder_cap IS NOT NULL AND backorder_cap >= 0)"
            " OR (backorder_policy <> 'allow_up_to' AND backorder_cap IS NULL)",
            name="cap_matches_policy",
        ),
        CheckConstraint("low_stock_threshold >= 0", name="low_stock_threshold_nonnegative"),
        CheckConstraint("lead_time_days IS NULL OR lead_time_days >= 0", name="lead_time_nonnegative"),
        CheckConstraint("cost_price IS NULL OR cost_price >= 0", name="cost_price_nonnegative"),
        # Listing indexes (migration 0006): a category's or vendor's products by name, price or newest,
        # and the whole catalog by name or price. Every catalog query filters on active, so they cover
        # active products only: the planner then never reads a table row to check it (a deep page of
        # 4,000 rows: 8 ms -> 0.8 ms on SQLite at 500,000 products, bench/RESULTS.md). SQLite needs the
        # predicate spelled as SQLAlchemy renders the filter there ("active = 1").
        *(Index(name, *columns, sqlite_where=text("active = 1"), postgresql_where=text("active"))
          for name, columns in LISTING_INDEXES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    #: List price per unit before company pricing.
    price: Mapped[Money]
    #: Smallest quantity per order line.
    order_minimum: Mapped[int] = mapped_column(Integer, default=1)
    #: Quantities must be a multiple of this (case pack).
    order_multiple: Mapped[int] = mapped_column(Integer, default=1)
    #: block | allow | allow_up_to (with backorder_cap).
    backorder_policy: Mapped[str] = mapped_column(String(20), default="block")
    #: Most units that may be on backorder across all open orders; only with allow_up_to.
    backorder_cap: Mapped[int | None] = mapped_column(Integer)
    #: show: buyers see backorder and ETA; hide: buyers see "Available" (staff see the truth).
    backorder_visibility: Mapped[str] = mapped_column(String(10), default="show")
    #: exact: "42 in stock"; level: In stock / Low stock / Out of stock.
    stock_display: Mapped[str] = mapped_column(String(10), default="exact")
    #: Under this many available units, the level display says "Low stock".
    low_stock_threshold: Mapped[int] = mapped_column(Integer, default=10)
    #: Overrides the vendor's lead time for the ETA fallback.
    lead_time_days: Mapped[int | None] = mapped_column(Integer)
    #: What we pay the vendor per unit; copied onto PO lines when they are created. None: not entered.
    cost_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    category: Mapped[Category] = relationship()
    vendor: Mapped[Vendor] = relationship()


class ProductImage(Base):
    """An uploaded picture; files live under the instance folder (original, large and thumbnail)."""

    __tablename__ = "product_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    #: Random stem of the stored files: <stem>.jpg (large) and <stem>-thumb.jpg.
    stem: Mapped[str] = mapped_column(String(40), unique=True)
    alt_text: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)


class ProductAlternative(Base):
    """An admin-curated alternative, shown before the automatic suggestions."""

    __tablename__ = "product_alternatives"
    __table_args__ = (CheckConstraint("product_id <> alternative_id", name="not_itself"),)

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    alternative_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"),
                                                primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class PriceBreak(Base):
    """Volume pricing: from ``min_quantity`` units on a line, ``percent_off`` the company's unit price."""

    __tablename__ = "price_breaks"
    __table_args__ = (
        UniqueConstraint("product_id", "min_quantity"),
        CheckConstraint("min_quantity >= 2", name="min_quantity_above_one"),
        CheckConstraint("percent_off > 0 AND percent_off < 100", name="percent_off_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    min_quantity: Mapped[int] = mapped_column(Integer)
    percent_off: Mapped[Decimal] = mapped_column(Numeric(5, 2))


class PriceListItem(Base):
    """A fixed price for one product on one price list; it replaces the list's percentage."""

    __tablename__ = "price_list_items"
    __table_args__ = (CheckConstraint("price >= 0", name="price_nonnegative"),)

    price_list_id: Mapped[int] = mapped_column(ForeignKey("price_lists.id", ondelete="CASCADE"),
                                               primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    price: Mapped[Money]


class StockSubscription(Base):
    """"Notify me when back in stock": one per buyer and product until it is sent."""

    __tablename__ = "stock_subscriptions"
    __table_args__ = (UniqueConstraint("product_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Set when the back-in-stock notice is queued; NULL while waiting.
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
