"""Staff actions on an order page, and what the page shows besides the lines: the timeline (buyers see
the rows meant for them, staff all), shipments, cancelling (parts of) lines and manual goodwill.
Registered on ``account``; reps reach their companies' orders only (404 otherwise)."""

from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.access import EVERYONE, STAFF, allow
from portal.account import bp
from portal.account.forms import BackorderSwapForm
from portal.admin.backoffice_forms import BuyerCancelForm, CancelLineForm, ConfirmForm, GoodwillForm
from portal.clock import today
from portal.extensions import db
from portal.formatting import money
from portal.models import Invoice, Order, OrderEvent, OrderLine, Shipment, User
from portal.services import (
    NotFound,
    ServiceError,
    backorders,
    billing,
    manual_goodwill,
    order_history,
    shipping,
    swaps,
)
from portal.services.scope import order_or_404

MAX_ID = 2**31 - 1


def timeline(order: Order, staff: bool) -> list[tuple[OrderEvent, str | None]]:
    query = (
        select(OrderEvent, User.name)
        .join(User, User.id == OrderEvent.actor_id, isouter=True)
        .where(OrderEvent.order_id == order.id)
        .order_by(OrderEvent.created_at, OrderEvent.id)
    )
    if not staff:
        query = query.where(OrderEvent.buyer_visible)
    return [(event, name) for event, name in db.session.execute(query).all()]


def page_context(order: Order, **forms) -> dict:
    """Extra context of ``account/order.html``: timeline, shipments and (for staff) the action forms."""
    staff = current_user.is_staff
    return {
        "timeline": timeline(order, staff),
        "shipments": shipping.shipments_of(order.id),
        "order_invoices": list(db.session.scalars(select(Invoice).where(
            Invoice.order_id == order.id, Invoice.status != "void").order_by(Invoice.id))),
        "cancel_form": forms.get("cancel_form") or CancelLineForm(formdata=None),
        "goodwill_form": forms.get("goodwill_form") or GoodwillForm(formdata=None),
        "buyer_cancel_form": forms.get("buyer_cancel_form"),
        "action_problems": forms.get("problems", []),
        "action_line": forms.get("line_id"),
        # Late lines and the alternatives they may be swapped to, for whoever may act on the order.
        "swap_choices": swaps.choices(order, today()) if swaps.may_act(current_user, order) else [],
        "swap_problems": forms.get("swap_problems", []),
        "swap_token": uuid.uuid4().hex,
        # The order's total stays as placed; the totals also show what was cancelled and what is left.
        "cancelled_value": (cancelled := billing.cancelled_value(order.id)),
        "total_now": order.total - cancelled,
    }



def _render(order: Order, status: int, **forms):
    detail = order_history.order_detail(order, staff=current_user.is_staff, money=money)
    from portal.account.forms import OrderAgainForm
    from portal.account.payments import payment_context

    return render_template(
        "account/order.html",
        detail=detail,
        order=detail.order,
        again_form=OrderAgainForm(),
        **page_context(order, **forms),
        **payment_context(detail.order),
    ), status


def _settled(settlement) -> str:
    if settlement is None:
        return " Stripe could not be reached: the refund is recorded and shows as pending until it is sent."
    if settlement.kind == "refund":
        return f" {money(settlement.amount)} refunded to the card."
    if settlement.kind == "credit_note":
        return f" Credit note {settlement.reference} for {money(settlement.amount)}."
    if settlement.kind == "uninvoiced":
        return f" They were never invoiced: {money(settlement.amount)} less will be billed."
    return ""


def _line_of(order: Order, line_id: int) -> OrderLine:
    line = db.session.get(OrderLine, line_id) if 0 < line_id <= MAX_ID else None
    if line is None or line.order_id != order.id:
        abort(404)
    return line


@bp.post("/orders/<number>/lines/<int:line_id>/cancel")
@allow(*STAFF)
def cancel_line(number: str, line_id: int):
    order = order_or_404(current_user, number)
    line = _line_of(order, line_id)
    form = CancelLineForm()
    if not form.validate_on_submit():
        return _render(order, 422, cancel_form=form, line_id=line.id)
    try:
        done = backorders.cancel_and_settle(current_user, line.id, form.quantity.data, form.reason.data,
                                            today())
    except ServiceError as exc:
        return _render(order, 409, cancel_form=form, line_id=line.id, problems=[str(exc)])
    flash(f"{form.quantity.data} × {line.sku} cancelled.{_settled(done.settlement)}", "success")
    return redirect(url_for("account.order", number=order.number))


