"""Price lists: a percentage off list price and fixed prices per product (customer pricing, admin side)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.access import allow
from portal.admin import bp
from portal.admin.forms import MAX_ID, ItemForm, ListPriceForm, PriceListForm
from portal.extensions import db
from portal.models import PriceList
from portal.services import ServiceError, price_lists


def _price_list_or_404(price_list_id: int) -> PriceList:
    found = db.session.get(PriceList, price_list_id) if 0 < price_list_id <= MAX_ID else None
    if found is None:
        abort(404)
    return found


@bp.get("/price-lists", endpoint="price_lists")
@allow("admin")
def price_lists_index():
    return render_template("admin/price_lists.html", rows=price_lists.price_lists_with_usage())


@bp.route("/price-lists/new", methods=["GET", "POST"])
@allow("admin")
def new_price_list():
    form = PriceListForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("admin/price_list_new.html", form=form), status
    try:
        created = price_lists.create_price_list(current_user, form.name.data, form.discount_percent.data)
    except ServiceError as exc:
        form.name.errors = [str(exc)]
        return render_template("admin/price_list_new.html", form=form), 422
    flash(f"Price list {created.name} created. Add fixed prices below if needed.", "success")
    return redirect(url_for("admin.price_list", price_list_id=created.id))


def _render(found: PriceList, status: int = 200, form=None, item_form=None):
    return render_template(
        "admin/price_list.html", price_list=found, rows=price_lists.list_prices(found),
        form=form or PriceListForm(formdata=None, obj=found),
        item_form=item_form or ListPriceForm(formdata=None)), status


@bp.route("/price-lists/<int:price_list_id>", methods=["GET", "POST"])
@allow("admin")
def price_list(price_list_id: int):
    found = _price_list_or_404(price_list_id)
    if request.method == "GET":
        return _render(found)
    form = PriceListForm(obj=found)
    if not form.validate_on_submit():
        return _render(found, 422, form=form)
    try:
        price_lists.update_price_list(current_user, found.id, form.name.data, form.discount_percent.data)
    except ServiceError as exc:
        form.name.errors = [str(exc)]
        return _render(found, 422, form=form)
    flash("Price list saved.", "success")
    return redirect(url_for("admin.price_list", price_list_id=found.id))


@bp.post("/price-lists/<int:price_list_id>/prices")
@allow("admin")
def add_list_price(price_list_id: int):
    found = _price_list_or_404(price_list_id)
    form = ListPriceForm()
    if not form.validate_on_submit():
        return _render(found, 422, item_form=form)
    try:
        product, replaced = price_lists.set_list_price(current_user, found.id, form.sku.data, form.price.data)
    except ServiceError as exc:
        form.sku.errors = [str(exc)]
        return _render(found, 422, item_form=form)
    flash(f"{product.sku} {'now' if replaced else 'gets'} a fixed price on {found.name}.", "success")
    return redirect(url_for("admin.price_list", price_list_id=found.id, _anchor="fixed-prices"))


@bp.post("/price-lists/<int:price_list_id>/prices/remove")
@allow("admin")
def remove_list_price(price_list_id: int):
    found = _price_list_or_404(price_list_id)
    form = ItemForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        price_lists.remove_list_price(current_user, found.id, form.item_id.data)
    except ServiceError as exc:
        flash(str(exc), "danger")
    else:
        flash("Fixed price removed; the list's percentage applies again.", "success")
    return redirect(url_for("admin.price_list", price_list_id=found.id, _anchor="fixed-prices"))
