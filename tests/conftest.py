"""Shared fixtures: an app on SQLite (default) or PostgreSQL, a clean database per test, clients.

Schema comes from the Alembic migrations (never ``create_all``), applied once per run and backend.
PostgreSQL gets a fresh database per run, created and dropped here; ``TEST_DATABASE_URL`` points at
another server. Without PostgreSQL the tests that need it skip, unless ``REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import contextvars
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, has_app_context
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from portal import create_app
from portal.extensions import db
from portal.models import Base

REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_PASSWORD = "correct-horse-battery"  # noqa: S105


def test_environ(database_url: str) -> dict[str, str]:
    return {
        "PORTAL_ENV": "testing",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "DATABASE_URL": database_url,
        # Cheap hashing keeps tests fast; production uses the defaults.
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
    }


def build_app(database_url: str, **overrides) -> Flask:
    return create_app({"environ": test_environ(database_url), **overrides})


def migrate_to_head(app: Flask) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


def wipe(app: Flask) -> None:
    """Empty every table (fast clean-up between tests; the schema stays)."""
    with app.app_context():
        db.session.remove()
        engine = db.engine
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            else:
                conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
                for name in tables:
                    conn.exec_driver_sql(f'DELETE FROM "{name}"')  # noqa: S608 - our own table names
                conn.exec_driver_sql("PRAGMA foreign_keys = ON")


# --- databases ------------------------------------------------------------------------------------


def _postgres_available() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}"


def skip_or_fail(reason: str, required: bool) -> None:
    if required:
        pytest.fail(f"{reason} (required by the environment)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("db") / "portal-test.db"
    url = f"sqlite:///{path}"
    migrate_to_head(build_app(url))
    yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    problem = _postgres_available()
    if problem:
        skip_or_fail(problem, REQUIRE_POSTGRES)
    name = f"portal_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    migrate_to_head(build_app(url))
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


# --- apps --------------------------------------------------------------------------------------------


class IsolatedClient(FlaskClient):
    """Runs each request in its own app context, as a real server does.

    The ``app`` fixture keeps an app context pushed for the test body, and Flask reuses a pushed context
    for requests: ``g`` (Flask-Login's cached user, Flask-WTF's CSRF token) would then carry over from one
    request to the next and even from one client to another, so a logged-out cookie would seem to work.
    After the request the test's own session ends its read transaction, so it sees what the request wrote.
    """

    def open(self, *args, **kwargs):
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if has_app_context():
            db.session.rollback()
        return response


def _app_for(url: str) -> Iterator[Flask]:
    app = build_app(url)
    app.test_client_class = IsolatedClient
    wipe(app)
    with app.app_context():
        yield app
        db.session.remove()
    wipe(app)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(sqlite_url) -> Iterator[Flask]:
    """The app on SQLite, inside an app context, on an empty (migrated) database."""
    yield from _app_for(sqlite_url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_app(request) -> Iterator[Flask]:
    """The app on each backend: integration tests that must hold on SQLite and PostgreSQL use this."""
    url = request.getfixturevalue(f"{request.param}_url")
    yield from _app_for(url)


# --- clients ----------------------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def csrf_token(client: FlaskClient) -> str:
    """A CSRF token for the client's current session, read from a page it can see."""
    page = client.get("/", follow_redirects=True)
    match = _CSRF.search(page.get_data(as_text=True))
    assert match, "no CSRF token on the start page"
    return match.group(1)


def post_form(client: FlaskClient, url: str, data: dict | None = None, **kwargs):
    payload = {"csrf_token": csrf_token(client), **(data or {})}
    return client.post(url, data=payload, **kwargs)


def login(client: FlaskClient, email: str, password: str = TEST_PASSWORD):
    response = post_form(client, "/login", {"email": email, "password": password})
    assert response.status_code == 302, f"login failed for {email}: {response.status_code}"
    return response


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
