"""Placing an order costs a fixed number of SQL statements plus at most a fixed amount per line."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import event

from portal.extensions import db
from portal.models import Company, User
from portal.services import carts, ordering
from tests.factories import make_address, make_company, make_product, make_user, set_stock

TODAY = date(2026, 11, 23)
PER_LINE_LIMIT = 2


def statements_to_place(lines: int) -> int:
    company = make_company()
    make_address(company, is_default_shipping=True)
    user = make_user(company=company, email=f"{uuid.uuid4().hex[:8]}@example.com", password=None)
    products = [make_product(policy="allow") for _ in range(lines)]
    for i, product in enumerate(products):
        set_stock(product, 3 if i % 2 else 0)  # half allocate, half backorder
    carts.add_items(user.id, company.id, [(p.id, 5) for p in products])
    db.session.rollback()
    me, mine = db.session.get(User, user.id), db.session.get(Company, company.id)
    review = ordering.review_cart(me, mine, TODAY)
    count = 0

    def counter(*_args, **_kwargs):
        nonlocal count
        count += 1

    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        ordering.place_order(me, company.id, uuid.uuid4().hex, review.fingerprint, TODAY)
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)
    return count


def test_statements_per_order_grow_by_a_fixed_amount_per_line(any_app):
    counts = {n: statements_to_place(n) for n in (2, 4, 8, 16)}
    per_line = [(counts[b] - counts[a]) / (b - a) for a, b in ((2, 4), (4, 8), (8, 16))]
    assert max(per_line) <= PER_LINE_LIMIT, counts
    fixed = counts[2] - 2 * max(per_line)
    assert counts[16] <= fixed + 16 * PER_LINE_LIMIT, counts
