"""The schema comes only from migrations: upgrading an empty database yields exactly the models."""

from __future__ import annotations

import uuid

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
