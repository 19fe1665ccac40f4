"""Deny-by-default access control.

Every view declares who may use it with :func:`public` or :func:`allow`. A request to a view without a
declaration is refused with 403 (and ``tests/web/test_route_access.py`` fails for it), so a new route
cannot be reachable by accident. Object-level scoping (company A vs company B) is the job of the query
helpers in :mod:`portal.services.scope`: they answer 404 for objects outside the user's reach.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask, abort, current_app, request
from flask_login import current_user

from portal.extensions import login_manager
from portal.models.accounts import ROLES

F = TypeVar("F", bound=Callable)

#: Endpoints registered by extensions, which cannot carry our decorator.
EXTENSION_ENDPOINTS: dict[str, Access] = {}


@dataclass(frozen=True)
class Access:
    public: bool
    roles: frozenset[str]

    def allows(self, role: str | None) -> bool:
        return self.public or (role is not None and role in self.roles)


PUBLIC = Access(public=True, roles=frozenset())
EXTENSION_ENDPOINTS.update({"static": PUBLIC, "bootstrap.static": PUBLIC})


def public(view: F) -> F:
    """Anyone, signed in or not."""
    view.access = PUBLIC  # type: ignore[attr-defined]
    return view


def allow(*roles: str) -> Callable[[F], F]:
    """Signed-in users with one of ``roles``."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"allow() needs known roles, got {roles!r}")

    def decorate(view: F) -> F:
        view.access = Access(public=False, roles=frozenset(roles))  # type: ignore[attr-defined]
        return view

    return decorate


STAFF = ("sales_rep", "admin")
EVERYONE = ROLES


def access_of(app: Flask, endpoint: str) -> Access | None:
    if endpoint in EXTENSION_ENDPOINTS:
        return EXTENSION_ENDPOINTS[endpoint]
    view = app.view_functions.get(endpoint)
    return getattr(view, "access", None)


def _enforce():
    if request.endpoint is None:  # no route matched: let routing answer 404/405
        return None
    rule = access_of(current_app, request.endpoint)
    if rule is None:
        current_app.logger.error("Route %s declares no access rule; refused.", request.endpoint)
        abort(403)
    if rule.public:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not rule.allows(current_user.role):
        abort(403)
    return None


def init_app(app: Flask) -> None:
    app.before_request(_enforce)
