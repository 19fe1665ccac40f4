"""Shipments (units leaving for a customer; partial shipments are normal) and the order timeline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, utcnow

EVENT_KINDS = ("placed", "eta_changed", "allocated", "shipped", "cancelled", "goodwill", "priority",
               "po_linked", "payment")
#: payment_due: planned, its charge not paid, nothing moved; shipped: it became the shipment
#: ``shipment_id`` (paid, or by a staff override); cancelled: staff dropped the plan.
PLANNED_SHIPMENT_STATUSES = ("payment_due", "shipped", "cancelled")


class Shipment(Base):
    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "SH-00007", printed on the packing slip.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    #: One-time token of the shipping form: a double submit finds this shipment.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    tracking_number: Mapped[str] = mapped_column(String(60), default="")
    carrier: Mapped[str] = mapped_column(String(60), default="")
    shipped_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    lines: Mapped[list[ShipmentLine]] = relationship(order_by="ShipmentLine.id")


class ShipmentLine(Base):
    __tablename__ = "shipment_lines"
    __table_args__ = (CheckConstraint("quantity >= 1", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)


class PlannedShipment(Base):
    """A shipment of an ``at_shipment`` card order that could not be charged (declined, or the bank wants
    the buyer to authenticate): nothing moved, the units stay allocated to their lines.

    Keyed by the shipping form's one-time token, like the charge (``shipment:<token>``). It ships, with
    the same token, once the charge is paid or when staff override with a reason (the charge then stays
    due for the buyer)."""

    __tablename__ = "planned_shipments"
    __table_args__ = (CheckConstraint(f"status IN {PLANNED_SHIPMENT_STATUSES!r}", name="status_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    card_charge_id: Mapped[int] = mapped_column(ForeignKey("card_charges.id"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="payment_due")
    tracking_number: Mapped[str] = mapped_column(String(60), default="")
    carrier: Mapped[str] = mapped_column(String(60), default="")
    #: The shipment it became.
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id", ondelete="SET NULL"),
                                                    unique=True)
    #: Why staff shipped it unpaid (empty when it shipped paid).
    override_reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    lines: Mapped[list[PlannedShipmentLine]] = relationship(order_by="PlannedShipmentLine.id")
    card_charge = relationship("CardCharge")


class PlannedShipmentLine(Base):
    __tablename__ = "planned_shipment_lines"
    __table_args__ = (CheckConstraint("quantity >= 1", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    planned_shipment_id: Mapped[int] = mapped_column(ForeignKey("planned_shipments.id", ondelete="CASCADE"),
                                                     index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)


class OrderEvent(Base):
    """One row of an order's timeline. Buyers see the rows marked ``buyer_visible`` (not, for example,
    news about a backorder whose product hides backorders); staff see every row."""

    __tablename__ = "order_events"
    __table_args__ = (CheckConstraint(f"kind IN {EVENT_KINDS!r}", name="kind_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(String(500))
    buyer_visible: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sql_text("true"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    actor = relationship("User")
