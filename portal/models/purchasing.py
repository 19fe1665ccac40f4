"""Purchase orders to vendors, their links to the customer backorders they cover, receipts and the
allocations receiving makes (DESIGN §2, §4, §5).

Invariants: a PO line's linked quantity never exceeds its open quantity; received never exceeds ordered
unless an over-receipt was explicitly accepted (``over_receipt_accepted``). A vendor has at most one draft
PO (a partial unique index), so "generate POs" and the auto-add setting always add to that draft.
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

from portal.domain.purchasing import PoValue, po_value
from portal.models.base import Base, utcnow
from portal.models.catalog import Product, Vendor

PO_STATUSES = ("draft", "sent", "partially_received", "received", "cancelled")
#: Statuses whose lines still expect goods.
OPEN_PO_STATUSES = ("sent", "partially_received")
#: Statuses whose lines count as incoming when POs are generated (a draft will be sent).
PLANNED_PO_STATUSES = ("draft", "sent", "partially_received")
ALLOCATION_SOURCES = ("receipt", "manual")


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"
    __table_args__ = (
        CheckConstraint(f"status IN {PO_STATUSES!r}", name="status_known"),
        # Never two drafts for one vendor: generating POs adds to the draft there is.
        Index("uq_purchase_orders_vendor_draft", "vendor_id", unique=True,
              sqlite_where=text("status = 'draft'"), postgresql_where=text("status = 'draft'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "PO-00012", printed on the PDF and quoted by the vendor.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    vendor: Mapped[Vendor] = relationship()
    lines: Mapped[list[PurchaseOrderLine]] = relationship(back_populates="purchase_order",
                                                          order_by="PurchaseOrderLine.id")

    @property
    def value(self) -> PoValue:
        """What the PO is worth at its lines' unit costs, against the vendor's minimum order value."""
        return po_value([(line.quantity_ordered, line.unit_cost) for line in self.lines],
                        self.vendor.min_order_value)


class PurchaseOrderLine(Base):
    """Open quantity = ordered - received (while the PO is open)."""

    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        CheckConstraint("quantity_ordered >= 1", name="ordered_positive"),
        CheckConstraint("quantity_received >= 0", name="received_nonnegative"),
        CheckConstraint("quantity_received <= quantity_ordered OR over_receipt_accepted",
                        name="received_within_ordered"),
        CheckConstraint("unit_cost IS NULL OR unit_cost >= 0", name="unit_cost_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id", ondelete="CASCADE"),
                                                   index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity_ordered: Mapped[int] = mapped_column(Integer)
    quantity_received: Mapped[int] = mapped_column(Integer, default=0)
    #: The date the goods arrive; ETAs of backorders come from it.
    expected_date: Mapped[date | None] = mapped_column(Date)
    #: The vendor confirmed ``expected_date`` (otherwise it is our estimate).
    date_confirmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    #: Staff confirmed receiving more than ordered; only then may received exceed ordered.
    over_receipt_accepted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    #: What we pay per unit: the product's cost price when the line was created, editable while the PO is
    #: a draft. None: unknown (the line then adds nothing to the PO's value).
    unit_cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))

    purchase_order: Mapped[PurchaseOrder] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()
    links: Mapped[list[PoLineLink]] = relationship(back_populates="po_line", order_by="PoLineLink.id",
                                                   cascade="all, delete-orphan")

    @property
    def open_quantity(self) -> int:
        return max(self.quantity_ordered - self.quantity_received, 0)

    @property
    def linked_quantity(self) -> int:
        return sum(link.quantity for link in self.links)

    @property
    def line_value(self) -> Decimal | None:
        return None if self.unit_cost is None else self.unit_cost * self.quantity_ordered


class PoLineLink(Base):
    """Part of a customer backorder (an order line) reserved on a PO line: "reserved for Company, order #".

    Invariants: per PO line, the links add up to at most its open quantity; per order line, to at most
    its backordered quantity."""

    __tablename__ = "po_line_links"
    __table_args__ = (
        UniqueConstraint("po_line_id", "order_line_id"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    po_line_id: Mapped[int] = mapped_column(ForeignKey("purchase_order_lines.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)

    po_line: Mapped[PurchaseOrderLine] = relationship(back_populates="links")


class ProductReorderRule(Base):
    """Reorder point for a product: when stock position (available + incoming - waiting backorders)
    falls below ``reorder_min``, generating POs orders up to ``reorder_max``. ``pack_size`` overrides
    the vendor's pack size for this product."""

    __tablename__ = "product_reorder_rules"
    __table_args__ = (
        CheckConstraint("reorder_min >= 0 AND reorder_max >= reorder_min", name="min_max_order"),
        CheckConstraint("pack_size IS NULL OR pack_size >= 1", name="pack_size_positive"),
    )

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    reorder_min: Mapped[int] = mapped_column(Integer, default=0)
    reorder_max: Mapped[int] = mapped_column(Integer, default=0)
    pack_size: Mapped[int | None] = mapped_column(Integer)


class Receipt(Base):
    """Goods arriving against one PO. ``token`` comes from the receiving form: a double submit of the
    same form finds this receipt instead of counting the goods twice."""

    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"))
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    purchase_order: Mapped[PurchaseOrder] = relationship()
    lines: Mapped[list[ReceiptLine]] = relationship(order_by="ReceiptLine.id")


class ReceiptLine(Base):
    __tablename__ = "receipt_lines"
    __table_args__ = (CheckConstraint("quantity >= 1", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id", ondelete="CASCADE"), index=True)
    po_line_id: Mapped[int] = mapped_column(ForeignKey("purchase_order_lines.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)

    po_line: Mapped[PurchaseOrderLine] = relationship()


class Allocation(Base):
    """Units promised to an order line after it was placed: from a receipt (the set-aside list) or
    manually from stock on the shelf. A record; the order line's ``allocated`` holds the figure."""

    __tablename__ = "allocations"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint(f"source IN {ALLOCATION_SOURCES!r}", name="source_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
