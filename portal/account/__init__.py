"""The buyer's own company: profile, addresses, colleagues, password; placed orders in ``orders``."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.access import EVERYONE, allow
from portal.account.forms import AddressForm, ChangePasswordForm
from portal.services import ServiceError, accounts
from portal.services.addresses import save_address
from portal.services.scope import address_or_404

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("/")
@allow("buyer")
def index():
    return render_template("account/index.html", company=current_user.company)


@bp.route("/addresses/new", methods=["GET", "POST"])
@allow("buyer")
def new_address():
    form = AddressForm()
    if not form.validate_on_submit():
        return render_template("account/address_form.html", form=form, address=None), _status()
    save_address(current_user, current_user.company_id, form.values())
    flash("Address added.", "success")
    return redirect(url_for("account.index"))


@bp.route("/addresses/<int:address_id>", methods=["GET", "POST"])
@allow("buyer")
def edit_address(address_id: int):
    address = address_or_404(current_user, address_id)
    form = AddressForm(obj=address)
    if not form.validate_on_submit():
        return render_template("account/address_form.html", form=form, address=address), _status()
    save_address(current_user, address.company_id, form.values(), address_id=address.id)
    flash("Address saved.", "success")
    return redirect(url_for("account.index"))


@bp.route("/password", methods=["GET", "POST"])
@allow(*EVERYONE)
def password():
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return render_template("account/password.html", form=form), _status()
    try:
        accounts.change_password(current_user, form.current.data, form.password.data)
    except ServiceError as exc:
        form.current.errors.append(str(exc))
        return render_template("account/password.html", form=form), 422
    flash("Password changed. Please sign in with the new password.", "success")
    return redirect(url_for("auth.login"))


def _status() -> int:
    return 422 if request.method == "POST" else 200


# Placed orders, payments, notifications and API keys register their routes on this blueprint.
from portal.account import (  # noqa: E402, F401, I001
    api_keys, notifications, order_actions, orders, payments, refund_actions,
)
