"""Purchase orders to vendors. Their open lines give backorders their ETA (DESIGN §4); receiving,
linking to backorders and the status flow grow with the purchasing issue."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow
from portal.models.catalog import Product, Vendor

PO_STATUSES = ("draft", "sent", "partially_received", "received", "cancelled")
#: Statuses whose lines still expect goods.
OPEN_PO_STATUSES = ("sent", "partially_received")


class PurchaseOrder(Base):
    __tablename__ = "purchase_orders"
    __table_args__ = (CheckConstraint(f"status IN {PO_STATUSES!r}", name="status_known"),)

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


class PurchaseOrderLine(Base):
    """Open quantity = ordered - received (while the PO is open)."""

    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        CheckConstraint("quantity_ordered >= 1", name="ordered_positive"),
        CheckConstraint("quantity_received >= 0", name="received_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id", ondelete="CASCADE"),
                                                   index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity_ordered: Mapped[int] = mapped_column(Integer)
    quantity_received: Mapped[int] = mapped_column(Integer, default=0)
    #: The vendor-confirmed date the goods arrive; ETAs of backorders come from it.
    expected_date: Mapped[date | None] = mapped_column(Date)

    purchase_order: Mapped[PurchaseOrder] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship()

    @property
    def open_quantity(self) -> int:
        return max(self.quantity_ordered - self.quantity_received, 0)
