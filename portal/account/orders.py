"""Placed orders: the list, one order, its confirmation PDF, and "order again".

Buyers see their company's orders, reps their assigned companies', admins all; anything else is 404
(:func:`portal.services.scope.order_or_404`). Registered on the ``account`` blueprint.
"""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.access import EVERYONE, allow
from portal.account import bp
from portal.account.forms import OrderAgainForm
from portal.account.payments import payment_context
from portal.formatting import money
from portal.integrations.pdf import render_pdf
from portal.models import Company
from portal.services import ServiceError, carts, order_history
from portal.services.scope import company_or_404, order_or_404

#: Ids beyond a 32-bit integer exist nowhere (and PostgreSQL refuses them).
MAX_ID = 2**31 - 1


@bp.get("/orders")
@allow(*EVERYONE)
def orders():
    status = request.args.get("status", "")
    if status not in order_history.FILTERS:
        status = ""
    company: Company | None = None
    raw = request.args.get("company", "")
    if current_user.is_staff and raw.isdigit() and len(raw) <= 10 and 0 < int(raw) <= MAX_ID:
        company = company_or_404(current_user, int(raw))
    page = order_history.list_orders(current_user, status, request.args.get("page", 1, type=int) or 1,
                                     company.id if company else None)
    return render_template("account/orders.html", results=page, status=status, company=company,
                           filters=order_history.FILTERS, status_labels=order_history.STATUS_LABELS)


@bp.get("/orders/<number>")
@allow(*EVERYONE)
def order(number: str):
    detail = order_history.order_detail(order_or_404(current_user, number), staff=current_user.is_staff,
                                        money=money)
    from portal.account.order_actions import page_context
    from portal.account.refund_actions import refund_context

    return render_template("account/order.html", detail=detail, order=detail.order,
                           again_form=OrderAgainForm(), **page_context(detail.order),
                           **payment_context(detail.order), **refund_context(detail.order))


@bp.get("/orders/<number>.pdf")
@allow(*EVERYONE)
def order_pdf(number: str):
    """The order confirmation as the buyer reads it (hidden backorders read "Available"), whoever asks:
    it is the document the customer keeps."""
    detail = order_history.order_detail(order_or_404(current_user, number), staff=False, money=money)
    billing = next((a for a in detail.order.company.addresses if a.is_billing), None)
    pdf = render_pdf("pdf/order.html", detail=detail, order=detail.order, billing=billing)
    filename = f"{detail.order.number}.pdf"
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})


@bp.post("/orders/<number>/again")
@allow("buyer")
def order_again(number: str):
    found = order_or_404(current_user, number)
    if not OrderAgainForm().validate_on_submit():
        abort(400)
    skipped = order_history.unsold_skus(found)
    try:
        added = carts.order_again(current_user.id, found.company_id, found.number)
    except ServiceError as exc:
        flash(str(exc), "warning")
        return redirect(url_for("account.order", number=found.number))
    flash("Added to your cart: " + ", ".join(f"{a.quantity} × {a.sku}" for a in added) + ".", "success")
    if skipped:
        flash("Not added (no longer sold): " + ", ".join(skipped) + ".", "warning")
    return redirect(url_for("checkout.cart"))
