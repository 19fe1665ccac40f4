"""The cart and checkout (issue 4): cart, quick order, details, review, placing, confirmation.

Views translate: they parse the form, call one service, flash and redirect. What a line will do is
decided by ``portal.services.ordering.review_cart`` against live stock on every view; what a buyer is
told about it (hidden backorders, missed deadlines) by ``portal.domain.display.order_split``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from portal import acting
from portal.access import EVERYONE, allow
from portal.checkout.forms import LineForm, RemoveForm
from portal.clock import today
from portal.domain.checkout import PlanLine
from portal.domain.display import OrderSplit, order_split
from portal.domain.goodwill import Adjustment
from portal.extensions import db
from portal.models import Cart, CartLine, Company
from portal.services import NotFound, ServiceError, carts, ordering

bp = Blueprint("checkout", __name__)

#: Where "Remove" may send the buyer back to.
BACK_TO = {"cart": "checkout.cart", "review": "checkout.review"}


def _company() -> Company:
    """The company being ordered for: the buyer's own, or the customer a rep chose (portal/acting.py)."""
    return acting.ordering_company()


def _today():
    return today()


@dataclass
class CartRow:
    """A cart line beside what placing it would do now, as the buyer is told."""

    line: CartLine
    plan: PlanLine
    split: OrderSplit
    form: LineForm | None = None
    adjustments: list[Adjustment] = field(default_factory=list)


def split_for(plan: PlanLine) -> OrderSplit:
    eta = plan.eta
    return order_split(plan.allocate, plan.backorder, eta.date if eta else None, bool(eta and eta.estimated),
                       plan.need_by, plan.hidden)


def cart_rows(review: ordering.Review) -> list[CartRow]:
    """The review's plan lines in the order the buyer added them, each with its cart line."""
    plans = {plan.product_id: plan for plan in review.lines}
    adjustments: dict[int, list[Adjustment]] = {}
    for adjustment in review.adjustments:
        adjustments.setdefault(adjustment.product_id, []).append(adjustment)
    return [CartRow(line, plans[line.product_id], split_for(plans[line.product_id]),
                    adjustments=adjustments.get(line.product_id, []))
            for line in sorted(review.cart.lines, key=lambda line: line.id) if line.product_id in plans]


def _review() -> ordering.Review | None:
    return ordering.review_cart(current_user, _company(), _today())


def _line_form(line: CartLine) -> LineForm:
    return LineForm(formdata=None, prefix=f"line-{line.id}", data={"quantity": line.quantity,
                                                                   "need_by": line.need_by})


def render_cart(failed: LineForm | None = None, failed_line: int | None = None, status: int = 200):
    review = _review()
    rows = cart_rows(review) if review is not None else []
    for row in rows:
        row.form = failed if row.line.id == failed_line else _line_form(row.line)
    return render_template("checkout/cart.html", review=review, rows=rows, remove_form=RemoveForm()), status


def own_line_or_404(line_id: int) -> CartLine:
    """A line of the signed-in buyer's own cart; any other id (another company's included) is 404."""
    cart = carts.find_cart(current_user.id, _company().id)
    line = next((line for line in (cart.lines if cart else []) if line.id == line_id), None)
    if line is None:
        abort(404)
    return line


@bp.get("/cart")
@allow(*EVERYONE)
def cart():
    return render_cart()


@bp.post("/cart/lines/<int:line_id>")
@allow(*EVERYONE)
def update_line(line_id: int):
    line = own_line_or_404(line_id)
    form = LineForm(prefix=f"line-{line_id}")
    if not form.validate_on_submit():
        return render_cart(failed=form, failed_line=line_id, status=422)
    try:
        carts.update_line(current_user.id, _company().id, line_id, form.quantity.data, form.need_by.data)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        form.quantity.errors = [str(exc)]
        return render_cart(failed=form, failed_line=line_id, status=422)
    flash(f"Updated {line.product.sku}.", "success")
    return redirect(url_for("checkout.cart"))


@bp.post("/cart/lines/<int:line_id>/remove")
@allow(*EVERYONE)
def remove_line(line_id: int):
    own_line_or_404(line_id)
    form = RemoveForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        sku = carts.remove_line(current_user.id, _company().id, line_id)
    except NotFound:
        abort(404)
    flash(f"Removed {sku} from your cart.", "success")
    return redirect(url_for(BACK_TO.get(form.back.data or "cart", "checkout.cart")))


@bp.app_context_processor
def _cart_count():
    def cart_line_count() -> int | None:
        """Lines in the buyer's cart, for the navigation (None when it cannot be read)."""
        try:
            company = acting.acting_company()
            if company is None:
                return None
            return db.session.scalar(select(func.count(CartLine.id)).join(Cart).where(
                Cart.user_id == current_user.id, Cart.company_id == company.id))
        except SQLAlchemyError:  # the error page of a failed request must still render
            db.session.rollback()
            return None

    return {"cart_line_count": cart_line_count, "acting_company": acting.acting_company}


from portal.checkout import placing, quick  # noqa: E402, F401
