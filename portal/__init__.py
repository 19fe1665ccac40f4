"""The wholesale ordering portal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, session

from portal import access, config, security
from portal.extensions import bootstrap, csrf, db, limiter, login_manager, migrate


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``overrides`` (tests) wins over the environment; an override of ``environ`` (a
    mapping) replaces ``os.environ`` as the source of settings."""
    overrides = dict(overrides or {})
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(config.load(app.instance_path, overrides.pop("environ", None)))
    app.config.update(overrides)
    if app.config["TRUSTED_PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_project_root(app) / "migrations"))
    csrf.init_app(app)
    bootstrap.init_app(app)
    limiter.init_app(app)
    _init_login(app)
    access.init_app(app)
    security.init_app(app)

    from portal.database import install_engine_hooks
    install_engine_hooks(app)

    from portal import account, admin, api, auth, catalog, checkout, errors, main, payments, rep
    from portal.services import balances  # noqa: F401  (its session hooks keep the kept sums right)
    for module in (main, auth, catalog, checkout, account, rep, admin, payments, api):
        app.register_blueprint(module.bp)
    errors.init_app(app)

    from portal import cli, formatting
    cli.init_app(app)
    formatting.init_app(app)

    from portal.services import outbox
    outbox.init_app(app)  # OUTBOX_WORKER=inline: send from a thread of this process (development)
    return app


def _project_root(app: Flask):
    from pathlib import Path
    return Path(app.root_path).parent


def _init_login(app: Flask) -> None:
    from portal.services import accounts

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # the login_sessions table does this job

    @login_manager.user_loader
    def load_user(user_id: str):
        return accounts.load_session_user(user_id, session.get("sid"))
