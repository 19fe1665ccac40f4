"""Back-office settings stored in ``portal_settings`` (changed by admins on /admin/settings without a
restart, unlike the environment settings of ``portal.config``).

| key | default | meaning |
|---|---|---|
| ``backorder_priority`` | ``order_date`` | Queue rule: ``order_date``, ``deadline`` or ``tier``. |
| ``auto_add_backorders`` | ``0`` | ``1``: placing an order adds its backorders to the vendor's draft PO. |
| ``rep_goodwill_limit`` | ``50.00`` | Manual goodwill a rep grants without approval (per adjustment). |
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from portal.database import write_transaction
from portal.domain.allocation import DEFAULT_RULE, PRIORITY_RULES
from portal.extensions import db
from portal.models import GoodwillLimit, PortalSetting, User
from portal.services import ServiceError, audit

DEFAULTS = {"backorder_priority": DEFAULT_RULE, "auto_add_backorders": "0", "rep_goodwill_limit": "50.00"}


def _all(session=None) -> dict[str, str]:
    rows = (session or db.session).scalars(select(PortalSetting))
    return {**DEFAULTS, **{row.key: row.value for row in rows}}


def column(key: str):
    """The setting ``key`` as a scalar subquery column labelled ``key`` (its default when the row is
    missing): a service that runs a statement anyway reads the setting with it, without one of its own."""
    stored = select(PortalSetting.value).where(PortalSetting.key == key).scalar_subquery()
    return func.coalesce(stored, DEFAULTS[key]).label(key)


def priority_rule(session=None) -> str:
    rule = _all(session)["backorder_priority"]
    return rule if rule in PRIORITY_RULES else DEFAULT_RULE


def auto_add_backorders(session=None) -> bool:
    return is_on(_all(session)["auto_add_backorders"])


def is_on(value: str) -> bool:
    """A yes/no setting's stored value ("1" or "0") as a bool."""
    return value == "1"


def default_goodwill_limit(session=None) -> Decimal:
    return Decimal(_all(session)["rep_goodwill_limit"])


def goodwill_limit_of(user: User, session=None) -> Decimal | None:
    """None for admins (no limit); a rep's own limit, else the default."""
    if user.role == "admin":
        return None
    own = (session or db.session).get(GoodwillLimit, user.id)
    return own.amount if own else default_goodwill_limit(session)


def current() -> dict[str, str]:
    return _all()


def update_settings(actor: User, priority: str, auto_add: bool, rep_limit: Decimal) -> None:
    if priority not in PRIORITY_RULES:
        raise ServiceError("Choose how waiting backorders are prioritised.")
    if rep_limit < 0:
        raise ServiceError("A goodwill limit cannot be negative.")
    values = {
        "backorder_priority": priority,
        "auto_add_backorders": "1" if auto_add else "0",
        "rep_goodwill_limit": str(rep_limit.quantize(Decimal("0.01"))),
    }
    with write_transaction() as session:
        before = _all(session)
        for key, value in values.items():
            row = session.get(PortalSetting, key)
            if row is None:
                session.add(PortalSetting(key=key, value=value))
            else:
                row.value = value
        audit.record(
            actor, "settings_updated", "portal_settings", None, {k: before[k] for k in values}, values
        )


def set_goodwill_limit(actor: User, user_id: int, amount: Decimal | None) -> None:
    """A rep's own limit (None: back to the default)."""
    with write_transaction() as session:
        row = session.get(GoodwillLimit, user_id)
        before = {"amount": row.amount if row else None}
        if amount is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(GoodwillLimit(user_id=user_id, amount=amount))
        else:
            row.amount = amount
        audit.record(actor, "goodwill_limit_set", "user", user_id, before, {"amount": amount})
