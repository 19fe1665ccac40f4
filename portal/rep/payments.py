"""Staff view of a company's credit and payments: credit position, credit exceptions, invoices and the
manual payments recorded against them, and (admins) when card orders are charged.

Registered on the ``rep`` blueprint; reps reach their companies only (404 otherwise), admins all.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from portal.access import STAFF, allow
from portal.clock import today
from portal.extensions import db
from portal.models import Invoice
from portal.rep import bp
from portal.rep.forms import ChargePolicyForm, CreditExceptionForm, ManualPaymentForm
from portal.services import ServiceError, credit, invoices
from portal.services.scope import company_or_404


def _page(company, exception_form=None, payment_forms=None, status: int = 200):
    rows = invoices.invoices_of(company.id)
    forms = {invoice.id: ManualPaymentForm(formdata=None, prefix=f"pay-{invoice.id}",
                                           data={"received_on": today()}) for invoice in rows}
    forms.update(payment_forms or {})
    exposure = credit.exposure(company.id)
    return render_template(
        "rep/credit.html", company=company, invoices=rows, payment_forms=forms, today=today(),
        exposure=exposure, available=max(company.credit_limit - exposure, 0),
        exceptions=credit.open_exceptions(company.id),
        exception_form=exception_form or CreditExceptionForm(formdata=None),
        policy_form=ChargePolicyForm(formdata=None, data={"charge_policy": company.charge_policy}),
    ), status


@bp.get("/companies/<int:company_id>/credit")
@allow(*STAFF)
def credit_page(company_id: int):
    return _page(company_or_404(current_user, company_id))


@bp.post("/companies/<int:company_id>/credit-exceptions")
@allow(*STAFF)
def grant_credit_exception(company_id: int):
    company = company_or_404(current_user, company_id)
    form = CreditExceptionForm()
    if not form.validate_on_submit():
        return _page(company, exception_form=form, status=422)
    try:
        credit.grant_exception(current_user, company.id, form.amount.data, form.reason.data)
    except ServiceError as exc:
        form.reason.errors = [str(exc)]
        return _page(company, exception_form=form, status=422)
    flash(f"{company.name} may place one on-account order up to {form.amount.data} over its limit.",
          "success")
    return redirect(url_for("rep.credit_page", company_id=company.id))


@bp.post("/invoices/<int:invoice_id>/payments")
@allow(*STAFF)
def record_payment(invoice_id: int):
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        abort(404)
    company = company_or_404(current_user, invoice.company_id)
    form = ManualPaymentForm(prefix=f"pay-{invoice.id}")
    if not form.validate_on_submit():
        return _page(company, payment_forms={invoice.id: form}, status=422)
    try:
        payment = invoices.record_payment(current_user, invoice.id, form.method.data, form.reference.data,
                                          form.amount.data, form.received_on.data)
    except ServiceError as exc:
        form.amount.errors = [str(exc)]
        return _page(company, payment_forms={invoice.id: form}, status=422)
    extra = payment.amount - payment.applied
    flash(f"Recorded {payment.amount} against {invoice.number}"
          + (f"; {extra} over the balance is credit on the account." if extra else "."), "success")
    return redirect(url_for("rep.credit_page", company_id=company.id))


@bp.post("/companies/<int:company_id>/charge-policy")
@allow("admin")
def set_charge_policy(company_id: int):
    company = company_or_404(current_user, company_id)
    form = ChargePolicyForm()
    if not form.validate_on_submit():
        return _page(company, status=422)
    invoices.set_charge_policy(current_user, company.id, form.charge_policy.data)
    flash("Saved when card orders are charged (orders placed from now on).", "success")
    return redirect(url_for("rep.credit_page", company_id=company.id))
