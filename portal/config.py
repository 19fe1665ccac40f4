"""Settings from the environment.

Every setting is listed in ``SETTINGS`` with its default and meaning; the README's settings table is
checked against this list by a test, so a new setting cannot go undocumented.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


class ConfigError(RuntimeError):
    """The configuration cannot work (for example production without a SECRET_KEY)."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("PORTAL_ENV", "development", "`development`, `production` or `testing`."),
    Setting("DATABASE_URL", "sqlite:///<instance>/portal.db",
            "SQLAlchemy URL; `postgresql+psycopg://user@host/db` for PostgreSQL."),
    Setting("SECRET_KEY", None,
            "Signs sessions and tokens. Generated into `instance/secret_key` outside production; "
            "production refuses to start without it."),
    Setting("SESSION_COOKIE_SECURE", "1 in production, else 0", "Send the session cookie over HTTPS only."),
    Setting("SESSION_LIFETIME_HOURS", "12", "A login session ends after this many hours."),
    Setting("RATELIMIT_STORAGE_URI", "memory://",
            "Rate-limit counters; use `redis://127.0.0.1:6379/0` when running several workers."),
    Setting("LOGIN_LIMIT_PER_IP", "30 per 5 minutes", "Failed-login budget per client address."),
    Setting("LOGIN_LIMIT_PER_ACCOUNT", "5 per 5 minutes", "Failed-login budget per email address."),
    Setting("TRUSTED_PROXY_HOPS", "0",
            "Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted (rate limits "
            "and links use the real client address and host)."),
    Setting("SQLITE_BUSY_TIMEOUT_MS", "10000", "How long SQLite waits for the write lock."),
    Setting("INVITE_MAX_AGE_HOURS", "168", "How long a set-password link stays valid."),
    Setting("ARGON2_TIME_COST", "3", "Argon2id passes for password hashing."),
    Setting("ARGON2_MEMORY_KIB", "65536", "Argon2id memory per hash, in KiB."),
    Setting("MAIL_SERVER", "127.0.0.1", "SMTP host for outgoing mail."),
    Setting("MAIL_PORT", "25", "SMTP port."),
    Setting("MAIL_USERNAME", "", "SMTP user (empty: no login)."),
    Setting("MAIL_PASSWORD", "", "SMTP password."),
    Setting("MAIL_USE_TLS", "0", "Use STARTTLS."),
    Setting("MAIL_FROM", "orders@portal.example", "Sender address of notifications."),
    Setting("MAIL_TIMEOUT_SECONDS", "30", "SMTP connect and command timeout."),
    Setting("PORTAL_URL", "http://127.0.0.1:5000", "The portal's public address, for links in emails."),
    Setting("OUTBOX_WORKER", "inline in development, else off",
            "`inline`: the web process sends the outbox in a background thread (development only); `off`: "
            "run `flask outbox run` workers."),
    Setting("OUTBOX_POLL_SECONDS", "5", "How often an idle outbox worker looks for due messages."),
    Setting("OUTBOX_LEASE_SECONDS", "300",
            "How long a worker holds the messages it claimed; a dead worker's are sent again after it."),
    Setting("OUTBOX_RETRY_SECONDS", "60", "First retry delay after a failed send; doubles per attempt."),
    Setting("OUTBOX_RETRY_MAX_SECONDS", "3600", "Longest retry delay (messages are retried until sent)."),
    Setting("STRIPE_SECRET_KEY", "", "Stripe server key; empty means on-account payments only."),
    Setting("STRIPE_PUBLISHABLE_KEY", "", "Stripe publishable key for Stripe.js."),
    Setting("STRIPE_WEBHOOK_SECRET", "", "Signing secret of the Stripe webhook endpoint."),
    Setting("STRIPE_API_BASE", "https://api.stripe.com", "Stripe-compatible API (localstripe in tests)."),
    Setting("STRIPE_JS_URL", "https://js.stripe.com/v3/", "Where Stripe.js is loaded from."),
    Setting("DEFAULT_CURRENCY", "USD", "Currency of all prices."),
    Setting("DEFAULT_LOCALE", "en_US", "Locale for money and dates (Babel)."),
)

