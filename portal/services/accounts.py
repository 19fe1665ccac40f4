"""Accounts use cases: signing in and out, companies, users, invitations and passwords."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, select

from portal.database import write_transaction
from portal.extensions import db
from portal.models import Address, Company, LoginSession, User
from portal.models.base import utcnow
from portal.security import hash_password, verify_password
from portal.services import ServiceError
from portal.services.audit import record, snapshot

MIN_PASSWORD_LENGTH = 12
COMPANY_FIELDS = ("name", "payment_terms", "credit_limit", "sales_rep_id", "priority_tier",
                  "price_list_id", "active")


class EmailTaken(ServiceError):
    pass


class InvalidToken(ServiceError):
    pass


def normalise_email(email: str) -> str:
    return email.strip().lower()


# --- signing in -------------------------------------------------------------------------------------


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None. Unknown emails cost the same time."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        return None
    return user


def start_login_session(user: User, user_agent: str = "") -> str:
    """Record a new login session for ``user`` and return its token (kept in the session cookie)."""
    token = secrets.token_urlsafe(32)
    hours = current_app.config["SESSION_LIFETIME_HOURS"]
    with write_transaction() as session:
        session.add(LoginSession(id=token, user_id=user.id, user_agent=user_agent[:200],
                                 expires_at=utcnow() + timedelta(hours=hours)))
        db.session.get(User, user.id).last_login_at = utcnow()
        # Housekeeping: drop this user's expired sessions.
        session.execute(delete(LoginSession).where(LoginSession.user_id == user.id,
                                                   LoginSession.expires_at < utcnow()))
    return token


def end_login_session(token: str | None) -> None:
    if not token:
        return
    with write_transaction() as session:
        session.execute(delete(LoginSession).where(LoginSession.id == token))


def load_session_user(user_id: str, token: str | None) -> User | None:
    """The user of a live login session, or None (logged out, expired, deactivated, tampered)."""
    if not token or not user_id.isdigit() or len(user_id) > 12:
        return None
    # One statement per request: the session row and its user together.
    row = db.session.execute(
        select(LoginSession.expires_at, User)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.id == token, LoginSession.user_id == int(user_id))).first()
    if row is None:
        return None
    expires_at, user = row
    expires = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=utcnow().tzinfo)
    if expires < utcnow():
        return None
    return user if user.active else None


# --- invitations and passwords ----------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="set-password")


def make_set_password_token(user: User) -> str:
    """A link token that works once: it carries a fingerprint of the current password hash."""
    return _serializer().dumps({"uid": user.id, "fp": (user.password_hash or "")[-16:]})


def user_for_token(token: str) -> User:
    max_age = current_app.config["INVITE_MAX_AGE_HOURS"] * 3600
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise InvalidToken("This link has expired. Ask your account manager for a new one.") from exc
    except BadSignature as exc:
        raise InvalidToken("This link is not valid. Check that you copied all of it.") from exc
    user = db.session.get(User, data.get("uid")) if isinstance(data, dict) else None
    if user is None or not user.active or (user.password_hash or "")[-16:] != data.get("fp"):
        raise InvalidToken("This link has already been used or is no longer valid.")
    return user


def set_password_with_token(token: str, password: str) -> User:
    user = user_for_token(token)
    _set_password(user.id, password, actor=user)
    return user


def change_password(user: User, current: str, new: str) -> None:
    if not verify_password(user.password_hash, current):
        raise ServiceError("The current password is not correct.")
    _set_password(user.id, new, actor=user)


def _set_password(user_id: int, password: str, actor: User | None) -> None:
    """Sets the hash and ends every login session of the user (a changed password logs out everywhere)."""
    password_hash = hash_password(password)
    with write_transaction() as session:
        user = session.get(User, user_id)
        user.password_hash = password_hash
        session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
        record(actor, "password_set", "user", user_id)


# --- companies and users ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CompanyData:
    name: str
    payment_terms: str = "net30"
    credit_limit: Decimal = Decimal("0")
    sales_rep_id: int | None = None
    priority_tier: int = 2
    price_list_id: int | None = None
    active: bool = True


def _check_company_name(name: str, company_id: int | None = None) -> None:
    query = select(Company.id).where(func.lower(Company.name) == name.strip().lower())
    if company_id is not None:
        query = query.where(Company.id != company_id)
    if db.session.scalar(query) is not None:
        raise ServiceError(f"A company named “{name.strip()}” already exists.")


def _check_rep(rep_id: int | None) -> None:
    if rep_id is not None:
        rep = db.session.get(User, rep_id)
        if rep is None or rep.role != "sales_rep":
            raise ServiceError("The chosen sales rep does not exist.")


def create_company(actor: User, data: CompanyData, address: dict[str, str] | None = None) -> Company:
    with write_transaction() as session:
        _check_company_name(data.name)
        _check_rep(data.sales_rep_id)
        company = Company(account_number=uuid.uuid4().hex[:20], name=data.name.strip(),
                          payment_terms=data.payment_terms, credit_limit=data.credit_limit,
                          sales_rep_id=data.sales_rep_id, priority_tier=data.priority_tier,
                          price_list_id=data.price_list_id, active=data.active)
        session.add(company)
        session.flush()
        company.account_number = f"C{company.id:05d}"
        if address:
            session.add(Address(company_id=company.id, is_default_shipping=True, is_billing=True, **address))
        record(actor, "company_created", "company", company.id, after=snapshot(company, COMPANY_FIELDS))
    return company


def update_company(actor: User, company_id: int, data: CompanyData) -> Company:
    with write_transaction() as session:
        company = session.get(Company, company_id)
        _check_company_name(data.name, company_id)
        _check_rep(data.sales_rep_id)
        before = snapshot(company, COMPANY_FIELDS)
        for field in COMPANY_FIELDS:
            setattr(company, field, getattr(data, field))
        company.name = data.name.strip()
        after = snapshot(company, COMPANY_FIELDS)
        if before != after:
            record(actor, "company_updated", "company", company.id, before=before, after=after)
    return company


@dataclass(frozen=True)
class NewUser:
    email: str
    name: str
    role: str
    company_id: int | None = None
    #: None: invite with a set-password link; otherwise this initial password.
    initial_password: str | None = None


def create_user(actor: User, data: NewUser) -> User:
    email = normalise_email(data.email)
    password_hash = hash_password(data.initial_password) if data.initial_password else None
    with write_transaction() as session:
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise EmailTaken(f"{email} already has an account.")
        user = User(email=email, name=data.name.strip(), role=data.role,
                    company_id=data.company_id if data.role == "buyer" else None,
                    password_hash=password_hash)
        session.add(user)
        session.flush()
        record(actor, "user_created", "user", user.id,
               after={"email": email, "role": data.role, "company_id": user.company_id})
    return user


def set_user_active(actor: User, user_id: int, active: bool) -> User:
    if actor.id == user_id and not active:
        raise ServiceError("You cannot deactivate your own account.")
    with write_transaction() as session:
        user = session.get(User, user_id)
        before = user.active
        user.active = active
        if not active:
            session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
        record(actor, "user_activated" if active else "user_deactivated", "user", user_id,
               before={"active": before}, after={"active": active})
    return user


def generate_initial_password() -> str:
    return secrets.token_urlsafe(12)
