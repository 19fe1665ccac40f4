"""Password guessing is slowed per account and per client address; real sign-ins cost nothing."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import LoginSession
from tests.conftest import TEST_PASSWORD, post_form
from tests.web.site import seed_world

WRONG = "not-the-password"
LIMITED = "Too many attempts"


def _attempt(client, email: str, password: str = WRONG, addr: str = "127.0.0.1"):
    return post_form(client, "/login", {"email": email, "password": password},
                     environ_overrides={"REMOTE_ADDR": addr})


def _sessions() -> int:
    return db.session.scalar(select(func.count()).select_from(LoginSession))


def test_the_default_account_budget_is_five_failures_per_five_minutes(app):
    assert app.config["LOGIN_LIMIT_PER_ACCOUNT"] == "5 per 5 minutes"


def test_the_sixth_wrong_password_for_one_account_is_refused_with_429(app, world):
    client = app.test_client()
    for _ in range(5):
        assert _attempt(client, world.email("buyer_a")).status_code == 401
    response = _attempt(client, world.email("buyer_a"))
    assert response.status_code == 429
    assert LIMITED in response.get_data(as_text=True)
    assert "Please wait a few minutes" in response.get_data(as_text=True)


def test_once_an_account_is_limited_even_the_right_password_is_refused(app, world):
    client = app.test_client()
    for _ in range(6):
        _attempt(client, world.email("buyer_a"))
    assert _attempt(app.test_client(), world.email("buyer_a"), TEST_PASSWORD).status_code == 429
    assert _sessions() == 0


def test_the_account_budget_ignores_the_case_of_the_email(app, world):
    client = app.test_client()
    for spelling in ["buyer-a@example.com", "BUYER-A@example.com", "Buyer-A@Example.com",
                     "bUyEr-A@example.com", "buyer-a@EXAMPLE.COM"]:
        assert _attempt(client, spelling).status_code == 401
    assert _attempt(client, "buyer-a@example.com").status_code == 429


def test_limiting_one_account_leaves_other_accounts_alone(app, world):
    client = app.test_client()
    for _ in range(6):
        _attempt(client, world.email("buyer_a"))
    assert _attempt(client, world.email("buyer_b"), TEST_PASSWORD).status_code == 302


def test_the_account_can_sign_in_again_once_the_window_has_passed(make_app):
    app = make_app(LOGIN_LIMIT_PER_ACCOUNT="2 per 1 second")
    world = seed_world()
    client = app.test_client()
    assert [_attempt(client, world.email("buyer_a")).status_code for _ in range(3)] == [401, 401, 429]
    assert _attempt(client, world.email("buyer_a"), TEST_PASSWORD).status_code == 429
    time.sleep(1.2)
    assert _attempt(client, world.email("buyer_a"), TEST_PASSWORD).status_code == 302


def test_successful_logins_do_not_use_up_the_budget(app, world):
    for _ in range(8):
        client = app.test_client()
        assert _attempt(client, world.email("buyer_a"), TEST_PASSWORD).status_code == 302
        assert post_form(client, "/logout").status_code == 302
    client = app.test_client()
    assert [_attempt(client, world.email("buyer_a")).status_code for _ in range(6)] == [401] * 5 + [429]


def test_one_address_trying_many_accounts_is_limited(make_app):
    app = make_app(LOGIN_LIMIT_PER_IP="3 per minute")
    world = seed_world()
    client = app.test_client()
    emails = [world.email("buyer_a"), world.email("buyer_b"), world.email("rep_a"), world.email("rep_b")]
    statuses = [_attempt(client, email, addr="10.0.0.1").status_code for email in emails]
    assert statuses == [401, 401, 401, 429]
    limited = _attempt(client, world.email("admin"), TEST_PASSWORD, addr="10.0.0.1")
    assert limited.status_code == 429
    assert LIMITED in limited.get_data(as_text=True)


def test_another_address_is_not_limited_by_the_first(make_app):
    app = make_app(LOGIN_LIMIT_PER_IP="3 per minute")
    world = seed_world()
    client = app.test_client()
    for email in ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]:
        _attempt(client, email, addr="10.0.0.1")
    assert _attempt(client, "e@example.com", addr="10.0.0.2").status_code == 401
    signed_in = _attempt(app.test_client(), world.email("admin"), TEST_PASSWORD, addr="10.0.0.2")
    assert signed_in.status_code == 302


def test_set_password_posts_are_limited_per_address(make_app):
    app = make_app(LOGIN_LIMIT_PER_IP="2 per minute")
    world = seed_world()
    client = app.test_client()
    url = f"/set-password/{world.token_a}"
    mismatched = {"password": "first-password-123", "confirm": "other-password-123"}
    assert [post_form(client, url, mismatched).status_code for _ in range(3)] == [422, 422, 429]
    assert client.get(url).status_code == 200  # reading the page is not limited
