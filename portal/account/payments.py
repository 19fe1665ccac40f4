"""The buyer's payment methods (saved cards, through Stripe.js) and statement (invoices, credit).

Registered on the ``account`` blueprint. Views translate; ``portal.services.cards`` and
``portal.services.credit`` decide. Another company's card or card set-up is 404.
"""

from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.access import EVERYONE, allow
from portal.account import bp
from portal.account.forms import CardActionForm, PayDueForm, SaveCardForm
from portal.clock import today
from portal.extensions import db
from portal.integrations import stripe as gateway
from portal.integrations.pdf import render_pdf
from portal.models import Invoice, Order
from portal.services import NotFound, ServiceError, cards, credit, invoices, payment_due, payments, shipping
from portal.services import billing as invoice_billing
from portal.services.scope import invoice_or_404, order_or_404


@bp.get("/payment-methods")
@allow("buyer")
def payment_methods():
    company = current_user.company
    return render_template("account/payment_methods.html", company=company,
                           cards=cards.active_cards(company.id), stripe_on=gateway.configured(),
                           add_form=CardActionForm(), remove_form=CardActionForm())


@bp.post("/payment-methods/new")
@allow("buyer")
def new_card():
    """Start saving a card: a SetupIntent for the company's Stripe customer, then the card form."""
    if not CardActionForm().validate_on_submit():
        abort(400)
    if not gateway.configured():
        flash("Card payments are not set up: your account pays on account.", "warning")
        return redirect(url_for("account.payment_methods"))
    try:
        intent = cards.start_setup(current_user.company_id)
    except gateway.StripeUnavailable as exc:
        flash(str(exc), "danger")
        return redirect(url_for("account.payment_methods"))
    return render_template("account/card_form.html", client_secret=intent.client_secret,
                           publishable_key=gateway.publishable_key(), form=SaveCardForm(),
                           stripe_js=current_app.config["STRIPE_JS_URL"])


@bp.post("/payment-methods/saved")
@allow("buyer")
def save_card():
    """Stripe.js confirmed the SetupIntent in the browser: record the card."""
    form = SaveCardForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        card = cards.complete_setup(current_user.company_id, form.setup_intent.data)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("account.payment_methods"))
    flash(f"Saved {card.label}.", "success")
    return redirect(url_for("account.payment_methods"))


@bp.post("/payment-methods/<int:card_id>/remove")
@allow("buyer")
def remove_card(card_id: int):
    if cards.card_of_company(current_user.company_id, card_id) is None:
        abort(404)
    if not CardActionForm().validate_on_submit():
        abort(400)
    try:
        card = cards.remove_card(current_user.company_id, card_id)
    except gateway.StripeUnavailable as exc:
        flash(str(exc), "danger")
        return redirect(url_for("account.payment_methods"))
    flash(f"Removed {card.label}.", "success")
    return redirect(url_for("account.payment_methods"))


@bp.get("/statement")
@allow("buyer")
def statement():
    company = current_user.company
    invoices = list(db.session.scalars(select(Invoice).where(Invoice.company_id == company.id)
                                       .order_by(Invoice.issued_on.desc(), Invoice.id.desc()).limit(500)))
    on_date = today()
    groups = {
        "overdue": [i for i in invoices if i.is_overdue(on_date)],
        "open": [i for i in invoices if i.status == "open" and not i.is_overdue(on_date)],
        "paid": [i for i in invoices if i.status == "paid"],
    }
    exposure = credit.exposure(company.id)
    return render_template("account/statement.html", company=company, groups=groups, exposure=exposure,
                           available=max(company.credit_limit - exposure, 0), today=on_date,
                           uninvoiced=invoice_billing.uninvoiced_orders(company.id),
                           credit_notes=invoice_billing.credit_notes_of_company(company.id))


@bp.get("/invoices/<number>.pdf")
@allow(*EVERYONE)
def invoice_pdf(number: str):
    """An invoice as the customer keeps it; buyers reach their company's, staff their companies'."""
    invoice = invoice_or_404(current_user, number)
    order = db.session.get(Order, invoice.order_id)
    billing = next((a for a in order.company.addresses if a.is_billing), None)
    pdf = render_pdf("pdf/invoice.html", invoice=invoice, order=order, company=order.company,
                     billing=billing, payments=invoices.payments_of(invoice.id),
                     document=invoice_billing.invoice_document(invoice))
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{invoice.number}.pdf"'})


# --- a shipment payment that is due ---------------------------------------------------------------


def payment_context(order) -> dict:
    """What the order page shows about paying: the sentence, and any due shipment payment with the
    buyer's cards to pay it with."""
    due = payment_due.due_charges(order.id) if current_user.role == "buyer" else []
    waiting = shipping.planned_shipments_of(order.id) if current_user.is_staff else []
    return {"payment_status": payments.payment_status(order), "due_charges": due,
            "pay_cards": cards.active_cards(order.company_id) if due else [], "pay_form": PayDueForm(),
            "waiting_shipments": waiting}


@bp.post("/orders/<number>/payments/<int:charge_id>")
@allow("buyer")
def pay_due(number: str, charge_id: int):
    order = order_or_404(current_user, number)
    form = PayDueForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        attempt = payment_due.pay_due(order.company_id, order.id, charge_id, form.card_id.data)
    except NotFound:
        abort(404)
    except (ServiceError, gateway.StripeUnavailable) as exc:
        flash(str(exc), "danger")
        return redirect(url_for("account.order", number=order.number))
    if attempt.status == "requires_action":
        return render_template("account/authenticate_payment.html", order=order, charge_id=charge_id,
                               client_secret=attempt.client_secret, form=PayDueForm(),
                               publishable_key=gateway.publishable_key(),
                               stripe_js=current_app.config["STRIPE_JS_URL"])
    _flash_attempt(attempt)
    return redirect(url_for("account.order", number=order.number))


@bp.post("/orders/<number>/payments/<int:charge_id>/check")
@allow("buyer")
def check_payment(number: str, charge_id: int):
    """Stripe.js authenticated (or not) the payment: record what Stripe says."""
    order = order_or_404(current_user, number)
    if not CardActionForm().validate_on_submit():
        abort(400)
    try:
        _flash_attempt(payment_due.refresh(order.company_id, order.id, charge_id))
    except NotFound:
        abort(404)
    except gateway.StripeUnavailable as exc:
        flash(str(exc), "danger")
    return redirect(url_for("account.order", number=order.number))


def _flash_attempt(attempt: payment_due.Attempt) -> None:
    if attempt.status == "succeeded":
        flash("Thank you: the payment went through.", "success")
    else:
        flash(f"The payment did not go through: {attempt.message or 'your card was declined.'} "
              "Try again or use another card.", "danger")
