"""Running totals kept beside the rows they sum, so hot checks read one row (``portal.services.balances``)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, Numeric
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base


class CompanyBalance(Base):
    """A company's uninvoiced on-account amount: the part of its live on-account orders no invoice has
    billed yet (``billing.uninvoiced_total``), kept for the credit check.

    ``uninvoiced`` is NULL when unknown: any change other than placing an order marks it so, and bumps
    ``generation``; the next credit check sums it from the tables and stores it if the generation it read
    is still current. A missing row is unknown too."""

    __tablename__ = "company_balances"

    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True,
                                            autoincrement=False)
    uninvoiced: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    generation: Mapped[int] = mapped_column(Integer, default=0)


class ProductBackorders(Base):
    """Units on backorder for a product across all order lines (``stock_facts.backordered_open_by_product``:
    what an ``allow_up_to`` cap counts against and where a new backorder joins the ETA queue), kept for
    placing. ``units`` NULL (or no row) is unknown, as for :class:`CompanyBalance`."""

    __tablename__ = "product_backorders"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True,
                                            autoincrement=False)
    units: Mapped[int | None] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer, default=0)
