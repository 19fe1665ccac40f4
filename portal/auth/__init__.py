"""Sign in, sign out, set a password from an invitation link."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from portal.access import EVERYONE, allow, public
from portal.auth.forms import LoginForm, LogoutForm, SetPasswordForm
from portal.extensions import limiter
from portal.main import home_url
from portal.services import accounts

bp = Blueprint("auth", __name__)


def _account_key() -> str:
    return "login-account:" + accounts.normalise_email(request.form.get("email", ""))[:254]


def _failed(response) -> bool:
    """Only failed sign-ins use up the budget."""
    return response.status_code != 302


def _ip_limit() -> str:
    return current_app.config["LOGIN_LIMIT_PER_IP"]


def _account_limit() -> str:
    return current_app.config["LOGIN_LIMIT_PER_ACCOUNT"]


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: never redirect to another host after login. Browsers drop tabs and newlines
    from URLs (slash, tab, slash becomes "//evil.com"), so any control character or space disqualifies."""
    if not target or any(ch <= " " or ch == "\x7f" for ch in target):
        return None
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_ip_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_account_limit, methods=["POST"], key_func=_account_key, deduct_when=_failed)
def login():
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), (422 if request.method == "POST" else 200)
    user = accounts.authenticate(form.email.data, form.password.data)
    if user is None:
        form.password.errors.append("The email or password is not correct.")
        return render_template("auth/login.html", form=form), 401
    _begin_session(user)
    return redirect(_safe_next(request.args.get("next")) or home_url(user))


def _begin_session(user) -> None:
    # A fresh session on every login: nothing from before the login (fixation) carries over.
    session.clear()
    session["sid"] = accounts.start_login_session(user, request.user_agent.string or "")
    session.permanent = False
    login_user(user)


@bp.post("/logout")
@allow(*EVERYONE)
def logout():
    form = LogoutForm()
    if form.validate_on_submit():
        accounts.end_login_session(session.get("sid"))
        logout_user()
        session.clear()
        flash("You are signed out.", "success")
    return redirect(url_for("auth.login"))


@bp.route("/set-password/<token>", methods=["GET", "POST"])
@public
@limiter.limit(_ip_limit, methods=["POST"])
def set_password(token: str):
    try:
        user = accounts.user_for_token(token)
    except accounts.InvalidToken as exc:
        return render_template("auth/invalid_link.html", message=str(exc)), 404
    form = SetPasswordForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("auth/set_password.html", form=form, user=user), status
    try:
        user = accounts.set_password_with_token(token, form.password.data)
    except accounts.InvalidToken as exc:
        return render_template("auth/invalid_link.html", message=str(exc)), 404
    if current_user.is_authenticated:  # someone else was signed in on this browser: end their session too
        accounts.end_login_session(session.get("sid"))
        logout_user()
    _begin_session(user)
    flash("Your password is saved and you are signed in.", "success")
    return redirect(home_url(user))
