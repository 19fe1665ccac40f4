"""API keys for buyers' own systems (see ``portal.models.api_keys`` and ``portal/api``).

A key is shown to its buyer once, when it is created; only its SHA-256 is stored, with its first
characters (``prefix``) so the buyer can tell keys apart. A buyer has at most ``MAX_ACTIVE_KEYS`` keys
that are not revoked. Revoking is permanent: a revoked key is never accepted again.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import ApiKey, User
from portal.models.base import utcnow
from portal.services import NotFound, ServiceError
from portal.services.audit import record

#: Every key starts with this, so a leaked key is easy to recognise (and to search for in code).
KEY_PREFIX = "nwk_"
#: How many characters of a key are kept in clear and shown in lists ("nwk_" and 8 random ones).
SHOWN_PREFIX_LENGTH = 12
MAX_NAME_LENGTH = 100
MAX_ACTIVE_KEYS = 10
#: Ids beyond a 32-bit integer exist nowhere (and PostgreSQL refuses them).
MAX_ID = 2**31 - 1


def hash_key(raw: str) -> str:
    """What is stored and looked up: SHA-256 of the whole key, hex."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def keys_of(user: User) -> list[ApiKey]:
    """The user's keys, revoked ones included, newest first."""
    return list(db.session.scalars(
        select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.id.desc())))


def create_key(user: User, name: str) -> tuple[ApiKey, str]:
    """A new key for ``user`` (a buyer of a company) and the key itself, which exists nowhere else.

    The user's row is locked first, so two requests at once cannot both create the tenth key."""
    name = (name or "").strip()
    if user.role != "buyer" or user.company_id is None:
        raise ServiceError("Only buyers of a customer company can create API keys.")
    if not name:
        raise ServiceError("Enter a name for the key.")
    if len(name) > MAX_NAME_LENGTH:
        raise ServiceError(f"The name has at most {MAX_NAME_LENGTH} characters.")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    with write_transaction() as session:
        session.scalar(select(User.id).where(User.id == user.id).with_for_update(key_share=True))
        active = session.scalar(select(func.count(ApiKey.id)).where(
            ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None)))
        if active >= MAX_ACTIVE_KEYS:
            raise ServiceError(f"You already have {MAX_ACTIVE_KEYS} active API keys, the most a buyer may "
                               "have. Revoke one you no longer use, then create the new one.")
        key = ApiKey(user_id=user.id, name=name, prefix=raw[:SHOWN_PREFIX_LENGTH], key_hash=hash_key(raw))
        session.add(key)
        session.flush()
        record(user, "api_key_created", "api_key", key.id, after={"name": name, "prefix": key.prefix})
    return key, raw


def revoke_key(user: User, key_id: int) -> ApiKey:
    """Revoke one of the user's own keys (any other id is NotFound). Revoking a revoked key changes
    nothing."""
    if not 0 < key_id <= MAX_ID:
        raise NotFound("That API key does not exist.")
    with write_transaction() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id)
                             .with_for_update())
        if key is None:
            raise NotFound("That API key does not exist.")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            record(user, "api_key_revoked", "api_key", key.id, before={"revoked_at": None},
                   after={"name": key.name, "prefix": key.prefix, "revoked_at": key.revoked_at.isoformat()})
    return key
