"""Checkout details, the review with its deadline check, placing the order, and the confirmation.

The place form carries a one-time token and the figures the buyer reviewed, signed together with the
buyer's and company's ids: a changed field is refused before anything is written, and placing compares
the reviewed figures with live ones (``ordering.place_order`` reports every changed line).
"""

from __future__ import annotations

import uuid

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.access import EVERYONE, allow
from portal.checkout import _company, _review, _today, bp, cart_rows, own_line_or_404, split_for
from portal.checkout.forms import DecisionForm, DetailsForm, PlaceForm, RemoveForm, SwapForm
from portal.domain.availability import check_quantity
from portal.domain.checkout import PlanLine
from portal.domain.display import order_split
from portal.extensions import db
from portal.integrations import stripe as gateway
from portal.models import Order
from portal.services import NotFound, ServiceError, cards, carts, catalog, ordering, payments
from portal.services.pricing import PriceBook

SALT = "checkout-review"


# --- details ---------------------------------------------------------------------------------------


def _address_choices() -> list[tuple[int, str]]:
    return [(a.id, f"{a.label}: {a.one_line()}") for a in _company().addresses]


TERMS_LABELS = {"net15": "Net 15", "net30": "Net 30", "net60": "Net 60", "card_only": "card only"}
POLICY_HELP = {"at_order": "charged when you place the order",
               "at_shipment": "each shipment is charged when it ships"}


def _payment_choices(form: DetailsForm) -> None:
    """On account unless the terms say card only; card when Stripe is set up (with the saved cards)."""
    company = _company()
    stripe_on = gateway.configured()
    choices = []
    if company.payment_terms != "card_only" or not stripe_on:
        choices.append(("on_account", f"On account (invoice, {TERMS_LABELS[company.payment_terms]})"))
    if stripe_on:
        choices.append(("card", f"Card ({POLICY_HELP[company.charge_policy]})"))
    form.payment_method.choices = choices
    form.payment_card.choices = [(c.id, c.label) for c in cards.active_cards(company.id)] if stripe_on else []


@bp.route("/checkout", methods=["GET", "POST"])
@allow(*EVERYONE)
def details():
    cart = carts.find_cart(current_user.id, _company().id)
    if cart is None or not cart.lines:
        flash("Your cart is empty: add products before checking out.", "info")
        return redirect(url_for("checkout.cart"))
    if request.method == "GET":
        form = DetailsForm(data={"ship_to": cart.ship_to_id, "po_reference": cart.po_reference,
                                 "need_by": cart.need_by, "shipping_preference": cart.shipping_preference,
                                 "payment_method": cart.payment_method,
                                 "payment_card": cart.payment_card_id})
    else:
        form = DetailsForm()
    form.ship_to.choices = _address_choices()
    _payment_choices(form)
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("checkout/details.html", form=form, cart=cart), status
    try:
        carts.save_details(current_user.id, _company().id, carts.CheckoutDetails(
            ship_to_id=form.ship_to.data, po_reference=form.po_reference.data or "",
            need_by=form.need_by.data, shipping_preference=form.shipping_preference.data,
            payment_method=form.payment_method.data,
            payment_card_id=form.payment_card.data if form.payment_method.data == "card" else None))
    except ServiceError as exc:
        (form.payment_card if "card" in str(exc) else form.ship_to).errors = [str(exc)]
        return render_template("checkout/details.html", form=form, cart=cart), 422
    return redirect(url_for("checkout.review"))


# --- review ----------------------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _place_form(review: ordering.Review) -> PlaceForm | None:
    """A fresh one-time token and the reviewed figures, signed; None while anything blocks placing."""
    if review.problems:
        return None
    token = uuid.uuid4().hex
    signed = _serializer().dumps({"token": token, "user": current_user.id, "company": _company().id,
                                  "fingerprint": [list(fp) for fp in review.fingerprint]})
    return PlaceForm(formdata=None, data={"token": token, "reviewed": signed})


def _verified(form: PlaceForm) -> dict | None:
    """The signed payload when it is intact and belongs to this buyer, this company and this token."""
    try:
        payload = _serializer().loads(form.reviewed.data or "")
    except BadData:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("fingerprint"), list):
        return None
    if (payload.get("token"), payload.get("user"), payload.get("company")) != (
            form.token.data, current_user.id, _company().id):
        return None
    return payload


def _swappable(plan: PlanLine, product, book: PriceBook) -> list[catalog.Card]:
    """Alternatives that ship the whole quantity now and accept it as ordered (so a swap resolves the
    deadline rather than trading one problem for another)."""
    return [card for card in catalog.alternatives(product, book, _today())
            if card.facts.available >= plan.quantity
            and not check_quantity(plan.quantity, card.product.order_minimum, card.product.order_multiple)]


