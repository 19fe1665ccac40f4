"""The back office (admins): dashboard and users here; products (``products``, ``product_panels``) and
price lists (``pricing``) in their own modules. Vendors, POs and receiving grow here."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from portal.access import allow
from portal.extensions import db
from portal.models import AuditLog, Company, Product, Stock, User, Vendor
from portal.rep import create_user_and_show_access
from portal.rep.forms import ConfirmForm, UserForm
from portal.services import ServiceError, accounts

bp = Blueprint("admin", __name__, url_prefix="/admin")
ROLE_FILTERS = ("buyer", "sales_rep", "admin")


@bp.get("/")
@allow("admin")
def index():
    available = (select(Stock.product_id, func.sum(Stock.on_hand - Stock.allocated).label("available"))
                 .group_by(Stock.product_id).subquery())
    out_of_stock = db.session.scalar(
        select(func.count(Product.id))
        .join(available, available.c.product_id == Product.id, isouter=True)
        .where(Product.active, func.coalesce(available.c.available, 0) <= 0))
    stats = {
        "Companies": db.session.scalar(select(func.count(Company.id))),
        "Buyers": db.session.scalar(select(func.count(User.id)).where(User.role == "buyer")),
        "Products": db.session.scalar(select(func.count(Product.id)).where(Product.active)),
        "Out of stock": out_of_stock,
        "Vendors": db.session.scalar(select(func.count(Vendor.id))),
    }
    recent = db.session.execute(
        select(AuditLog, User.name).join(User, User.id == AuditLog.actor_id, isouter=True)
        .order_by(AuditLog.id.desc()).limit(10)).all()
    from portal.integrations import stripe as gateway

    return render_template("admin/index.html", stats=stats, recent=recent, stripe_on=gateway.configured())


@bp.get("/users")
@allow("admin")
def users():
    role = request.args.get("role", "")
    query = select(User).order_by(User.role, User.name)
    if role in ROLE_FILTERS:
        query = query.where(User.role == role)
    rows = db.session.scalars(query.limit(500)).all()
    return render_template("admin/users.html", users=rows, role=role, confirm=ConfirmForm())


def _user_form() -> UserForm:
    form = UserForm()
    companies = db.session.scalars(select(Company).where(Company.active).order_by(Company.name))
    form.company_id.choices = [("", "— staff: no company —")] + [(str(c.id), c.name) for c in companies]
    return form


@bp.route("/users/new", methods=["GET", "POST"])
@allow("admin")
def new_user():
    form = _user_form()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("admin/user_form.html", form=form), status
    return create_user_and_show_access(form, None, back=url_for("admin.users"))


@bp.post("/users/<int:user_id>/active")
@allow("admin")
def set_active(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        accounts.set_user_active(current_user, user.id, not user.active)
    except ServiceError as exc:
        flash(str(exc), "danger")
    else:
        flash(f"{user.name} is now {'active' if user.active else 'deactivated'}.", "success")
    return redirect(url_for("admin.users"))


# Products, their editor panels, pricing and goodwill rules, and the purchasing back office (vendors,
# purchase orders and receiving, the backorder queue, shipping, settings) register their routes here.
from portal.admin import (  # noqa: E402, F401
    backorders,
    goodwill,
    outbox,
    pricing,
    product_panels,
    products,
    purchase_orders,
    vendors,
)
