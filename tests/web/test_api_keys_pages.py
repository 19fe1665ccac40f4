"""The buyer's API keys page: a new key is shown once (only its hash is stored), the list never shows it
again, a buyer revokes only their own keys (404 otherwise, nothing changed), bad names and an eleventh
active key are refused with a message and write nothing, and staff and visitors cannot use the page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import ApiKey, AuditLog, User
from portal.services import api_keys
from tests.conftest import post_form
from tests.web.site import db_snapshot, parse

PAGE = "/account/api-keys"
_NEW_KEY = re.compile(r'id="new-key" value="([^"]+)"')


def revoke_url(key_id: int) -> str:
    return f"/account/api-keys/{key_id}/revoke"


def create(client, name: str = "ERP production"):
    return post_form(client, PAGE, {"name": name})


def shown_key(html: str) -> str:
    found = _NEW_KEY.search(html)
    assert found, "the new key is not on the page"
    return found.group(1)


def keys_of(user_id: int) -> list[ApiKey]:
    db.session.rollback()
    return list(db.session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)))


def audit_actions(entity_id: int) -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).where(AuditLog.entity == "api_key",
                                                                 AuditLog.entity_id == entity_id)
                                   .order_by(AuditLog.id)))


# --- creating a key -----------------------------------------------------------------------------------


def test_a_new_key_is_shown_once_uncached_and_only_its_hash_is_stored(world, client_for):
    client = client_for("buyer_a")

    response = create(client, "  ERP production  ")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    raw = shown_key(response.get_data(as_text=True))
    assert raw.startswith(api_keys.KEY_PREFIX) and len(raw) >= 40
    new = keys_of(world.buyer_a)[-1]
    assert (new.name, new.prefix, new.key_hash) == ("ERP production", raw[:12], api_keys.hash_key(raw))
    assert new.revoked_at is None
    assert not any(raw in repr(row) for rows in db_snapshot().values() for row in rows)
    assert all(raw not in cookie for cookie in response.headers.getlist("Set-Cookie"))
    with client.session_transaction() as session:
        assert raw not in repr(dict(session))
    assert audit_actions(new.id) == ["api_key_created"]


def test_the_new_key_comes_with_a_labelled_read_only_field_and_how_to_use_it(world, client_for):
    html = create(client_for("buyer_a")).get_data(as_text=True)

    page = parse(html)
    assert [h.text.strip() for h in page.find("h1")] == ["API keys"]
    (field,) = [e for e in page.find("input") if e.attrs.get("id") == "new-key"]
    assert "readonly" in field.attrs
    assert [label.text for label in page.find("label") if label.attrs.get("for") == "new-key"] == [
        "API key “ERP production”"]
    assert 'data-copy-target="new-key"' in html
    assert "curl -X POST http://localhost/api/v1/orders" in html
    assert "Authorization: Bearer $NORTHWIND_API_KEY" in html and "Idempotency-Key: " in html
    assert 'href="#api-reference"' in html and 'id="api-reference"' in html
    assert "only time it is shown" in html


def test_the_list_never_shows_a_key_again(world, client_for):
    client = client_for("buyer_a")
    raw = shown_key(create(client).get_data(as_text=True))

    html = client.get(PAGE).get_data(as_text=True)

    assert raw not in html
    assert 'id="new-key"' not in html
    row = html[html.index(f'id="api-key-{keys_of(world.buyer_a)[-1].id}"'):]
    assert "ERP production" in row and f"{raw[:12]}…" in row and "Active" in row
    assert raw not in client.get("/account/").get_data(as_text=True)


def test_the_list_shows_the_buyers_own_keys_newest_first(world, client_for):
    client = client_for("buyer_a")
    create(client, "Older")
    create(client, "Newer")

    html = client.get(PAGE).get_data(as_text=True)

    assert html.index("Newer") < html.index("Older") < html.index("World ERP")
    assert "World ERP" not in client_for("buyer_b").get(PAGE).get_data(as_text=True)


def test_the_my_company_page_links_to_the_api_keys(world, client_for):
    html = client_for("buyer_a").get("/account/").get_data(as_text=True)
    assert f'href="{PAGE}">API keys</a>' in html


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "message"), [
    ("", "Enter a name for the key."),
    ("    ", "Enter a name for the key."),
    ("x" * 101, "The name has at most 100 characters."),
])
def test_a_bad_name_is_refused_with_a_message_and_writes_nothing(world, client_for, name, message):
    client = client_for("buyer_a")
    before = db_snapshot()

    response = create(client, name)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'aria-invalid="true"' in html
    assert 'id="new-key"' not in html
    assert db_snapshot() == before


def test_a_name_of_exactly_100_characters_is_accepted(world, client_for):
    response = create(client_for("buyer_a"), "x" * 100)
    assert response.status_code == 200
    assert keys_of(world.buyer_a)[-1].name == "x" * 100


def test_an_eleventh_active_key_is_refused_until_one_is_revoked(world, client_for):
    client = client_for("buyer_a")
    buyer = db.session.get(User, world.buyer_a)
    for n in range(api_keys.MAX_ACTIVE_KEYS - 1):  # the world's key is the first
        api_keys.create_key(buyer, f"System {n}")
    before = db_snapshot()

    response = create(client, "One too many")

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "You already have 10 active API keys" in html and 'role="alert"' in html
    assert 'id="new-key"' not in html
    assert db_snapshot() == before

    assert post_form(client, revoke_url(world.api_key_a)).status_code == 302
    assert create(client, "One too many").status_code == 200


# --- revoking -------------------------------------------------------------------------------------


def test_revoking_a_key_marks_it_revoked_and_audits_it_once(world, client_for):
    client = client_for("buyer_a")

    response = post_form(client, revoke_url(world.api_key_a))

    assert response.status_code == 302 and response.location == PAGE
    (key,) = keys_of(world.buyer_a)
    revoked_at = key.revoked_at
    assert revoked_at is not None
    html = client.get(PAGE).get_data(as_text=True)
    assert "Revoked “World ERP” (nwk_worldkey…)" in html
    row = html[html.index(f'id="api-key-{key.id}"'):html.index("</tr>", html.index(f'id="api-key-{key.id}"'))]
    assert "Revoked" in row and revoke_url(key.id) not in row

    again = post_form(client, revoke_url(world.api_key_a))

    assert again.status_code == 302
    assert keys_of(world.buyer_a)[0].revoked_at == revoked_at
    assert audit_actions(key.id) == ["api_key_revoked"]


def test_another_buyers_key_or_an_unknown_id_is_404_and_changes_nothing(world, client_for):
    client = client_for("buyer_b")
    before = db_snapshot()

    for key_id in (world.api_key_a, world.api_key_a + 1000, 2**31):
        assert post_form(client, revoke_url(key_id)).status_code == 404, key_id

    assert db_snapshot() == before


# --- who may use the page -------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["rep_a", "admin"])
def test_staff_are_refused_and_nothing_is_written(world, client_for, persona):
    client = client_for(persona)
    before = db_snapshot()

    assert client.get(PAGE).status_code == 403
    assert create(client).status_code == 403
    assert post_form(client, revoke_url(world.api_key_a)).status_code == 403

    assert db_snapshot() == before


def test_visitors_are_sent_to_sign_in(world, client_for):
    client = client_for("anonymous")
    response = client.get(PAGE)
    assert response.status_code == 302 and response.location.startswith("/login")
