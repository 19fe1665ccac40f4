"""The product editor's panels: alternatives, images, stock adjustments and volume breaks.

Each panel posts its own small form. A form with errors re-renders the editor with the messages (422);
a refused row action (an id that is not this product's) is flashed and the editor shown again.
"""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.access import allow
from portal.admin import bp
from portal.admin.forms import AlternativeForm, BreakForm, ImageForm, ItemForm
from portal.admin.products import product_or_404, render_editor, stock_form
from portal.extensions import db
from portal.models import ProductImage
from portal.services import ServiceError, alternatives, images, inventory, price_lists


def _back(product_id: int, anchor: str):
    return redirect(url_for("admin.product", product_id=product_id, _anchor=anchor))


def _item_or_400() -> ItemForm:
    """The row id of a row button; a missing or garbled one is a broken request, not a typo."""
    form = ItemForm()
    if not form.validate_on_submit():
        abort(400)
    return form


# --- alternatives -------------------------------------------------------------------------------------


@bp.post("/products/<int:product_id>/alternatives")
@allow("admin")
def add_alternative(product_id: int):
    found = product_or_404(product_id)
    form = AlternativeForm()
    if not form.validate_on_submit():
        return render_editor(found, status=422, alt_form=form)
    try:
        added = alternatives.add_alternative(current_user, found.id, form.alternative_sku.data)
    except ServiceError as exc:
        form.alternative_sku.errors = [str(exc)]
        return render_editor(found, status=422, alt_form=form)
    flash(f"{added.sku} added as an alternative.", "success")
    return _back(found.id, "alternatives")


@bp.post("/products/<int:product_id>/alternatives/remove")
@allow("admin")
def remove_alternative(product_id: int):
    found = product_or_404(product_id)
    form = _item_or_400()
    try:
        alternatives.remove_alternative(current_user, found.id, form.item_id.data)
    except ServiceError as exc:
        flash(str(exc), "danger")
    else:
        flash("Alternative removed.", "success")
    return _back(found.id, "alternatives")


@bp.post("/products/<int:product_id>/alternatives/move")
@allow("admin")
def move_alternative(product_id: int):
    found = product_or_404(product_id)
    form = _item_or_400()
    try:
        alternatives.move_alternative(current_user, found.id, form.item_id.data, form.direction.data or "")
    except ServiceError as exc:
        flash(str(exc), "danger")
    return _back(found.id, "alternatives")


# --- images ---------------------------------------------------------------------------------------------


@bp.post("/products/<int:product_id>/images")
@allow("admin")
def upload_image(product_id: int):
    found = product_or_404(product_id)
    form = ImageForm()
    if not form.validate_on_submit():
        return render_editor(found, status=422, image_form=form)
    try:
        images.add_image(current_user, found.id, form.image.data.stream, form.alt_text.data or "")
    except images.BadImage as exc:
        form.image.errors = [str(exc)]
        return render_editor(found, status=422, image_form=form)
    flash("Picture added.", "success")
    return _back(found.id, "images")


@bp.post("/products/<int:product_id>/images/remove")
@allow("admin")
def remove_image(product_id: int):
    found = product_or_404(product_id)
    form = _item_or_400()
    image = db.session.scalar(select(ProductImage).where(ProductImage.id == form.item_id.data,
                                                         ProductImage.product_id == found.id))
    if image is None:
        flash("That picture is not one of this product's.", "danger")
        return _back(found.id, "images")
    try:
        images.remove_image(current_user, image.id)
    except ServiceError as exc:
        flash(str(exc), "danger")
    else:
        flash("Picture removed.", "success")
    return _back(found.id, "images")


# --- stock --------------------------------------------------------------------------------------------


@bp.post("/products/<int:product_id>/stock")
@allow("admin")
def adjust_stock(product_id: int):
    found = product_or_404(product_id)
    form = stock_form()
    if not form.validate_on_submit():
        return render_editor(found, status=422, stock_form=form)
    try:
        movement = inventory.adjust_stock(current_user, found.id, int(form.warehouse_id.data),
                                          form.change.data, form.reason.data)
    except ServiceError as exc:
        form.change.errors = [str(exc)]
        return render_editor(found, status=422, stock_form=form)
    flash(f"Stock adjusted by {movement.quantity:+d}.", "success")
    return _back(found.id, "stock")


# --- volume breaks --------------------------------------------------------------------------------------


@bp.post("/products/<int:product_id>/price-breaks")
@allow("admin")
def add_price_break(product_id: int):
    found = product_or_404(product_id)
    form = BreakForm()
    if not form.validate_on_submit():
        return render_editor(found, status=422, break_form=form)
    try:
        price_lists.add_price_break(current_user, found.id, form.min_quantity.data, form.percent_off.data)
    except ServiceError as exc:
        form.min_quantity.errors = [str(exc)]
        return render_editor(found, status=422, break_form=form)
    flash(f"Volume break from {form.min_quantity.data} units added.", "success")
    return _back(found.id, "pricing")


@bp.post("/products/<int:product_id>/price-breaks/remove")
@allow("admin")
def remove_price_break(product_id: int):
    found = product_or_404(product_id)
    form = _item_or_400()
    try:
        price_lists.remove_price_break(current_user, found.id, form.item_id.data)
    except ServiceError as exc:
        flash(str(exc), "danger")
    else:
        flash("Volume break removed.", "success")
    return _back(found.id, "pricing")
