"""Landing: send each role to its home page; health check."""

from flask import Blueprint, redirect, url_for
from flask_login import current_user

from portal.access import public

bp = Blueprint("main", __name__)

HOME = {"buyer": "catalog.index", "sales_rep": "rep.index", "admin": "admin.index"}


def home_url(user) -> str:
    return url_for(HOME[user.role])


@bp.get("/")
@public
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(home_url(current_user))


@bp.get("/healthz")
@public
def healthz():
    return {"status": "ok"}
