"""The backorder queue (staff see their reach; admins act on it), back-office settings, goodwill
approvals, and shipping an order. Registered on ``admin``."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.access import STAFF, allow
from portal.admin import bp
from portal.admin.backoffice_forms import (
    AllocateForm,
    DecisionForm,
    PriorityForm,
    SettingsForm,
    ShipForm,
    ShipPlannedForm,
    parse_quantities,
)
from portal.admin.forms import MAX_ID
from portal.clock import today
from portal.domain.allocation import PRIORITY_RULES
from portal.extensions import db
from portal.integrations.pdf import render_pdf
from portal.models import Company, Order, OrderLine, Shipment
from portal.services import NotFound, ServiceError, backorders, manual_goodwill, shipping
from portal.services import settings as settings_service
from portal.services.scope import company_or_404, order_or_404


@bp.get("/backorders")
@allow(*STAFF)
def backorders_queue():
    return _render_queue()


def _render_queue(status: int = 200, problems: list[str] | None = None):
    sku = request.args.get("sku", "").strip()[:40]
    at_risk = request.args.get("at_risk") == "1"
    company = None
    raw = request.args.get("company", "")
    if raw.isdigit() and len(raw) <= 10 and 0 < int(raw) <= MAX_ID:
        company = company_or_404(current_user, int(raw))
    rows = backorders.backorder_queue(
        current_user, sku=sku, company_id=company.id if company else None, at_risk=at_risk
    )
    return render_template(
        "admin/backorders.html",
        rows=rows,
        sku=sku,
        at_risk=at_risk,
        company=company,
        rule=PRIORITY_RULES[settings_service.priority_rule()],
        priority_form=PriorityForm(formdata=None),
        allocate_form=AllocateForm(formdata=None),
        problems=problems or [],
    ), status


def _line_or_404(line_id: int) -> OrderLine:
    line = db.session.get(OrderLine, line_id) if 0 < line_id <= MAX_ID else None
    if line is None:
        abort(404)
    return line


@bp.post("/backorders/<int:line_id>/priority")
@allow("admin")
def backorder_priority(line_id: int):
    line = _line_or_404(line_id)
    form = PriorityForm()
    if not form.validate_on_submit():
        return _render_queue(
            422, [f"{line.sku}: priority — " + " ".join(form.priority.errors or ["enter a whole number."])]
        )
    backorders.set_priority(current_user, line.id, form.priority.data, today())
    flash(f"{line.sku}: queue priority set to {form.priority.data}.", "success")
    return redirect(url_for("admin.backorders_queue"))


@bp.post("/backorders/<int:line_id>/allocate")
@allow("admin")
def allocate_backorder(line_id: int):
    line = _line_or_404(line_id)
    form = AllocateForm()
    if not form.validate_on_submit():
        return _render_queue(422, [f"{line.sku}: units to allocate — " + " ".join(form.quantity.errors)])
    try:
        backorders.allocate_from_stock(current_user, line.id, form.quantity.data, today())
    except ServiceError as exc:
        return _render_queue(409, [str(exc)])
    flash(f"{form.quantity.data} × {line.sku} set aside from stock for this order.", "success")
    return redirect(url_for("admin.backorders_queue"))


@bp.route("/settings", methods=["GET", "POST"])
@allow("admin")
def settings():
    values = settings_service.current()
    form = SettingsForm(
        data={
            "backorder_priority": values["backorder_priority"],
            "auto_add_backorders": values["auto_add_backorders"] == "1",
            "rep_goodwill_limit": settings_service.default_goodwill_limit(),
        }
        if request.method == "GET"
        else None
    )
    if not form.validate_on_submit():
        return render_template("admin/settings.html", form=form), 422 if request.method == "POST" else 200
    settings_service.update_settings(
        current_user,
        form.backorder_priority.data,
        bool(form.auto_add_backorders.data),
        form.rep_goodwill_limit.data,
    )
    flash("Settings saved.", "success")
    return redirect(url_for("admin.settings"))


@bp.get("/goodwill/approvals")
@allow("admin")
def goodwill_approvals():
    return render_template(
        "admin/goodwill_approvals.html",
        rows=manual_goodwill.pending_goodwill(),
        form=DecisionForm(formdata=None),
    )


@bp.post("/goodwill/approvals/<int:adjustment_id>")
@allow("admin")
def decide_goodwill(adjustment_id: int):
    if not 0 < adjustment_id <= MAX_ID:
        abort(404)
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        manual_goodwill.decide_goodwill(current_user, adjustment_id, form.decision.data == "approve")
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(str(exc), "warning")
        return redirect(url_for("admin.goodwill_approvals"))
    flash(
        "Goodwill approved: it shows on the buyer's order."
        if form.decision.data == "approve"
        else "Goodwill rejected.",
        "success",
    )
    return redirect(url_for("admin.goodwill_approvals"))


def _ship_page(order: Order, form: ShipForm, status: int = 200, problems=(), entered=None,
               planned_form: ShipPlannedForm | None = None, planned_problem: tuple[int, str] | None = None):
    lines = backorders.staff_lines(order)
    planned = [(plan, shipping.due_message(plan)) for plan in shipping.planned_shipments_of(order.id)]
    if planned_problem and planned_problem[0] not in {plan.id for plan, _ in planned}:
        problems = [*problems, planned_problem[1]]  # that shipment no longer waits: say it at the top
    return render_template(
        "admin/ship.html",
        order=order,
        lines=lines,
        form=form,
        problems=list(problems),
        entered=entered or {},
        shipments=shipping.shipments_of(order.id),
        held=shipping.reserved_units(db.session, order.id),
        planned=planned,
        planned_form=planned_form or ShipPlannedForm(formdata=None),
        planned_problem=planned_problem,
    ), status


@bp.route("/orders/<number>/ship", methods=["GET", "POST"])
@allow("admin")
def ship_order(number: str):
    order = order_or_404(current_user, number)
    if request.method == "GET":
        return _ship_page(order, ShipForm(formdata=None))
    form = ShipForm()
    if not form.validate_on_submit():
        return _ship_page(order, form, 422)
    lines = {line.id: line.sku for line in backorders.staff_lines(order)}
    quantities, problems = parse_quantities(request.form, "ship", list(lines), lines.get)
    entered = {line_id: request.form.get(f"ship-{line_id}", "") for line_id in lines}
    if problems:
        return _ship_page(order, form, 422, problems, entered)
    try:
        shipment = shipping.ship_order(
            current_user,
            order.id,
            form.token.data,
            quantities,
            form.tracking_number.data or "",
            form.carrier.data or "",
            today(),
        )
    except shipping.PaymentDue as exc:
        flash(str(exc), "warning")
        return redirect(url_for("admin.ship_order", number=order.number))
    except ServiceError as exc:
        return _ship_page(order, form, 409, getattr(exc, "problems", [str(exc)]), entered)
    flash(f"Shipment {shipment.number} recorded. The buyer sees it on the order's timeline.", "success")
    return redirect(url_for("admin.ship_order", number=order.number))


@bp.post("/orders/<number>/planned-shipments/<int:plan_id>/ship")
@allow("admin")
def ship_planned(number: str, plan_id: int):
    """Ship a shipment that waited for payment: paid, or unpaid with a reason (a staff override)."""
    order = order_or_404(current_user, number)
    if not 0 < plan_id <= MAX_ID:
        abort(404)
    form = ShipPlannedForm()
    if not form.validate_on_submit():
        problem = "; ".join(e for errors in form.errors.values() for e in errors)
        return _ship_page(order, ShipForm(formdata=None), 422, planned_form=form,
                          planned_problem=(plan_id, problem))
    try:
        shipment = shipping.ship_planned(current_user, order.id, plan_id, form.reason.data or "")
    except NotFound:
        abort(404)
    except ServiceError as exc:
        problem = "; ".join(getattr(exc, "problems", [str(exc)]))
        return _ship_page(order, ShipForm(formdata=None), 409, planned_form=form,
                          planned_problem=(plan_id, problem))
    flash(f"Shipment {shipment.number} recorded. The buyer sees it on the order's timeline.", "success")
    return redirect(url_for("admin.ship_order", number=order.number))


@bp.post("/orders/<number>/planned-shipments/<int:plan_id>/cancel")
@allow("admin")
def cancel_planned(number: str, plan_id: int):
    """Drop an unpaid shipment that waits for payment: its units may ship again; nothing is due for it."""
    order = order_or_404(current_user, number)
    if not 0 < plan_id <= MAX_ID:
        abort(404)
    if not ShipPlannedForm().validate_on_submit():
        abort(400)
    try:
        shipping.cancel_planned(current_user, order.id, plan_id)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        return _ship_page(order, ShipForm(formdata=None), 409, planned_problem=(plan_id, str(exc)))
    flash("The shipment waiting for payment was cancelled: its units can ship again and nothing is due "
          "for it.", "success")
    return redirect(url_for("admin.ship_order", number=order.number))


@bp.get("/shipments/<int:shipment_id>.pdf")
@allow("admin")
def packing_slip(shipment_id: int):
    shipment = db.session.get(Shipment, shipment_id) if 0 < shipment_id <= MAX_ID else None
    if shipment is None:
        abort(404)
    return packing_slip_pdf(shipment, db.session.get(Order, shipment.order_id))


def packing_slip_pdf(shipment: Shipment, order: Order) -> Response:
    """The packing slip of a shipment (also served to the order's readers from their order page)."""
    lines = {line.id: line for line in backorders.staff_lines(order)}
    pdf = render_pdf(
        "pdf/packing_slip.html",
        shipment=shipment,
        order=order,
        lines=lines,
        company=db.session.get(Company, order.company_id),
    )
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{shipment.number}.pdf"'},
    )
