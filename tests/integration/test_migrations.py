"""The schema comes only from migrations: upgrading an empty database yields exactly the models."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from portal.extensions import db
from portal.models import Base
from portal.models.search import include_object
from tests.conftest import PG_ADMIN_URL, REQUIRE_POSTGRES, _postgres_available, build_app, skip_or_fail


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    problem = _postgres_available()
    if problem:
        skip_or_fail(problem, REQUIRE_POSTGRES)
    name = f"portal_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _diff(app) -> list:
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object})
        return compare_metadata(context, Base.metadata)


def test_upgrade_on_an_empty_database_yields_exactly_the_models(empty_database_url):
    app = build_app(empty_database_url)
    with app.app_context():
        upgrade()
    assert _diff(app) == []
    with app.app_context():
        tables = {t for t in inspect(db.engine).get_table_names()
                  if t != "alembic_version" and not t.startswith("product_search")}
        db.engine.dispose()
    assert tables == set(Base.metadata.tables)


def test_downgrade_to_base_and_upgrade_again_round_trips(empty_database_url):
    app = build_app(empty_database_url)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}, "downgrade left tables"
        upgrade()
    assert _diff(app) == []
    with app.app_context():
        db.engine.dispose()


def test_check_constraints_are_in_the_migrated_schema(empty_database_url):
    """Alembic's autogenerate does not compare CHECK constraints, so compare their names here."""
    app = build_app(empty_database_url)
    with app.app_context():
        upgrade()
        inspector = inspect(db.engine)
        for table in Base.metadata.sorted_tables:
            expected = {c.name for c in table.constraints if c.__class__.__name__ == "CheckConstraint"}
            found = {c["name"] for c in inspector.get_check_constraints(table.name)}
            assert expected <= found, f"{table.name}: missing {expected - found}"
        db.engine.dispose()


#: Rows of a database at 0004 (before the back office, payments and notifications migrations), one
#: of everything those migrations alter or rebuild. SQLite rebuilds a table for some changes (batch
#: mode); dropping the old table must never cascade into the rows that refer to it.
ROWS_AT_0004 = (
    "INSERT INTO categories (id, name, slug) VALUES (1, 'Tools', 'tools')",
    "INSERT INTO vendors (id, name, contact_name, email, phone, lead_time_days, min_order_value, pack_size,"
    " active) VALUES (1, 'Acme', '', 'v@example.com', '', 7, 0, 1, TRUE)",
    "INSERT INTO products (id, sku, name, description, category_id, vendor_id, price, order_minimum,"
    " order_multiple, backorder_policy, backorder_visibility, stock_display, low_stock_threshold, active,"
    " created_at) VALUES (1, 'FAS-0089101', 'Hex bolt', 'zinc plated', 1, 1, 2.50, 1, 1, 'allow', 'show',"
    " 'exact', 10, TRUE, '2026-11-01 10:00:00+00')",
    "INSERT INTO warehouses (id, code, name) VALUES (1, 'MAIN', 'Main')",
    "INSERT INTO stock (id, product_id, warehouse_id, on_hand, allocated) VALUES (1, 1, 1, 5, 5)",
    "INSERT INTO stock_movements (id, product_id, warehouse_id, quantity, kind, reason, reference,"
    " created_at) VALUES (1, 1, 1, 5, 'initial', '', '', '2026-11-01 10:00:00+00')",
    "INSERT INTO companies (id, name, account_number, payment_terms, credit_limit, priority_tier, active,"
    " created_at) VALUES (1, 'Buyer Co', 'C1', 'net30', 1000, 2, TRUE, '2026-11-01 10:00:00+00')",
    "INSERT INTO users (id, email, name, role, company_id, active, created_at) VALUES"
    " (1, 'b@example.com', 'B', 'buyer', 1, TRUE, '2026-11-01 10:00:00+00')",
    "INSERT INTO orders (id, number, checkout_token, company_id, placed_by_id, placed_at, status,"
    " po_reference, shipping_preference, payment_method, ship_to_text, subtotal, adjustments_total, total)"
    " VALUES"
    " (1, 'SO-00001', 'tok', 1, 1, '2026-11-02 10:00:00+00', 'open', '', 'ship_partial', 'on_account', '',"
    " 25, -1, 24)",
    "INSERT INTO order_lines (id, order_id, product_id, sku, name, quantity, allocated, backordered, shipped,"
    " cancelled, unit_price, line_total, eta_estimated, accepted_late, backorder_hidden) VALUES"
    " (1, 1, 1, 'FAS-0089101', 'Hex bolt', 10, 5, 5, 0, 0, 2.50, 25, FALSE, FALSE, FALSE)",
    "INSERT INTO order_adjustments (id, order_id, order_line_id, kind, description, amount, created_at)"
    " VALUES (1, 1, 1, 'goodwill_rule', 'Late', -1, '2026-11-02 10:00:00+00')",
    "INSERT INTO purchase_orders (id, number, vendor_id, status, notes, created_at) VALUES"
    " (1, 'PO-00001', 1, 'sent', '', '2026-11-01 10:00:00+00')",
    "INSERT INTO purchase_order_lines (id, purchase_order_id, product_id, quantity_ordered,"
    " quantity_received, expected_date) VALUES (1, 1, 1, 20, 0, '2026-12-12')",
    "INSERT INTO outbox_messages (id, topic, recipient_user_id, recipient_email, payload, created_at,"
    " available_at, attempts, last_error) VALUES (1, 'order_confirmed', 1, 'b@example.com', '{}',"
    " '2026-11-02 10:00:00+00', '2026-11-02 10:00:00+00', 0, '')",
    "INSERT INTO carts (id, user_id, company_id, po_reference, shipping_preference, payment_method,"
    " updated_at) VALUES (1, 1, 1, '', 'ship_partial', 'on_account', '2026-11-02 10:00:00+00')",
    "INSERT INTO cart_lines (id, cart_id, product_id, quantity, accept_late) VALUES (1, 1, 1, 3, FALSE)",
)


def test_upgrading_a_database_with_data_keeps_every_row(empty_database_url):
    """From 0004 to head with real rows in place: nothing is lost (a batch rebuild on SQLite must not
    cascade), and the rebuilt search objects index the existing products."""
    from sqlalchemy import text

    from portal.services import catalog
    from portal.services.pricing import PriceBook

    app = build_app(empty_database_url)
    tables = ("products", "stock", "stock_movements", "orders", "order_lines", "order_adjustments",
              "purchase_orders", "purchase_order_lines", "outbox_messages", "carts", "cart_lines")
    with app.app_context():
        upgrade(revision="0004_orders")
        with db.engine.begin() as conn:
            for statement in ROWS_AT_0004:
                conn.execute(text(statement))
        upgrade()
        with db.engine.connect() as conn:
            counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables}  # noqa: S608
        assert counts == dict.fromkeys(tables, 1)
        found = catalog.search(catalog.CatalogQuery(text="FAS-00891", category_id=1), PriceBook(None),
                               date(2026, 12, 1))
        assert [card.product.sku for card in found.cards] == ["FAS-0089101"]
        db.session.remove()
        db.engine.dispose()
