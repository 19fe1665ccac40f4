"""Purchase orders (admins): list, generate from demand, drafts and their lines, the status table, the PDF,
receiving and its set-aside list. Registered on ``admin``; views parse, call one service and redirect."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.access import allow
from portal.admin import bp
from portal.admin.backoffice_forms import (
    ConfirmForm,
    NewDraftForm,
    NotesForm,
    PoLineForm,
    PoLineUpdateForm,
    ReceiveForm,
    StatusForm,
    parse_quantities,
)
from portal.admin.forms import MAX_ID
from portal.clock import today
from portal.domain.purchasing import PO_TRANSITIONS, STATUS_LABELS
from portal.integrations.pdf import render_pdf
from portal.models import PurchaseOrder
from portal.services import NotFound, ServiceError, purchasing, receiving

MAX_LINE_ID = MAX_ID


def _detail_or_404(po_id: int):
    if not 0 < po_id <= MAX_ID:
        abort(404)
    try:
        return purchasing.purchase_order_detail(po_id)
    except NotFound:
        abort(404)


def render_po(po_id: int, status: int = 200, **forms):
    po, reserved = _detail_or_404(po_id)
    line_forms = {
        line.id: PoLineUpdateForm(
            formdata=None,
            prefix=f"line{line.id}",
            quantity=line.quantity_ordered,
            expected_date=line.expected_date,
            confirmed=line.date_confirmed,
            unit_cost=line.unit_cost,
        )
        for line in po.lines
    }
    line_forms.update(forms.pop("line_forms", {}))
    return render_template(
        "admin/purchase_order.html",
        po=po,
        reserved=reserved,
        labels=STATUS_LABELS,
        next_statuses=sorted(s for s in PO_TRANSITIONS[po.status] if s in ("sent", "cancelled")),
        line_form=forms.get("line_form") or PoLineForm(formdata=None),
        notes_form=forms.get("notes_form") or NotesForm(formdata=None, notes=po.notes),
        receive_form=forms.get("receive_form") or ReceiveForm(formdata=None),
        status_form=forms.get("status_form") or StatusForm(formdata=None),
        value=po.value,
        line_forms=line_forms,
        confirm=ConfirmForm(formdata=None),
        problems=forms.get("problems", []),
        entered=forms.get("entered", {}),
    ), status


@bp.get("/purchase-orders")
@allow("admin")
def purchase_orders():
    status = request.args.get("status", "")
    if status not in STATUS_LABELS:
        status = ""
    return render_template(
        "admin/purchase_orders.html",
        rows=purchasing.purchase_orders(status),
        status=status,
        labels=STATUS_LABELS,
        vendors=purchasing.vendors(),
        draft_form=NewDraftForm(),
        generate_form=ConfirmForm(),
    )


@bp.post("/purchase-orders/new")
@allow("admin")
def new_purchase_order():
    form = NewDraftForm()
    if not form.validate_on_submit():
        flash("Choose a vendor for the new purchase order.", "danger")
        return redirect(url_for("admin.purchase_orders"))
    try:
        po = purchasing.create_draft(current_user, form.vendor_id.data)
    except NotFound:
        abort(404)
    flash(f"{po.number} is the draft for this vendor: add lines, then send it.", "success")
    return redirect(url_for("admin.purchase_order", po_id=po.id))


@bp.post("/purchase-orders/generate")
@allow("admin")
def generate_purchase_orders():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    result = purchasing.generate_purchase_orders(current_user, today())
    if result.lines_added or result.links_made:
        flash(
            f"Added {result.lines_added} line{'s' if result.lines_added != 1 else ''} to "
            f"{', '.join(result.purchase_orders) or 'existing purchase orders'} and reserved incoming units "
            f"for waiting backorders ({result.links_made} link{'s' if result.links_made != 1 else ''}).",
            "success",
        )
    else:
        flash("Nothing to order: every backorder is covered and stock is above its reorder points.", "info")
    return redirect(url_for("admin.purchase_orders", status="draft"))


@bp.get("/purchase-orders/<int:po_id>")
@allow("admin")
def purchase_order(po_id: int):
    return render_po(po_id)


@bp.get("/purchase-orders/<int:po_id>.pdf")
@allow("admin")
def purchase_order_pdf(po_id: int):
    po, reserved = _detail_or_404(po_id)
    pdf = render_pdf("pdf/purchase_order.html", po=po)
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{po.number}.pdf"'},
    )


def _refused(po_id: int, exc: ServiceError, **forms):
    problems = getattr(exc, "problems", None) or [str(exc)]
    return render_po(po_id, 409, problems=problems, **forms)


@bp.post("/purchase-orders/<int:po_id>/lines")
@allow("admin")
def add_po_line(po_id: int):
    _detail_or_404(po_id)
    form = PoLineForm()
    if not form.validate_on_submit():
        return render_po(po_id, 422, line_form=form)
    try:
        purchasing.add_line(current_user, po_id, form.sku.data, form.quantity.data, form.expected_date.data)
    except ServiceError as exc:
        return _refused(po_id, exc, line_form=form)
    flash(f"{form.quantity.data} × {form.sku.data} added.", "success")
    return redirect(url_for("admin.purchase_order", po_id=po_id))


def _line_id() -> int:
    raw = request.form.get("line_id", "")
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        abort(400)
    return int(raw)


@bp.post("/purchase-orders/<int:po_id>/lines/update")
@allow("admin")
def update_po_line(po_id: int):
    _detail_or_404(po_id)
    line_id = _line_id()
    form = PoLineUpdateForm(prefix=f"line{line_id}")
    if not form.validate_on_submit():
        return render_po(po_id, 422, line_forms={line_id: form})
    try:
        purchasing.update_line(
            current_user,
            po_id,
            line_id,
            form.quantity.data,
            form.expected_date.data,
            bool(form.confirmed.data),
            today(),
            unit_cost=form.unit_cost.data,
        )
    except NotFound:
        abort(404)
    except ServiceError as exc:
        return _refused(po_id, exc, line_forms={line_id: form})
    flash("Line saved. ETAs of the backorders waiting on it follow the new date.", "success")
    return redirect(url_for("admin.purchase_order", po_id=po_id))


@bp.post("/purchase-orders/<int:po_id>/lines/remove")
@allow("admin")
def remove_po_line(po_id: int):
    _detail_or_404(po_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    line_id = _line_id()
    try:
        purchasing.remove_line(current_user, po_id, line_id)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        return _refused(po_id, exc)
    flash("Line removed.", "success")
    return redirect(url_for("admin.purchase_order", po_id=po_id))


@bp.post("/purchase-orders/<int:po_id>/notes")
@allow("admin")
def po_notes(po_id: int):
    _detail_or_404(po_id)
    form = NotesForm()
    if not form.validate_on_submit():
        return render_po(po_id, 422, notes_form=form)
    try:
        purchasing.update_notes(current_user, po_id, (form.notes.data or "").strip())
    except ServiceError as exc:
        return _refused(po_id, exc, notes_form=form)
    flash("Notes saved.", "success")
    return redirect(url_for("admin.purchase_order", po_id=po_id))


@bp.post("/purchase-orders/<int:po_id>/status")
@allow("admin")
def po_status(po_id: int):
    _detail_or_404(po_id)
    form = StatusForm()
    if not form.validate_on_submit():
        if form.reason.errors:
            return render_po(po_id, 422, status_form=form, problems=form.reason.errors)
        abort(400)
    reason = form.below_minimum_reason()
    if reason is None:
        problem = "Give a reason for sending this purchase order below the vendor's minimum."
        return render_po(po_id, 422, status_form=form, problems=[problem])
    try:
        po = purchasing.change_status(
            current_user, po_id, form.status.data, today(), below_minimum_reason=reason
        )
    except ServiceError as exc:
        return _refused(po_id, exc, status_form=form)
    message = {
        "sent": f"{po.number} sent: the email to the vendor is queued with the PO.",
        "cancelled": f"{po.number} cancelled: its reservations for customer backorders are released.",
    }
    flash(message[po.status], "success")
    return redirect(url_for("admin.purchase_order", po_id=po_id))


@bp.post("/purchase-orders/<int:po_id>/receive")
@allow("admin")
def receive_purchase_order(po_id: int):
    po, _ = _detail_or_404(po_id)
    form = ReceiveForm()
    if not form.validate_on_submit():
        return render_po(
            po_id,
            422,
            receive_form=form,
            problems=["This receiving form has expired: enter the quantities again."],
        )
    skus = {line.id: line.product.sku for line in po.lines}
    quantities, problems = parse_quantities(request.form, "received", list(skus), skus.get)
    entered = {line_id: request.form.get(f"received-{line_id}", "") for line_id in skus}
    if problems:
        return render_po(po_id, 422, receive_form=form, problems=problems, entered=entered)
    try:
        receipt = receiving.receive_purchase_order(
            current_user, po_id, form.token.data, quantities, today(), accept_over=bool(form.accept_over.data)
        )
    except ServiceError as exc:
        return _refused(po_id, exc, receive_form=form, entered=entered)
    return redirect(url_for("admin.receipt", receipt_id=receipt.id))


@bp.get("/receipts/<int:receipt_id>")
@allow("admin")
def receipt(receipt_id: int):
    if not 0 < receipt_id <= MAX_ID:
        abort(404)
    try:
        found, aside, shelf = receiving.set_aside_list(receipt_id)
    except NotFound:
        abort(404)
    po = found.purchase_order
    return render_template("admin/receipt.html", receipt=found, po=po, aside=aside, shelf=shelf)


def po_label(po: PurchaseOrder) -> str:
    return f"{po.number} · {po.vendor.name}"
