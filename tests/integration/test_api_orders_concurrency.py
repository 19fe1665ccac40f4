"""Many API clients at once (DESIGN §6), through HTTP, on SQLite and PostgreSQL: no oversell, caps hold, no
deadlocks, one order per Idempotency-Key, every refusal a clear 422 and never a 5xx; and an order's SQL
statements grow by at most one per line (none on PostgreSQL).

Each client is its own test client in its own thread; all wait at a barrier, then post at once.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from portal.clock import today
from portal.database import write_transaction
from portal.extensions import db
from portal.models import Order, OrderLine, PriceList, PriceListItem, PurchaseOrder, PurchaseOrderLine, Stock
from tests.factories import make_address, make_company, make_product, make_user, set_stock
from tests.integration.test_api_orders import api_buyer, api_key, post_order
from tests.invariants import assert_invariants

BUYERS = 50


def api_buyers(count: int, per_company: int = 10, **company) -> list[str]:
    """API keys of ``count`` buyers, ``per_company`` to a company."""
    keys: list[str] = []
    while len(keys) < count:
        firm = make_company(f"API Co {uuid.uuid4().hex[:8]}", **company)
        make_address(firm, is_default_shipping=True)
        for _ in range(min(per_company, count - len(keys))):
            keys.append(api_key(make_user(company=firm, email=f"{uuid.uuid4().hex[:10]}@example.com",
                                          password=None)))
    return keys


def post_together(app, requests: list[tuple[str, dict, str]]) -> list[tuple[int, dict | str]]:
    """(status, JSON body) of each (key, body, Idempotency-Key), all posted at once; status 0 for an
    exception in the client itself."""
    barrier = threading.Barrier(len(requests))
    results: list[tuple[int, dict | str]] = [(0, "not run")] * len(requests)

    def client(index: int, key: str, body: dict, idempotency_key: str) -> None:
        try:
            http = app.test_client()
            barrier.wait(timeout=60)
            response = post_order(http, key, body, idempotency_key)
            results[index] = (response.status_code, response.get_json(silent=True)
                              or response.get_data(as_text=True))
        except Exception as exc:  # noqa: BLE001 - every failure is reported by the assertions
            results[index] = (0, repr(exc))

    threads = [threading.Thread(target=client, args=(i, *request)) for i, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    return results


def statuses(results) -> Counter:
    return Counter(status for status, _ in results)


def totals(product_id: int) -> tuple[int, int, int]:
    """(allocated to order lines, backordered, free stock) of the product."""
    db.session.rollback()
    allocated, backordered = db.session.execute(
        select(func.coalesce(func.sum(OrderLine.allocated), 0),
               func.coalesce(func.sum(OrderLine.backordered), 0))
        .where(OrderLine.product_id == product_id)).one()
    stock = db.session.scalar(select(Stock).where(Stock.product_id == product_id))
    return allocated, backordered, stock.on_hand - stock.allocated


@pytest.mark.parametrize(("policy", "cap", "orders", "backordered"), [
    ("block", None, 10, 0),
    ("allow", None, 50, 40),
    ("allow_up_to", 15, 25, 15),
])
def test_fifty_clients_against_ten_units(any_app, policy, cap, orders, backordered):
    product = make_product(sku="HOT", policy=policy, cap=cap)
    set_stock(product, 10)
    keys = api_buyers(BUYERS)
    body = {"lines": [{"sku": "HOT", "quantity": 1}]}

    results = post_together(any_app, [(key, body, uuid.uuid4().hex) for key in keys])

    assert statuses(results) == Counter({201: orders, 422: BUYERS - orders}), results
    for status, answer in results:
        if status == 422:
            (problem,) = answer["problems"]
            assert (problem["line"], problem["sku"]) == (1, "HOT")
            if policy == "block":
                assert problem["message"].startswith("Only 0 in stock"), problem
    answered = [answer["lines"][0]["backordered"] for status, answer in results if status == 201]
    assert sum(answered) == backordered
    assert totals(product.id) == (10, backordered, 0)
    db.session.rollback()
    assert db.session.scalar(select(func.count(Order.id))) == orders
    assert_invariants()


def test_multi_product_orders_in_random_line_order_do_not_deadlock(any_app):
    rng = random.Random(7)
    skus = [f"MP-{i}" for i in range(8)]
    for sku in skus:
        set_stock(make_product(sku=sku, policy="allow"), rng.randint(0, 20))
    requests = []
    for key in api_buyers(30):
        chosen = rng.sample(skus, rng.randint(2, 5))
        rng.shuffle(chosen)
        requests.append((key, {"lines": [{"sku": sku, "quantity": rng.randint(1, 4)} for sku in chosen]},
                         uuid.uuid4().hex))

    results = post_together(any_app, requests)

    assert statuses(results) == Counter({201: 30}), results
    for (_, body, _), (_, answer) in zip(requests, results, strict=True):
        asked = {line["sku"]: line["quantity"] for line in body["lines"]}
        assert {line["sku"]: line["ships_now"] + line["backordered"] for line in answer["lines"]} == asked
    assert_invariants()


def test_twenty_submits_of_one_idempotency_key_make_one_order(any_app):
    product = make_product(sku="ONCE")
    set_stock(product, 100)
    _, _, key = api_buyer()
    body = {"lines": [{"sku": "ONCE", "quantity": 3}]}

    results = post_together(any_app, [(key, body, "erp-order-1")] * 20)

    assert statuses(results) == Counter({201: 1, 200: 19}), results
    assert len({answer["number"] for _, answer in results}) == 1
    db.session.rollback()
    assert db.session.scalar(select(func.count(Order.id))) == 1
    assert totals(product.id) == (3, 0, 97)
    assert_invariants()


def test_concurrent_orders_of_one_company_cannot_together_pass_its_credit_limit(any_app):
    """Five buyers of one company, 30.00 each, limit 100.00: exactly three orders go through."""
    set_stock(make_product(sku="CREDIT", price="30.00"), 100)
    keys = api_buyers(5, per_company=5, credit_limit=Decimal("100.00"))
    body = {"lines": [{"sku": "CREDIT", "quantity": 1}]}

    results = post_together(any_app, [(key, body, uuid.uuid4().hex) for key in keys])

    assert statuses(results) == Counter({201: 3, 422: 2}), results
    for status, answer in results:
        if status == 422:
            assert "over your credit limit" in answer["problems"][0]["message"]


# --- statements per order --------------------------------------------------------------------------------

#: Statements an API order may add per line. Measured: 0 on PostgreSQL (every read and write is one
#: statement for all lines), 1 on SQLite (see test_..._on_every_backend below); 1 leaves no room for a
#: per-line query loop.
PER_LINE_LIMIT = 1
#: A one-line order of a product in stock, once the company's kept balance is known (its second order):
#: the key with its company (locked), address, settings and goodwill rules; the product with its price
#: breaks, available stock, kept units on backorder and open PO lines; the order row, claimed with its
#: number and totals; the company's exposure (with the kept balance); its line, the outbox message and the
#: notice; the stock rows' locks, the allocation, and the kept balance's increase. One statement less on
#: PostgreSQL (``NOTICE_SAVED``).
IN_STOCK_ORDER = 10
#: A one-line order backordered on a product with an open PO, kept sums known: no allocation, but the
#: kept units on backorder read again under the locks, and their increase.
BACKORDERED_ORDER = 11
#: A company's first order sums its uninvoiced amount (no kept balance yet), then sums it again at
#: commit, with its own order, and stores it (the generation, the sum, the store).
COMPANY_FIRST_ORDER = 4
#: The first backorder of products reads their units on backorder before the locks too (the products
#: statement finds them unknown), sums them again at commit and stores them (one statement each for all
#: the order's products).
PRODUCTS_FIRST_BACKORDER = 3
#: Statements for a 16-line order, half of it backordered, everything included: a backordered order's,
#: the first order's sums and stores, the allocation, and on SQLite its BEGIN IMMEDIATE (counted by
#: ``statements_to_place``).
#: PostgreSQL writes the outbox message and the notice in one statement (a data-modifying CTE).
NOTICE_SAVED = {"postgresql": 1, "sqlite": 0}
SIXTEEN_LINE_CAP = BACKORDERED_ORDER + COMPANY_FIRST_ORDER + PRODUCTS_FIRST_BACKORDER + 2


def statements_to_place(client, lines: int) -> int:
    """SQL statements the server runs for one API order of ``lines`` lines, half of them in stock and
    half backordered."""
    _, _, key = api_buyer()
    skus = [f"STMT-{lines}-{i}" for i in range(lines)]
    for i, sku in enumerate(skus):
        set_stock(make_product(sku=sku, policy="allow"), 10 if i % 2 else 0)
    body = {"lines": [{"sku": sku, "quantity": 5} for sku in skus]}
    count = 0

    def counter(*_args, **_kwargs):
        nonlocal count
        count += 1

    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        response = post_order(client, key, body)
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)
    assert response.status_code == 201, response.json
    assert sorted(line["backordered"] for line in response.json["lines"]) == (
        [0] * (lines // 2) + [5] * (lines // 2))
    return count


def per_line_growth(client) -> tuple[dict[int, int], float]:
    counts = {n: statements_to_place(client, n) for n in (2, 4, 8, 16)}
    return counts, max((counts[b] - counts[a]) / (b - a) for a, b in ((2, 4), (4, 8), (8, 16)))


def test_statements_per_api_order_grow_by_at_most_one_per_line(any_app):
    counts, per_line = per_line_growth(any_app.test_client())
    assert per_line <= PER_LINE_LIMIT, counts
    assert counts[16] <= SIXTEEN_LINE_CAP, counts


def test_statements_per_api_order_do_not_grow_with_its_lines_on_every_backend(any_app):
    """What the service promises (portal/services/api_orders.py): a fixed number of statements."""
    counts, per_line = per_line_growth(any_app.test_client())
    assert per_line == 0, counts


def statements_run(client, key: str, body: dict) -> tuple[dict, list[str]]:
    """The order placed, and the SQL statements the server ran for it (SQLite's BEGIN IMMEDIATE left
    out: PostgreSQL's BEGIN is not one, the driver sends it)."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        if statement != "BEGIN IMMEDIATE":
            statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = post_order(client, key, body)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 201, response.json
    return response.json, statements


def reading(table: str, statements: list[str]) -> list[str]:
    """The statements that read rows of ``table`` (not merely a subquery of it)."""
    return [s for s in statements if s.startswith(f"SELECT {table}.")]


def test_an_order_in_stock_runs_a_fixed_set_of_statements(any_app):
    _, _, key = api_buyer()
    set_stock(make_product(sku="COUNT-IN"), 10)
    body = {"lines": [{"sku": "COUNT-IN", "quantity": 2}]}
    _, first = statements_run(any_app.test_client(), key, body)
    saved = NOTICE_SAVED[db.engine.dialect.name]
    assert len(first) == IN_STOCK_ORDER - saved + COMPANY_FIRST_ORDER, first

    order, statements = statements_run(any_app.test_client(), key, body)

    assert order["lines"][0]["ships_now"] == 2
    assert len(statements) == IN_STOCK_ORDER - saved, statements
    (key_read,) = [s for s in statements if "FROM api_keys" in s]
    assert "addresses" in key_read and "portal_settings" in key_read
    assert statements.index(key_read) == 0
    if db.engine.dialect.name == "postgresql":  # SQLite's BEGIN IMMEDIATE takes the one write lock
        assert key_read.endswith("FOR NO KEY UPDATE OF companies"), key_read
    assert not [s for s in statements if "addresses" in s and s != key_read]
    assert not reading("portal_settings", statements)


def test_a_price_list_adds_no_statement_its_fixed_prices_come_with_the_products(any_app):
    with write_transaction() as session:
        trade = PriceList(name="Trade", discount_percent=Decimal("5"))
        session.add(trade)
    _, _, key = api_buyer(price_list_id=trade.id)
    fixed, listed = make_product(sku="COUNT-PL", price="10.00"), make_product(sku="COUNT-PL2", price="10.00")
    for product in (fixed, listed):
        set_stock(product, 10)
    with write_transaction() as session:
        session.add(PriceListItem(price_list_id=trade.id, product_id=fixed.id, price=Decimal("7.25")))
    body = {"lines": [{"sku": "COUNT-PL", "quantity": 1}, {"sku": "COUNT-PL2", "quantity": 1}]}
    statements_run(any_app.test_client(), key, body)

    order, statements = statements_run(any_app.test_client(), key, body)

    assert [line["unit_price"] for line in order["lines"]] == ["7.25", "9.50"]
    assert len(statements) == IN_STOCK_ORDER - NOTICE_SAVED[db.engine.dialect.name], statements
    assert not reading("price_list_items", statements)


def test_a_backorder_reads_the_open_po_lines_with_the_products_and_the_settings_with_the_key(any_app):
    _, _, key = api_buyer()
    product = make_product(sku="COUNT-BO", policy="allow")
    set_stock(product, 0)
    arrives = today() + timedelta(days=10)
    with write_transaction() as session:
        po = PurchaseOrder(number="PO-COUNT", vendor_id=product.vendor_id, status="sent")
        session.add(po)
        session.flush()
        session.add(PurchaseOrderLine(purchase_order_id=po.id, product_id=product.id, quantity_ordered=20,
                                      expected_date=arrives))

    statements_run(any_app.test_client(), key, {"lines": [{"sku": "COUNT-BO", "quantity": 1}]})
    order, statements = statements_run(any_app.test_client(), key,
                                       {"lines": [{"sku": "COUNT-BO", "quantity": 3}]})

    assert (order["lines"][0]["backordered"], order["lines"][0]["eta"]) == (3, arrives.isoformat())
    assert len(statements) == BACKORDERED_ORDER - NOTICE_SAVED[db.engine.dialect.name], statements
    assert [s for s in statements if "purchase_order_lines" in s] == reading("products", statements)[:1]
    assert not reading("portal_settings", statements)


@pytest.mark.parametrize("any_app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_the_api_statements_are_prepared_with_generic_plans_and_nothing_else_is_prepared(any_app):
    """PostgreSQL plans the API's prepared statements once per connection (a generic plan): planning was
    most of its CPU per statement. Nothing outside an API order is prepared, so every other statement
    (catalog search above all) is still planned for its own values. (psycopg forgets every prepared
    statement of a connection on a rollback: so does this test, which never rolls back in between.)"""
    _, _, key = api_buyer()
    set_stock(make_product(sku="PLAN-IN"), 100)
    set_stock(make_product(sku="PLAN-BO", policy="allow"), 0)
    client = any_app.test_client()
    used = set()  # the driver connections the orders ran on

    def note(conn, *_args):
        used.add(conn.connection.driver_connection)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        for _ in range(4):
            assert post_order(client, key, {"lines": [{"sku": "PLAN-IN", "quantity": 1},
                                                      {"sku": "PLAN-BO", "quantity": 1}]}).status_code == 201
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    conn = db.session.connection()
    assert used == {conn.connection.driver_connection}  # one connection, handed back by the pool
    for _ in range(3):  # outside an API order: not prepared
        conn.execute(select(func.count()).select_from(Order).where(Order.status == "open"))
    prepared = conn.exec_driver_sql(
        "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements").all()
    db.session.rollback()
    assert prepared, "the API prepared nothing"
    assert all(custom == 0 for _, _, custom in prepared), prepared
    assert sum(generic for _, generic, _ in prepared) >= 10, prepared
    assert not [statement for statement, _, _ in prepared if "count(" in statement], prepared


def test_an_api_order_compiles_no_statement_once_warm(any_app, monkeypatch):
    """Every statement of the fast path comes from SQLAlchemy's compiled cache after the first orders: a
    construct that cannot be cached (a custom SQL element did once) costs a compilation, about 2 ms of
    CPU, on every order."""
    from sqlalchemy.sql import compiler

    _, _, key = api_buyer()
    set_stock(make_product(sku="WARM-IN"), 100)
    set_stock(make_product(sku="WARM-BO", policy="allow"), 0)
    client = any_app.test_client()
    body = {"lines": [{"sku": "WARM-IN", "quantity": 1}, {"sku": "WARM-BO", "quantity": 1}]}
    for _ in range(3):
        assert post_order(client, key, body).status_code == 201
    compiled: list[str] = []
    original = compiler.SQLCompiler.__init__

    def counting(self, dialect, statement, *args, **kwargs):
        compiled.append(str(type(statement).__name__))
        original(self, dialect, statement, *args, **kwargs)

    monkeypatch.setattr(compiler.SQLCompiler, "__init__", counting)
    for _ in range(3):
        assert post_order(client, key, body).status_code == 201
    assert compiled == []
