"""Login sessions live in the database: signing out, a new password or deactivation end them for good."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal.database import write_transaction
from portal.extensions import db
from portal.models import LoginSession, User
from portal.models.base import utcnow
from portal.services import accounts
from tests.conftest import TEST_PASSWORD, login, post_form

NEW_PASSWORD = "a-brand-new-password-42"


def _session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None, "no session cookie"
    return cookie.value


def _live_sessions(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(LoginSession)
                             .where(LoginSession.user_id == user_id))


def _is_signed_in(client) -> bool:
    response = client.get("/account/password")
    if response.status_code == 302:
        assert response.location.startswith("/login")
        return False
    assert response.status_code == 200
    return True


def test_login_starts_a_new_session_and_drops_what_was_planted_before(app, world):
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as planted:
        planted["sid"] = "attacker-chosen-token"
        planted["planted"] = "from before the login"
    before = _session_cookie(client)

    login(client, world.email("buyer_a"))

    assert _session_cookie(client) != before
    with client.session_transaction() as session:
        assert session["sid"] != "attacker-chosen-token"
        assert "planted" not in session
        assert db.session.get(LoginSession, session["sid"]).user_id == world.buyer_a


def test_a_second_login_gets_a_different_session_id(app, world):
    first, second = app.test_client(), app.test_client()
    login(first, world.email("buyer_a"))
    login(second, world.email("buyer_a"))
    with first.session_transaction() as one, second.session_transaction() as two:
        assert one["sid"] != two["sid"]
    assert _live_sessions(world.buyer_a) == 2


def test_a_cookie_captured_before_logout_is_refused_after_logout(app, world):
    client = app.test_client()
    login(client, world.email("buyer_a"))
    stolen = _session_cookie(client)
    assert _is_signed_in(client)

    response = post_form(client, "/logout")
    assert response.status_code == 302 and response.location == "/login"
    assert _live_sessions(world.buyer_a) == 0

    replay = app.test_client()
    replay.set_cookie("session", stolen)
    response = replay.get("/account/")
    assert response.status_code == 302
    assert response.location.startswith("/login")


def test_logout_ends_only_this_browsers_session(app, world):
    office, laptop = app.test_client(), app.test_client()
    login(office, world.email("buyer_a"))
    login(laptop, world.email("buyer_a"))
    post_form(office, "/logout")
    assert not _is_signed_in(office)
    assert _is_signed_in(laptop)


def test_changing_the_password_ends_every_other_session(app, world):
    here, elsewhere = app.test_client(), app.test_client()
    login(here, world.email("buyer_a"))
    login(elsewhere, world.email("buyer_a"))

    response = post_form(here, "/account/password", {
        "current": TEST_PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert response.status_code == 302 and response.location == "/login"
    assert not _is_signed_in(elsewhere)
    assert not _is_signed_in(here)
    assert _live_sessions(world.buyer_a) == 0
    login(app.test_client(), world.email("buyer_a"), NEW_PASSWORD)


def test_setting_a_password_from_a_link_ends_every_other_session(app, world):
    elsewhere = app.test_client()
    login(elsewhere, world.email("buyer_a"))
    post_form(app.test_client(), f"/set-password/{world.token_a}",
              {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert not _is_signed_in(elsewhere)


def test_following_a_set_password_link_while_signed_in_ends_the_old_session(app, world):
    """Someone else's link opened on a signed-in browser: the first user's session must not linger."""
    browser = app.test_client()
    login(browser, world.email("rep_a"))
    old_cookie = _session_cookie(browser)

    response = post_form(browser, f"/set-password/{world.token_a}",
                         {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert response.status_code == 302 and response.location == "/catalog/"
    assert _live_sessions(world.rep_a) == 0
    replay = app.test_client()
    replay.set_cookie("session", old_cookie)
    assert not _is_signed_in(replay)


def test_a_deactivated_users_session_stops_working(app, world, client_for):
    buyer = client_for("buyer_a")
    assert _is_signed_in(buyer)

    response = post_form(client_for("admin"), f"/admin/users/{world.buyer_a}/active")

    assert response.status_code == 302
    assert db.session.get(User, world.buyer_a).active is False
    assert not _is_signed_in(buyer)
    refused = post_form(app.test_client(), "/login",
                        {"email": world.email("buyer_a"), "password": TEST_PASSWORD})
    assert refused.status_code == 401


def test_a_session_whose_user_was_deactivated_directly_is_refused(app, world, client_for):
    """Even if a session row survived (deactivated outside the service), the loader refuses it."""
    buyer = client_for("buyer_a")
    with write_transaction() as s:
        s.execute(update(User).where(User.id == world.buyer_a).values(active=False))
    assert _live_sessions(world.buyer_a) == 1
    assert not _is_signed_in(buyer)


def test_an_expired_login_session_is_refused(app, world, client_for):
    buyer = client_for("buyer_a")
    with write_transaction() as s:
        s.execute(update(LoginSession).where(LoginSession.user_id == world.buyer_a)
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert not _is_signed_in(buyer)


def test_a_login_session_lasts_the_configured_hours(app, world, client_for):
    client_for("buyer_a")
    row = db.session.scalar(select(LoginSession).where(LoginSession.user_id == world.buyer_a))
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=utcnow().tzinfo)
    lifetime = expires - utcnow()
    hours = app.config["SESSION_LIFETIME_HOURS"]
    assert timedelta(hours=hours) - timedelta(minutes=1) < lifetime <= timedelta(hours=hours)


def test_a_session_cookie_naming_another_users_session_is_refused(app, world, client_for):
    buyer_a, buyer_b = client_for("buyer_a"), client_for("buyer_b")
    with buyer_b.session_transaction() as other:
        sid_of_b = other["sid"]
    with buyer_a.session_transaction() as mine:
        mine["sid"] = sid_of_b  # user id A with B's session token
    assert not _is_signed_in(buyer_a)


@pytest.mark.parametrize("target", [
    "//evil.com", "https://evil.com", "http://evil.com/account/", "/\\evil.com", "\\\\evil.com",
    "///evil.com", "/\t/evil.com", "javascript:alert(1)",
])
def test_login_ignores_a_next_that_leaves_the_site(app, world, target):
    client = app.test_client()
    response = post_form(client, "/login", {"email": world.email("buyer_a"), "password": TEST_PASSWORD},
                         query_string={"next": target})
    assert response.status_code == 302
    assert response.location == "/catalog/"


def test_login_follows_a_next_within_the_site(app, world):
    client = app.test_client()
    response = post_form(client, "/login", {"email": world.email("buyer_a"), "password": TEST_PASSWORD},
                         query_string={"next": "/account/"})
    assert response.location == "/account/"


def test_a_protected_page_sends_the_visitor_to_login_and_back(app, world):
    client = app.test_client()
    response = client.get("/account/")
    assert response.status_code == 302
    assert response.location == "/login?next=%2Faccount%2F"
    response = post_form(client, response.location,
                         {"email": world.email("buyer_a"), "password": TEST_PASSWORD})
    assert response.location == "/account/"


def test_login_records_the_last_login_time(app, world, client_for):
    assert db.session.get(User, world.buyer_a).last_login_at is None
    client_for("buyer_a")
    assert db.session.get(User, world.buyer_a).last_login_at is not None


def test_login_clears_expired_sessions_of_the_user(app, world, client_for):
    client_for("buyer_a")
    with write_transaction() as s:
        s.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(hours=1)))
    client_for("buyer_a")
    assert _live_sessions(world.buyer_a) == 1


def test_sessions_of_other_users_survive_a_password_change(app, world, client_for):
    colleague = client_for("buyer_b")
    accounts.change_password(db.session.get(User, world.buyer_a), TEST_PASSWORD, NEW_PASSWORD)
    assert _is_signed_in(colleague)
