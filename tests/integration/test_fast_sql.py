"""``portal.fast_sql``: the ordering API's statements sent through the driver on PostgreSQL give the rows
SQLAlchemy gives (same keys, same values and types), and the engine's statement listeners still see them.
On SQLite the module hands the statements to SQLAlchemy, so the comparison is trivially true there."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import JSON, bindparam, event, select

from portal import fast_sql
from portal.clock import today
from portal.database import write_transaction
from portal.extensions import db
from portal.models import Company, PriceBreak, Product, PurchaseOrder, PurchaseOrderLine
from portal.services import api_orders, balances, credit, stock_facts
from tests.factories import make_product, set_stock
from tests.integration.test_api_orders import api_buyer, post_order


@pytest.fixture(autouse=True)
def _backends(any_app):
    return any_app


def both_ways(statement, params: dict) -> tuple[list, list]:
    conn = db.session.connection()
    through_sqlalchemy = conn.execute(statement, params)
    keys = list(through_sqlalchemy.keys())
    expected = [tuple(row) for row in through_sqlalchemy.all()]
    found = fast_sql.all(conn, statement, params)
    assert [list(row._fields) if hasattr(row, "_fields") else keys for row in found] == [keys] * len(found)
    return [tuple(row) for row in found], expected


def test_the_api_statements_give_the_same_rows_both_ways(any_app):
    user, company, key = api_buyer(credit_limit=Decimal("5000"))
    product = make_product(sku="FAST-1", policy="allow", price="12.50")
    set_stock(product, 2)
    with write_transaction() as session:
        session.add(PriceBreak(product_id=product.id, min_quantity=10, percent_off=Decimal("7.5")))
        po = PurchaseOrder(number="PO-FAST", vendor_id=product.vendor_id, status="sent")
        session.add(po)
        session.flush()
        session.add(PurchaseOrderLine(purchase_order_id=po.id, product_id=product.id, quantity_ordered=9,
                                      expected_date=today() + timedelta(days=5)))
    assert post_order(any_app.test_client(), key, {"lines": [{"sku": "FAST-1", "quantity": 5}]}).status_code \
        == 201
    db.session.rollback()
    key_hash = hashlib.sha256(key.encode()).hexdigest()
    cases = [
        (api_orders._BUYER_AND_COMPANY, {"key_hash": key_hash, "address_id": None}),
        (api_orders._PRODUCTS, {"skus": ["FAST-1", "NOPE"], "price_list_id": None}),
        (api_orders._LOCK_PRODUCTS_AND_STOCK, {"ids": [product.id]}),
        (credit._EXPOSURE, {"company_id": company.id}),
        (balances._UNITS, {"ids": [product.id]}),
        (stock_facts._OPEN_PO_LINES, {"ids": [product.id]}),
    ]
    for statement, params in cases:
        found, expected = both_ways(statement, params)
        assert found == expected and found, statement
        assert [list(map(type, row)) for row in found] == [list(map(type, row)) for row in expected]


def test_listeners_see_each_statement_and_a_statement_needing_conversion_goes_through_sqlalchemy():
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    conn = db.session.connection()  # SQLite's BEGIN goes before listening
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        fast_sql.first(conn, select(Company.id).where(Company.id == bindparam("c")), {"c": 0})
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert len(seen) == 1 and "companies" in seen[0]
    needs_json = select(bindparam("doc", type_=JSON).label("doc"))
    doc = {"a": uuid.uuid4().hex}
    assert fast_sql.first(db.session.connection(), needs_json, {"doc": doc}).doc == doc
    db.session.rollback()


def test_one_of_finds_the_listed_rows_with_one_statement_text_whatever_the_length():
    """``OneOf`` is an IN list: the same rows both ways for any length (none included); on PostgreSQL one
    array parameter, so the SQL text does not change with the length (one prepared statement)."""
    ids = [make_product(sku=f"ONE-{n}").id for n in range(4)]
    skus = select(Product.sku).where(fast_sql.OneOf(Product.id, "ids")).order_by(Product.sku)
    texts: set[str] = set()

    def note(_conn, _cursor, statement, *_args):
        texts.add(statement)

    conn = db.session.connection()
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        for chosen in ([], ids[:1], ids[1:3], [*ids, 999_999]):
            found, expected = both_ways(skus, {"ids": chosen})
            assert found == expected == [(f"ONE-{ids.index(i)}",) for i in sorted(set(chosen) & set(ids))]
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    if conn.dialect.name == "postgresql":
        assert len(texts) == 1 and "= ANY(CAST(" in texts.pop()
