"""Any staff member finds any order and reads its status (DESIGN §1); see portal/services/order_lookup.py.
Orders of companies the reader looks after open on their full page, with its actions."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user

from portal.access import STAFF, allow
from portal.formatting import money
from portal.rep import bp
from portal.services import order_history, order_lookup


@bp.get("/orders")
@allow(*STAFF)
def find_orders():
    q = order_lookup.clean_query(request.args.get("q"))
    found = order_lookup.find_orders(current_user, q)
    return render_template("rep/orders.html", q=q, found=found, limit=order_lookup.LIMIT)


@bp.get("/orders/<number>")
@allow(*STAFF)
def order_status(number: str):
    """The order's status, lines and timeline, read-only; within reach, the order's own page."""
    order = order_lookup.order_for_staff(number)
    if order is None:
        abort(404)
    if order_lookup.in_reach(current_user, order):
        return redirect(url_for("account.order", number=order.number))
    # The account blueprint's order page, read-only (imported here: account imports this blueprint).
    from portal.account.forms import OrderAgainForm
    from portal.account.order_actions import page_context
    from portal.account.payments import payment_context

    detail = order_history.order_detail(order, staff=True, money=money)
    return render_template("account/order.html", detail=detail, order=detail.order, read_only=True,
                           again_form=OrderAgainForm(), **page_context(detail.order),
                           **payment_context(detail.order))
