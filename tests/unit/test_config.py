"""Settings come from the environment; production refuses unsafe defaults; every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal import config

ROOT = Path(__file__).resolve().parents[2]


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        config.load(tmp_path, {"PORTAL_ENV": "production"})


def test_production_refuses_a_short_secret_key(tmp_path):
    with pytest.raises(config.ConfigError, match="32 characters"):
        config.load(tmp_path, {"PORTAL_ENV": "production", "SECRET_KEY": "short"})


def test_development_generates_a_secret_key_once_and_keeps_it(tmp_path):
    first = config.load(tmp_path, {})["SECRET_KEY"]
    second = config.load(tmp_path, {})["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path):
    assert config.load(tmp_path, {})["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'portal.db'}"


def test_postgres_urls_use_psycopg_3(tmp_path):
    url = config.load(tmp_path, {"DATABASE_URL": "postgres://u@h/db"})["SQLALCHEMY_DATABASE_URI"]
    assert url == "postgresql+psycopg://u@h/db"


def test_production_cookies_are_secure_by_default(tmp_path):
    cfg = config.load(tmp_path, {"PORTAL_ENV": "production", "SECRET_KEY": "x" * 40})
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["SESSION_COOKIE_HTTPONLY"] is True
    assert cfg["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_unknown_environment_is_refused(tmp_path):
    with pytest.raises(config.ConfigError, match="PORTAL_ENV"):
        config.load(tmp_path, {"PORTAL_ENV": "staging"})


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))
    declared = {s.name for s in config.SETTINGS}
    assert declared - documented == set(), "document these settings in the README"
    assert documented - declared == set(), "the README lists settings that do not exist"


def test_every_declared_setting_is_read_by_load():
    """Each name appears in SETTINGS and at least once more, where it is read."""
    source = (ROOT / "portal" / "config.py").read_text()
    for setting in config.SETTINGS:
        assert source.count(f'"{setting.name}"') >= 2, f"{setting.name} is declared but never read"


def test_behind_a_trusted_proxy_the_client_address_and_scheme_come_from_the_proxy_headers(tmp_path):
    from portal import create_app

    environ = {"PORTAL_ENV": "testing", "SECRET_KEY": "x" * 40, "TRUSTED_PROXY_HOPS": "1",
               "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    app = create_app({"environ": environ})
    seen = {}

    @app.get("/_probe")
    def probe():
        from flask import request

        seen.update(addr=request.remote_addr, secure=request.is_secure)
        return "ok"

    from portal.access import public
    public(probe)
    response = app.test_client().get("/_probe", headers={"X-Forwarded-For": "203.0.113.9",
                                                         "X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert seen == {"addr": "203.0.113.9", "secure": True}
    assert "Strict-Transport-Security" in response.headers
