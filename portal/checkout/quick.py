"""The quick-order pad: typed rows, a pasted block, or a CSV file, into the cart in one go."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.access import EVERYONE, allow
from portal.checkout import _company, _today, bp
from portal.checkout.forms import QuickOrderForm
from portal.domain.quick_order import (
    MAX_CSV_BYTES,
    MAX_ROWS,
    QuickOrderError,
    Row,
    parse_csv,
    parse_pairs,
    parse_text,
)
from portal.services import ServiceError
from portal.services import quick_order as quick_service


def _render(form: QuickOrderForm, rejected: list[Row] | None = None, status: int = 200):
    return render_template("checkout/quick_order.html", form=form, rejected=rejected or [],
                           max_rows=MAX_ROWS, max_kb=MAX_CSV_BYTES // 1024), status


def _rows(form: QuickOrderForm) -> list[Row] | None:
    """Every row of the three inputs; None when an input as a whole is unusable (errors on its field)."""
    rows = parse_pairs((entry.sku.data, entry.quantity.data) for entry in form.rows)
    broken = False
    try:
        rows += parse_text(form.text.data or "")
    except QuickOrderError as exc:
        form.text.errors = [*form.text.errors, str(exc)]
        broken = True
    if form.upload.data:
        try:
            rows += parse_csv(form.upload.data.read(MAX_CSV_BYTES + 1))
        except QuickOrderError as exc:
            form.upload.errors = [*form.upload.errors, str(exc)]
            broken = True
    if len(rows) > MAX_ROWS:
        form.text.errors = [*form.text.errors,
                            f"Order at most {MAX_ROWS} lines at a time; this has {len(rows)}."]
        broken = True
    return None if broken else rows


def _pad_with(rejected: list[Row]) -> QuickOrderForm:
    """A fresh pad holding the rejected rows as typed, for correction."""
    return QuickOrderForm(formdata=None, data={
        "rows": [{"sku": row.sku, "quantity": row.quantity_text} for row in rejected]})


@bp.route("/cart/quick", methods=["GET", "POST"])
@allow(*EVERYONE)
def quick_order():
    _company()  # staff who chose no customer go to their accounts first
    form = QuickOrderForm()
    if request.method == "GET":
        return _render(form)
    if not form.validate_on_submit():
        return _render(form, status=422)
    rows = _rows(form)
    if rows is None:
        return _render(form, status=422)
    if not rows:
        form.text.errors = [*form.text.errors, "Enter at least one SKU and quantity."]
        return _render(form, status=422)
    try:
        outcome = quick_service.add_rows(current_user.id, _company().id, rows, _today())
    except ServiceError as exc:
        flash(f"Nothing was added: {exc}", "danger")
        return _render(form, status=422)
    if outcome.added:
        flash(_added_message(outcome.added), "success")
    if not outcome.rejected:
        return redirect(url_for("checkout.cart"))
    return _render(_pad_with(outcome.rejected), outcome.rejected, status=422)


def _added_message(added) -> str:
    listed = ", ".join(f"{item.quantity} × {item.sku}" for item in added[:10])
    more = f" and {len(added) - 10} more" if len(added) > 10 else ""
    return f"Added {len(added)} line{'s' if len(added) != 1 else ''} to your cart: {listed}{more}."