def render_review(review: ordering.Review, *, problems=None, changed: list[PlanLine] | None = None,
                  status: int = 200, declined: str = "", authenticate: PlaceForm | None = None,
                  client_secret: str = ""):
    rows = cart_rows(review)
    book = PriceBook.for_company(_company())
    alternatives = {row.line.id: _swappable(row.plan, row.line.product, book)
                    for row in rows if row.plan.late}
    return render_template(
        "checkout/review.html", review=review, rows=rows, alternatives=alternatives,
        problems=review.problems if problems is None else problems,
        changed={line.product_id: split_for(line) for line in changed or []},
        place_form=authenticate or _place_form(review), decision_form=DecisionForm(), swap_form=SwapForm(),
        declined=declined, client_secret=client_secret, company=_company(),
        stripe_js=current_app.config["STRIPE_JS_URL"] if client_secret else None,
        publishable_key=gateway.publishable_key(),
        remove_form=RemoveForm(data={"back": "review"}),
    ), status


def _review_or_redirect():
    review = _review()
    if review is None or not review.lines:
        flash("Your cart is empty: add products before checking out.", "info")
        return None, redirect(url_for("checkout.cart"))
    return review, None


@bp.get("/checkout/review")
@allow(*EVERYONE)
def review():
    found, away = _review_or_redirect()
    return away or render_review(found)


@bp.post("/checkout/lines/<int:line_id>/keep")
@allow(*EVERYONE)
def keep_line(line_id: int):
    line = own_line_or_404(line_id)
    if not DecisionForm().validate_on_submit():
        abort(400)
    try:
        carts.accept_late(current_user.id, _company().id, line_id)
    except NotFound:
        abort(404)
    flash(f"Kept {line.product.sku}: you accepted its later arrival date.", "success")
    return redirect(url_for("checkout.review"))


@bp.post("/checkout/lines/<int:line_id>/swap")
@allow(*EVERYONE)
def swap_line(line_id: int):
    own_line_or_404(line_id)
    form = SwapForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        old, new = carts.swap_line(current_user.id, _company().id, line_id, form.alternative_id.data)
    except ServiceError as exc:  # the line is ours (checked above): the alternative went away
        flash(str(exc), "danger")
        return redirect(url_for("checkout.review"))
    flash(f"Swapped {old} for {new}.", "success")
    return redirect(url_for("checkout.review"))


# --- placing ---------------------------------------------------------------------------------------


@bp.post("/checkout/place")
@allow(*EVERYONE)
def place():
    form = PlaceForm()
    payload = _verified(form) if form.validate_on_submit() else None
    if payload is None:
        return render_template("checkout/stale.html"), 400
    try:
        order = _place(form.token.data, payload["fingerprint"])
    except payments.PaymentDeclined as exc:
        return _rerender(declined=str(exc))
    except payments.AuthenticationRequired as exc:
        # Same token and signed figures: after Stripe.js authenticates, the form is sent again and
        # finds its charge (portal.services.payments).
        again = PlaceForm(formdata=None, data={"token": form.token.data, "reviewed": form.reviewed.data})
        return _rerender(authenticate=again, client_secret=exc.client_secret)
    except gateway.StripeUnavailable as exc:
        return _rerender(declined=str(exc))
    except ordering.CheckoutRejected as exc:
        return _rerender(problems=exc.problems)
    except ordering.ReviewOutdated as exc:
        return _rerender(changed=exc.lines)
    except ServiceError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("checkout.review"))
    return redirect(url_for("checkout.confirmation", number=order.number))


def _place(token: str, fingerprint: list):
    """Card orders charged at placement authorize first (payments); everything else places directly."""
    cart = carts.find_cart(current_user.id, _company().id)
    if cart is not None and cart.payment_method == "card" and _company().charge_policy == "at_order":
        return payments.place_order_paid_by_card(current_user, _company().id, token, fingerprint, _today())
    return ordering.place_order(current_user, _company().id, token, fingerprint, _today())


def _rerender(**kwargs):
    """The review again (status 409), with a fresh token, after placing was refused."""
    found, away = _review_or_redirect()
    return away or render_review(found, status=409, **kwargs)


# --- confirmation ----------------------------------------------------------------------------------


def optional_url(endpoint: str, **values) -> str | None:
    """A link to a page that may not be part of this build yet (the order pages land separately)."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


@bp.get("/checkout/done/<number>")
@allow(*EVERYONE)
def confirmation(number: str):
    order = db.session.scalar(
        select(Order).where(Order.number == number[:20], Order.company_id == _company().id)
        .options(selectinload(Order.lines), selectinload(Order.adjustments)))
    if order is None:
        abort(404)
    lines = [(line, order_split(line.allocated, line.backordered, line.eta, line.eta_estimated, line.need_by,
                                line.backorder_hidden)) for line in order.lines]
    return render_template("checkout/confirmation.html", order=order, lines=lines,
                           payment_status=payments.payment_status(order),
                           order_url=optional_url("account.order", number=order.number),
                           pdf_url=optional_url("account.order_pdf", number=order.number))
