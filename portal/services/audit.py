"""Audit trail rows, written inside the caller's transaction."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from portal.extensions import db
from portal.models import AuditLog, User


def _default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def record(actor: User | None, action: str, entity: str, entity_id: int | None,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> AuditLog:
    row = AuditLog(
        actor_id=actor.id if actor else None, action=action, entity=entity, entity_id=entity_id,
        before=json.dumps(before or {}, default=_default, sort_keys=True),
        after=json.dumps(after or {}, default=_default, sort_keys=True),
    )
    db.session.add(row)
    return row


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in fields}
