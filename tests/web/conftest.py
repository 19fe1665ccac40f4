"""Web-test fixtures: a small world of two companies and the people who use the portal.

Company A is looked after by rep A, company B by rep B. Each company has one buyer and one address.
``world`` builds it on the clean database the ``app`` fixture gives; ``client_for`` signs a persona in
on a fresh test client (a separate browser).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from tests.conftest import IsolatedClient, build_app, login, wipe
from tests.web.site import PERSONAS, World, remove_image_files, seed_world


@pytest.fixture
def app(app) -> Flask:
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture
def world(app) -> Iterator[World]:
    built = seed_world(with_image=True)
    yield built
    remove_image_files(app, built)


@pytest.fixture
def client_for(app, world) -> Callable[[str], FlaskClient]:
    """``client_for("buyer_a")``: a new client signed in as that persona (``"anonymous"``: not signed in)."""

    def make(persona: str) -> FlaskClient:
        assert persona in PERSONAS, persona
        client = app.test_client()
        if persona != "anonymous":
            login(client, world.email(persona))
        return client

    return make


@pytest.fixture
def make_app(sqlite_url) -> Iterator[Callable[..., Flask]]:
    """Build an app with config overrides (``make_app(LOGIN_LIMIT_PER_IP="3 per minute")``) on the clean
    test database, inside its app context. Cleaned up after the test."""
    contexts = []

    def make(**overrides) -> Flask:
        new_app = build_app(sqlite_url, **overrides)
        new_app.test_client_class = IsolatedClient
        wipe(new_app)
        ctx = new_app.app_context()
        ctx.push()
        contexts.append((new_app, ctx))
        return new_app

    yield make
    for built, ctx in reversed(contexts):
        db.session.remove()
        ctx.pop()
        wipe(built)