@bp.post("/orders/<number>/goodwill")
@allow(*STAFF)
def grant_goodwill(number: str):
    order = order_or_404(current_user, number)
    form = GoodwillForm()
    if not form.validate_on_submit():
        return _render(order, 422, goodwill_form=form)
    raw = (form.line_id.data or "").strip()
    line_id = None
    if raw:
        line_id = _line_of(order, int(raw) if raw.isdigit() and len(raw) <= 10 else 0).id
    try:
        adjustment = manual_goodwill.grant_goodwill(
            current_user, order.id, line_id, form.percent.data, form.amount.data, form.reason.data
        )
    except NotFound:
        abort(404)
    except ServiceError as exc:
        return _render(order, 409, goodwill_form=form, problems=getattr(exc, "problems", [str(exc)]))
    if adjustment.status == "pending":
        flash(
            "Goodwill recorded. It is above your limit, so an admin approves it before the buyer sees it.",
            "info",
        )
    else:
        flash("Goodwill granted: the buyer sees it on the order.", "success")
    return redirect(url_for("account.order", number=order.number))


@bp.post("/orders/<number>/lines/<int:line_id>/cancel-backorder")
@allow("buyer")
def cancel_backorder(number: str, line_id: int):
    """The buyer cancels units of their own order still waiting on backorder."""
    order = order_or_404(current_user, number)
    line = _line_of(order, line_id)
    form = BuyerCancelForm(prefix=f"cancel-{line.id}")
    if not form.validate_on_submit():
        return _render(order, 422, buyer_cancel_form=form, line_id=line.id)
    try:
        done = backorders.cancel_backorder_for_buyer(current_user, line.id, form.quantity.data, today())
    except ServiceError as exc:
        return _render(order, 409, buyer_cancel_form=form, line_id=line.id, problems=[str(exc)])
    flash(f"{form.quantity.data} × {line.sku} cancelled.{_settled(done.settlement)}", "success")
    return redirect(url_for("account.order", number=order.number))


@bp.post("/orders/<number>/lines/<int:line_id>/accept-date")
@allow("buyer")
def accept_date(number: str, line_id: int):
    """The buyer keeps a line whose ETA slipped past their deadline."""
    order = order_or_404(current_user, number)
    line = _line_of(order, line_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        backorders.accept_later_date(current_user, line.id)
    except ServiceError as exc:
        return _render(order, 409, problems=[str(exc)])
    flash(f"You kept {line.sku}: it arrives after your deadline, about {line.eta:%d %b}.", "success")
    return redirect(url_for("account.order", number=order.number))


@bp.post("/orders/<number>/lines/<int:line_id>/swap")
@allow(*EVERYONE)
def swap_backorder(number: str, line_id: int):
    """Swap a late line's units on backorder to an alternative that ships now (buyers on their orders,
    reps on their companies', admins on any)."""
    order = order_or_404(current_user, number)
    line = _line_of(order, line_id)
    form = BackorderSwapForm()
    if not form.validate_on_submit():
        return _render(order, 422, swap_problems=[
            "That choice could not be read: look at the order again and choose again."])
    request = swaps.SwapRequest(line.id, form.alternative_id.data, form.quantity.data, form.version.data,
                                form.token.data, form.unit_price.data)
    try:
        done = swaps.swap_backorder(current_user, request, today())
    except NotFound:
        abort(404)
    except ServiceError as exc:
        return _render(order, 409, swap_problems=[str(exc)])
    flash(f"Swapped {done.new.quantity} × {done.late.sku} for {done.new.sku}: ready to ship."
          f"{_swap_money(done)}", "success")
    return redirect(url_for("account.order", number=order.number))


def _swap_money(done: swaps.Swapped) -> str:
    order = done.late.order
    said = f" {money(done.charged)} charged to the card for {done.new.sku}." if done.charged else ""
    if order.payment_method == "card" and order.charge_policy == "at_shipment":
        said = f" {done.new.sku} is charged to the card when it ships."
    return said + _settled(done.settlement)


@bp.get("/orders/<number>/shipments/<int:shipment_id>.pdf")
@allow(*EVERYONE)
def packing_slip(number: str, shipment_id: int):
    """A shipment's packing slip, for whoever may read the order."""
    from portal.admin.backorders import packing_slip_pdf

    order = order_or_404(current_user, number)
    shipment = db.session.get(Shipment, shipment_id) if 0 < shipment_id <= MAX_ID else None
    if shipment is None or shipment.order_id != order.id:
        abort(404)
    return packing_slip_pdf(shipment, order)
