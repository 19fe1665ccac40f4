"""Vendors (admins): list, create, edit. Registered on ``admin``."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.access import allow
from portal.admin import bp
from portal.admin.backoffice_forms import NewDraftForm, ReorderForm, VendorForm
from portal.admin.forms import MAX_ID
from portal.extensions import db
from portal.models import Vendor
from portal.services import purchasing
from portal.services.purchasing import PurchasingRefused


def vendor_or_404(vendor_id: int) -> Vendor:
    found = db.session.get(Vendor, vendor_id) if 0 < vendor_id <= MAX_ID else None
    if found is None:
        abort(404)
    return found


@bp.get("/vendors")
@allow("admin")
def vendors():
    return render_template("admin/vendors.html", vendors=purchasing.vendors(), draft_form=NewDraftForm())


@bp.route("/vendors/new", methods=["GET", "POST"])
@allow("admin")
def new_vendor():
    form = VendorForm()
    if not form.validate_on_submit():
        return render_template("admin/vendor_form.html", form=form, vendor=None), (
            422 if request.method == "POST" else 200
        )
    try:
        created = purchasing.save_vendor(current_user, None, form.to_data())
    except PurchasingRefused as exc:
        form.name.errors = exc.problems
        return render_template("admin/vendor_form.html", form=form, vendor=None), 422
    flash(f"Vendor {created.name} created.", "success")
    return redirect(url_for("admin.vendors"))


@bp.route("/vendors/<int:vendor_id>", methods=["GET", "POST"])
@allow("admin")
def vendor(vendor_id: int):
    found = vendor_or_404(vendor_id)
    form = VendorForm(obj=found)
    if not form.validate_on_submit():
        return render_template("admin/vendor_form.html", form=form, vendor=found), (
            422 if request.method == "POST" else 200
        )
    try:
        purchasing.save_vendor(current_user, found.id, form.to_data())
    except PurchasingRefused as exc:
        form.name.errors = exc.problems
        return render_template("admin/vendor_form.html", form=form, vendor=found), 422
    flash("Vendor saved.", "success")
    return redirect(url_for("admin.vendors"))


@bp.route("/reorder-points", methods=["GET", "POST"])
@allow("admin")
def reorder_points():
    """Reorder points per product: generating POs tops the stock position up to the maximum."""
    form = ReorderForm()
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                product = purchasing.set_reorder_rule(
                    current_user,
                    form.sku.data,
                    form.reorder_min.data,
                    form.reorder_max.data,
                    form.pack_size.data,
                )
            except PurchasingRefused as exc:
                form.sku.errors = exc.problems
            else:
                flash(f"Reorder point of {product.sku} saved.", "success")
                return redirect(url_for("admin.reorder_points"))
        return render_template("admin/reorder_points.html", form=form, rows=purchasing.reorder_rules()), 422
    return render_template("admin/reorder_points.html", form=form, rows=purchasing.reorder_rules())
