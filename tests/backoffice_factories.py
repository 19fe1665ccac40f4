"""Factories for back-office tests: backordered orders written directly (with the placing date, deadline
and company tier a test needs), in one write transaction each, keeping DESIGN §5 invariants."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from portal.database import write_transaction
from portal.models import Company, Order, OrderLine, Product, User

_seq = itertools.count(1)
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def make_backorder(company: Company, buyer: User, product: Product, quantity: int, *, day: int | None = None,
                   need_by: date | None = None, eta: date | None = None, hidden: bool = False) -> OrderLine:
    """An open order of ``company`` whose one line waits entirely on backorder."""
    n = next(_seq)
    placed = START + timedelta(days=day if day is not None else n)
    with write_transaction() as s:
        order = Order(number=f"SO-T{n:05d}", checkout_token=uuid.uuid4().hex, company_id=company.id,
                      placed_by_id=buyer.id, placed_at=placed, need_by=need_by,
                      subtotal=product.price * quantity, total=product.price * quantity)
        s.add(order)
        s.flush()
        line = OrderLine(order_id=order.id, product_id=product.id, sku=product.sku, name=product.name,
                         quantity=quantity, allocated=0, backordered=quantity, unit_price=product.price,
                         line_total=product.price * quantity, need_by=need_by, eta=eta,
                         eta_estimated=eta is not None, backorder_hidden=hidden)
        s.add(line)
    return line


def money(value: str) -> Decimal:
    return Decimal(value)
