"""Warehouses, stock per product and warehouse, and the append-only stock ledger (DESIGN §2, §5)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow
from portal.models.catalog import Product

MOVEMENT_KINDS = ("initial", "receipt", "shipment", "adjustment", "transfer", "return")


class Warehouse(Base):
    __tablename__ = "warehouses"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))


class Stock(Base):
    """Invariants: on_hand = sum of this row's movements; 0 <= allocated <= on_hand."""

    __tablename__ = "stock"
    __table_args__ = (
        UniqueConstraint("product_id", "warehouse_id"),
        CheckConstraint("on_hand >= 0", name="on_hand_nonnegative"),
        CheckConstraint("allocated >= 0", name="allocated_nonnegative"),
        CheckConstraint("allocated <= on_hand", name="allocated_within_on_hand"),
        # The "in stock now" probe: only rows with something available (migration 0006).
        Index("ix_stock_available", "product_id", sqlite_where=text("on_hand > allocated"),
              postgresql_where=text("on_hand > allocated")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    #: Units physically in the warehouse.
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    #: Units promised to open order lines and not yet shipped.
    allocated: Mapped[int] = mapped_column(Integer, default=0)

    product: Mapped[Product] = relationship()
    warehouse: Mapped[Warehouse] = relationship()

    @property
    def available(self) -> int:
        return max(self.on_hand - self.allocated, 0)


class StockMovement(Base):
    """Append-only: every change of on_hand writes one row; rows are never updated or deleted."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        CheckConstraint("quantity <> 0", name="quantity_nonzero"),
        CheckConstraint(f"kind IN {MOVEMENT_KINDS!r}", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    #: Signed change of on_hand.
    quantity: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(255), default="")
    #: Document behind the movement, e.g. "PO-00012" or "SO-00031".
    reference: Mapped[str] = mapped_column(String(40), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
