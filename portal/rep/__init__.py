"""Staff account management: a rep's companies (admins see all), their buyers and addresses."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from portal.access import STAFF, allow
from portal.account.forms import AddressForm
from portal.clock import today
from portal.extensions import db
from portal.models import Company, PriceList, User
from portal.rep.forms import ADMIN_ONLY, CompanyForm, ConfirmForm, UserForm
from portal.services import ServiceError, accounts, rep_workspace
from portal.services.addresses import save_address
from portal.services.scope import company_or_404, user_or_404, visible_companies

bp = Blueprint("rep", __name__, url_prefix="/rep")


def _status() -> int:
    return 422 if request.method == "POST" else 200


@bp.get("/")
@allow(*STAFF)
def index():
    q = (request.args.get("q") or "").strip()[:100]
    query = visible_companies(current_user)
    if q:
        query = query.where(func.lower(Company.name).contains(q.lower(), autoescape=True))
    companies = db.session.scalars(query).all()
    buyer_counts = dict(db.session.execute(
        select(User.company_id, func.count(User.id)).where(User.role == "buyer").group_by(User.company_id)
    ).all())
    board = rep_workspace.dashboard(current_user, today())
    return render_template("rep/index.html", companies=companies, buyer_counts=buyer_counts, q=q,
                           board=board, today=today())


def company_form(formdata_obj=None) -> CompanyForm:
    form = CompanyForm(obj=formdata_obj)
    if current_user.role != "admin":
        for name in ADMIN_ONLY:
            delattr(form, name)
        return form
    reps = db.session.scalars(select(User).where(User.role == "sales_rep", User.active).order_by(User.name))
    form.sales_rep_id.choices = [("", "— none —")] + [(str(r.id), r.name) for r in reps]
    lists = db.session.scalars(select(PriceList).order_by(PriceList.name))
    form.price_list_id.choices = [("", "List price")] + [(str(p.id), p.name) for p in lists]
    if formdata_obj is not None and request.method == "GET":
        form.sales_rep_id.data = str(formdata_obj.sales_rep_id or "")
        form.price_list_id.data = str(formdata_obj.price_list_id or "")
        form.priority_tier.data = str(formdata_obj.priority_tier)
    return form


@bp.route("/companies/new", methods=["GET", "POST"])
@allow(*STAFF)
def new_company():
    form = company_form()
    if not form.validate_on_submit():
        return render_template("rep/company_form.html", form=form, company=None), _status()
    try:
        company = accounts.create_company(current_user, form.to_data(fixed_rep_id=_own_rep_id()))
    except ServiceError as exc:
        form.name.errors.append(str(exc))
        return render_template("rep/company_form.html", form=form, company=None), 422
    flash(f"{company.name} created. Add a buyer so they can sign in.", "success")
    return redirect(url_for("rep.company", company_id=company.id))


def _own_rep_id() -> int | None:
    """A rep who creates a company looks after it."""
    return current_user.id if current_user.role == "sales_rep" else None


@bp.get("/companies/<int:company_id>")
@allow(*STAFF)
def company(company_id: int):
    found = company_or_404(current_user, company_id)
    from portal.rep.workspace import company_context

    return render_template("rep/company.html", company=found, buyer_form=UserForm(formdata=None),
                           confirm=ConfirmForm(), **company_context(found))


@bp.route("/companies/<int:company_id>/edit", methods=["GET", "POST"])
@allow(*STAFF)
def edit_company(company_id: int):
    found = company_or_404(current_user, company_id)
    form = company_form(found)
    if not form.validate_on_submit():
        return render_template("rep/company_form.html", form=form, company=found), _status()
    data = form.to_data(fixed_rep_id=found.sales_rep_id)
    if current_user.role != "admin":  # reps change the name only; terms and credit are admin business
        data = accounts.CompanyData(name=data.name, **{f: getattr(found, f) for f in ADMIN_ONLY})
    try:
        accounts.update_company(current_user, found.id, data)
    except ServiceError as exc:
        form.name.errors.append(str(exc))
        return render_template("rep/company_form.html", form=form, company=found), 422
    flash("Company saved.", "success")
    return redirect(url_for("rep.company", company_id=found.id))


@bp.route("/companies/<int:company_id>/addresses/new", methods=["GET", "POST"])
@allow(*STAFF)
def new_address(company_id: int):
    found = company_or_404(current_user, company_id)
    form = AddressForm()
    cancel = url_for("rep.company", company_id=found.id)
    if not form.validate_on_submit():
        return render_template("account/address_form.html", form=form, address=None,
                               cancel_url=cancel), _status()
    save_address(current_user, found.id, form.values())
    flash("Address added.", "success")
    return redirect(cancel)


@bp.post("/companies/<int:company_id>/buyers")
@allow(*STAFF)
def new_buyer(company_id: int):
    found = company_or_404(current_user, company_id)
    form = UserForm()
    del form.role, form.company_id
    if not form.validate_on_submit():
        from portal.rep.workspace import company_context

        return render_template("rep/company.html", company=found, buyer_form=form,
                               confirm=ConfirmForm(), **company_context(found)), 422
    return create_user_and_show_access(form, found.id, back=url_for("rep.company", company_id=found.id))


def create_user_and_show_access(form: UserForm, company_id: int | None, back: str):
    """Create the user and show, once, the link or password that lets them in."""
    password = accounts.generate_initial_password() if form.access.data == "password" else None
    try:
        user = accounts.create_user(current_user, form.to_new_user(password, company_id))
    except ServiceError as exc:
        form.email.errors.append(str(exc))
        template = "rep/company.html" if company_id and "role" not in form._fields else "admin/user_form.html"
        found = db.session.get(Company, company_id) if company_id else None
        return render_template(template, company=found, buyer_form=form, form=form,
                               confirm=ConfirmForm()), 422
    link = None if password else url_for("auth.set_password", token=accounts.make_set_password_token(user),
                                         _external=True)
    return render_template("rep/access.html", user=user, password=password, link=link, back=back)


@bp.post("/users/<int:user_id>/access-link")
@allow(*STAFF)
def access_link(user_id: int):
    """A fresh set-password link (also the way to reset a forgotten password)."""
    user = user_or_404(current_user, user_id)
    if not ConfirmForm().validate_on_submit():
        flash("The request expired; try again.", "warning")
        return redirect(url_for("rep.index"))
    if user.role != "buyer" and current_user.role != "admin":
        return render_template("errors/error.html", code=403, title="Not allowed",
                               message="Only admins can reset staff passwords."), 403
    link = url_for("auth.set_password", token=accounts.make_set_password_token(user), _external=True)
    back = url_for("rep.company", company_id=user.company_id) if user.company_id else url_for("admin.users")
    return render_template("rep/access.html", user=user, password=None, link=link, back=back)


# A company's credit and payments, the order lookup and the workspace register their routes here.
from portal.rep import orders, payments, workspace  # noqa: E402, F401, I001
