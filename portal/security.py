"""Password hashing (Argon2id), security headers and login-session bookkeeping helpers."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, abort, current_app, request
from flask.wrappers import Response

_DUMMY_PASSWORD = "not-a-real-password-used-to-equalise-timing"  # noqa: S105


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(time_cost=cfg["ARGON2_TIME_COST"], memory_cost=cfg["ARGON2_MEMORY_KIB"])


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches. With no hash, still spends the time of one check."""
    hasher = _hasher()
    if not password_hash:
        hasher.hash(_DUMMY_PASSWORD)
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy() -> str:
    script_src = ["'self'"]
    frame_src = ["'none'"]
    connect_src = ["'self'"]
    stripe_js = current_app.config.get("STRIPE_JS_URL", "")
    if current_app.config.get("STRIPE_PUBLISHABLE_KEY") and stripe_js:
        script_src.append(stripe_js)
        frame_src = [stripe_js]
        # Stripe.js talks to the Stripe API from the browser (localstripe's mock: to its own origin).
        connect_src += sorted({_origin(stripe_js), _origin(current_app.config.get("STRIPE_API_BASE", ""))}
                              - {""})
    return "; ".join([
        "default-src 'self'",
        f"script-src {' '.join(script_src)}",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        f"connect-src {' '.join(connect_src)}",
        f"frame-src {' '.join(frame_src)}",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


_SAME_EVERYWHERE = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                    ("Referrer-Policy", "same-origin"),
                    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"))


def _add_headers(response: Response) -> Response:
    """Security headers on every response, each unless the view set its own (one pass over the headers:
    ``setdefault`` scans them once per header, on every request)."""
    headers = response.headers
    present = {name.lower() for name in headers.keys()}  # noqa: SIM118 (Headers iterates pairs)
    wanted = [("Content-Security-Policy", content_security_policy()), *_SAME_EVERYWHERE]
    if request.is_secure:
        wanted.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    # Signed-in pages hold company data: never let a shared cache keep them.
    if request.endpoint not in ("static", "bootstrap.static"):
        wanted.append(("Cache-Control", "no-store"))
    headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
    return response


#: The bodies werkzeug parses into ``request.form`` (any other body is left to its view).
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _refuse_nul_bytes():
    """No text we store or search may contain NUL (PostgreSQL refuses it): answer 400 up front. Only a
    form body is read here (a JSON body is checked by its view)."""
    for values in (request.args, request.form) if request.mimetype in _FORM_TYPES else (request.args,):
        for value in values.values():
            if "\x00" in value:
                abort(400)


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul_bytes)
    app.after_request(_add_headers)
