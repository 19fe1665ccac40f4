"""Refunds recorded but not sent (Stripe was unreachable when units were cancelled): the order page says
"refund pending", and an admin sends them again from there (``flask refunds retry`` does the same for
every order). Registered on ``account``; ``portal.services.refunds`` claims each refund so that two
retries at once still refund once."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_login import current_user

from portal.access import allow
from portal.account import bp
from portal.admin.backoffice_forms import ConfirmForm
from portal.formatting import money
from portal.models import Order
from portal.services import refunds
from portal.services.scope import order_or_404


def refund_context(order: Order) -> dict:
    """What the order page shows about refunds still pending, with the admin's button."""
    pending = refunds.unsent_refunds(order.id) if order.payment_method == "card" else []
    return {"pending_refunds": pending, "retry_refunds_form": ConfirmForm(formdata=None)}


@bp.post("/orders/<number>/refunds/retry")
@allow("admin")
def retry_refunds(number: str):
    order = order_or_404(current_user, number)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    outcomes = refunds.retry_refunds(order.id)
    if not outcomes:
        flash("No refund of this order is waiting to be sent.", "info")
    for outcome in outcomes:
        flash(*_said(outcome))
    return redirect(url_for("account.order", number=order.number))


def _said(outcome: refunds.RetryOutcome) -> tuple[str, str]:
    amount = money(outcome.amount)
    if outcome.status in ("sent", "found"):
        return f"Refund of {amount} sent to the card.", "success"
    if outcome.status == "failed":
        return f"Refund of {amount} is still pending: {outcome.message}", "danger"
    if outcome.status == "busy":
        return f"Refund of {amount} is being sent by another attempt right now.", "info"
    return f"Refund of {amount} had already been sent.", "info"