_ENVIRONMENTS = {"development", "production", "testing"}


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(env: dict[str, str], portal_env: str, instance_path: Path) -> str:
    key = env.get("SECRET_KEY", "")
    if key:
        if portal_env == "production" and len(key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production.")
        return key
    if portal_env == "production":
        raise ConfigError("SECRET_KEY is not set: production refuses to start without one.")
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _database_url(env: dict[str, str], instance_path: Path) -> str:
    url = env.get("DATABASE_URL", "")
    if not url:
        instance_path.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{instance_path / 'portal.db'}"
    # Heroku-style URLs name no driver; we use psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _outbox_worker(env: dict[str, str], portal_env: str) -> str:
    """``inline`` sends from a thread of the web process: handy for ``make run``, wrong for production,
    where every gunicorn worker would start one and a deploy could cut a send short."""
    value = (env.get("OUTBOX_WORKER", "") or ("inline" if portal_env == "development" else "off")).lower()
    if value not in {"inline", "off"}:
        raise ConfigError(f"OUTBOX_WORKER must be 'inline' or 'off', not {value!r}.")
    if value == "inline" and portal_env == "production":
        raise ConfigError("OUTBOX_WORKER=inline is for development; run `flask outbox run` in production.")
    return value


def _engine_options(url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        return {}
    # psycopg prepares a statement server-side after 5 runs on a connection, and PostgreSQL may then
    # switch to a generic plan; for full-text queries the right plan depends on the words (a generic
    # plan made search SQL p95 384 ms against 225 ms, bench/RESULTS.md). So nothing is prepared: every
    # statement is planned afresh for its values. Only the ordering API prepares, while it places an
    # order (``api_orders.PREPARE_THRESHOLD``): its statements are key lookups (the credit exposure and
    # units on backorder read kept sums, ``services.balances``) whose plan does not depend on the values,
    # so their prepared plans are generic — planned once per connection, not on every run. Planning was
    # most of PostgreSQL's CPU per statement there (the key statement: 0.64 ms against 0.14 ms).
    return {"pool_pre_ping": True,
            "connect_args": {"prepare_threshold": None, "options": "-c plan_cache_mode=force_generic_plan"}}


def load(instance_path: str | Path, environ: dict[str, str] | None = None) -> dict[str, object]:
    """Build the Flask config mapping from the environment."""
    env = dict(os.environ if environ is None else environ)
    instance = Path(instance_path)
    portal_env = env.get("PORTAL_ENV", "development").strip().lower()
    if portal_env not in _ENVIRONMENTS:
        raise ConfigError(f"PORTAL_ENV must be one of {sorted(_ENVIRONMENTS)}, not {portal_env!r}.")
    production = portal_env == "production"

    def get(name: str, default: str) -> str:
        return env.get(name, "") or default

    url = _database_url(env, instance)
    if int(get("OUTBOX_LEASE_SECONDS", "300")) <= float(get("MAIL_TIMEOUT_SECONDS", "30")):
        # A worker starts a send only while more than the SMTP timeout of its lease is left.
        raise ConfigError("OUTBOX_LEASE_SECONDS must be longer than MAIL_TIMEOUT_SECONDS.")
    return {
        "PORTAL_ENV": portal_env,
        "TESTING": portal_env == "testing",
        "SECRET_KEY": _secret_key(env, portal_env, instance),
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(url),
        "SESSION_COOKIE_SECURE": _flag(env.get("SESSION_COOKIE_SECURE"), production),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_LIFETIME_HOURS": int(get("SESSION_LIFETIME_HOURS", "12")),
        "REMEMBER_COOKIE_SECURE": _flag(env.get("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "RATELIMIT_STORAGE_URI": get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": False,
        "LOGIN_LIMIT_PER_IP": get("LOGIN_LIMIT_PER_IP", "30 per 5 minutes"),
        "LOGIN_LIMIT_PER_ACCOUNT": get("LOGIN_LIMIT_PER_ACCOUNT", "5 per 5 minutes"),
        "SQLITE_BUSY_TIMEOUT_MS": int(get("SQLITE_BUSY_TIMEOUT_MS", "10000")),
        "TRUSTED_PROXY_HOPS": int(get("TRUSTED_PROXY_HOPS", "0")),
        "INVITE_MAX_AGE_HOURS": int(get("INVITE_MAX_AGE_HOURS", "168")),
        "ARGON2_TIME_COST": int(get("ARGON2_TIME_COST", "3")),
        "ARGON2_MEMORY_KIB": int(get("ARGON2_MEMORY_KIB", "65536")),
        "MAIL_SERVER": get("MAIL_SERVER", "127.0.0.1"),
        "MAIL_PORT": int(get("MAIL_PORT", "25")),
        "MAIL_USERNAME": get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": get("MAIL_PASSWORD", ""),
        "MAIL_USE_TLS": _flag(env.get("MAIL_USE_TLS"), False),
        "MAIL_FROM": get("MAIL_FROM", "orders@portal.example"),
        "MAIL_TIMEOUT_SECONDS": float(get("MAIL_TIMEOUT_SECONDS", "30")),
        "PORTAL_URL": get("PORTAL_URL", "http://127.0.0.1:5000"),
        "OUTBOX_WORKER": _outbox_worker(env, portal_env),
        "OUTBOX_POLL_SECONDS": float(get("OUTBOX_POLL_SECONDS", "5")),
        "OUTBOX_LEASE_SECONDS": int(get("OUTBOX_LEASE_SECONDS", "300")),
        "OUTBOX_RETRY_SECONDS": int(get("OUTBOX_RETRY_SECONDS", "60")),
        "OUTBOX_RETRY_MAX_SECONDS": int(get("OUTBOX_RETRY_MAX_SECONDS", "3600")),
        "STRIPE_SECRET_KEY": get("STRIPE_SECRET_KEY", ""),
        "STRIPE_PUBLISHABLE_KEY": get("STRIPE_PUBLISHABLE_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": get("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_API_BASE": get("STRIPE_API_BASE", "https://api.stripe.com"),
        "STRIPE_JS_URL": get("STRIPE_JS_URL", "https://js.stripe.com/v3/"),
        "DEFAULT_CURRENCY": get("DEFAULT_CURRENCY", "USD"),
        "DEFAULT_LOCALE": get("DEFAULT_LOCALE", "en_US"),
        # Bootstrap is served from the package's own static files: no CDN.
        "BOOTSTRAP_SERVE_LOCAL": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    }
