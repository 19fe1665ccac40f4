"""API keys (the ordering API's credentials), on SQLite and PostgreSQL: a key is generated, shown once and
stored as its hash; only buyers of a company get keys, at most ten active ones each; a buyer revokes only
their own keys, and revoking twice changes nothing more."""

from __future__ import annotations

import threading

import pytest
from flask import current_app
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ApiKey, AuditLog, User
from portal.services import NotFound, ServiceError, api_keys
from tests.factories import make_company, make_user


@pytest.fixture(autouse=True)
def _backends(any_app):
    return any_app


def buyer() -> User:
    return make_user(company=make_company(), password=None)


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def audited(action: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_a_key_is_random_prefixed_and_stored_only_as_its_hash():
    user = buyer()

    key, raw = api_keys.create_key(user, "  ERP production ")
    _, other = api_keys.create_key(user, "EDI gateway")

    db.session.rollback()
    stored = db.session.get(ApiKey, key.id)
    assert raw.startswith("nwk_") and len(raw) == len("nwk_") + 43 and raw != other
    assert (stored.user_id, stored.name, stored.prefix) == (user.id, "ERP production", raw[:12])
    assert stored.key_hash == api_keys.hash_key(raw) and raw not in stored.key_hash
    assert stored.created_at is not None and stored.revoked_at is None
    (created, _) = audited("api_key_created")
    assert (created.actor_id, created.entity_id) == (user.id, key.id)
    assert raw not in created.after and raw[:12] in created.after


@pytest.mark.parametrize("role", ["sales_rep", "admin"])
def test_staff_get_no_keys(role):
    staff = make_user(role, password=None)
    with pytest.raises(ServiceError, match="Only buyers"):
        api_keys.create_key(staff, "Mine")
    assert count(ApiKey) == 0 and count(AuditLog) == 0


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_a_name_must_have_1_to_100_characters(name):
    user = buyer()
    with pytest.raises(ServiceError, match="name"):
        api_keys.create_key(user, name)
    assert count(ApiKey) == 0


def test_a_buyer_has_at_most_ten_active_keys_and_revoked_ones_do_not_count():
    user = buyer()
    first, _ = api_keys.create_key(user, "Key 0")
    for n in range(1, api_keys.MAX_ACTIVE_KEYS):
        api_keys.create_key(user, f"Key {n}")

    with pytest.raises(ServiceError, match="already have 10 active API keys"):
        api_keys.create_key(user, "Key 10")
    assert count(ApiKey) == 10

    api_keys.revoke_key(user, first.id)
    api_keys.create_key(user, "Key 10")
    assert count(ApiKey) == 11
    assert len(api_keys.create_key(buyer(), "Someone else's")) == 2  # the cap is per buyer


def test_requests_at_once_cannot_pass_the_cap_together():
    """The buyer's row is locked before the active keys are counted (SQLite: BEGIN IMMEDIATE)."""
    user = buyer()
    for n in range(api_keys.MAX_ACTIVE_KEYS - 2):
        api_keys.create_key(user, f"Key {n}")
    user_id, app, tries = user.id, current_app._get_current_object(), 6
    barrier = threading.Barrier(tries, timeout=30)
    results: list[str] = []

    def create(n: int) -> None:
        with app.app_context():
            try:
                me = db.session.get(User, user_id)
                db.session.rollback()
                barrier.wait()
                api_keys.create_key(me, f"Racing {n}")
                results.append("created")
            except ServiceError:
                results.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(tries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results) == ["created"] * 2 + ["refused"] * (tries - 2)
    assert count(ApiKey) == api_keys.MAX_ACTIVE_KEYS


def test_a_buyer_revokes_their_own_key_once():
    user = buyer()
    key, _ = api_keys.create_key(user, "ERP")

    revoked = api_keys.revoke_key(user, key.id)
    again = api_keys.revoke_key(user, key.id)

    db.session.rollback()
    assert revoked.revoked_at is not None
    assert db.session.get(ApiKey, key.id).revoked_at == again.revoked_at
    assert [row.entity_id for row in audited("api_key_revoked")] == [key.id]


def test_another_buyers_key_or_an_unknown_id_is_not_found_and_unchanged():
    owner, stranger = buyer(), buyer()
    key, _ = api_keys.create_key(owner, "ERP")

    for key_id in (key.id, key.id + 1, 0, 2**31):
        with pytest.raises(NotFound):
            api_keys.revoke_key(stranger, key_id)

    db.session.rollback()
    assert db.session.get(ApiKey, key.id).revoked_at is None
    assert audited("api_key_revoked") == []


def test_keys_of_lists_the_buyers_own_keys_newest_first():
    user, other = buyer(), buyer()
    older, _ = api_keys.create_key(user, "Older")
    newer, _ = api_keys.create_key(user, "Newer")
    api_keys.create_key(other, "Not yours")
    api_keys.revoke_key(user, older.id)

    assert [k.name for k in api_keys.keys_of(user)] == ["Newer", "Older"]
