"""The rep workspace's own routes: notes on an account and ordering for a customer (the dashboard is
the rep index)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from portal import acting
from portal.access import STAFF, allow
from portal.rep import bp
from portal.rep.forms import ConfirmForm, NoteForm, UserForm
from portal.services import rep_workspace
from portal.services.scope import company_or_404


def company_context(company) -> dict:
    """What ``rep/company.html`` needs besides the company (its notes and the note form)."""
    return {"notes": rep_workspace.notes(company.id), "note_form": NoteForm(formdata=None)}


@bp.post("/companies/<int:company_id>/notes")
@allow(*STAFF)
def add_note(company_id: int):
    company = company_or_404(current_user, company_id)
    form = NoteForm()
    if form.validate_on_submit():
        try:
            rep_workspace.add_note(current_user, company.id, form.body.data)
        except rep_workspace.NoteRefused as exc:
            form.body.errors.append(str(exc))
        else:
            flash("Note saved.", "success")
            return redirect(url_for("rep.company", company_id=company.id) + "#notes-heading")
    return render_template("rep/company.html", company=company, buyer_form=UserForm(formdata=None),
                           confirm=ConfirmForm(), notes=rep_workspace.notes(company.id), note_form=form), 422


@bp.post("/companies/<int:company_id>/order")
@allow(*STAFF)
def order_for(company_id: int):
    """Order for this customer: the cart, prices and addresses become the company's (portal/acting.py)."""
    company = company_or_404(current_user, company_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if not company.active:
        flash(f"{company.name} is inactive: reactivate the account before ordering for it.", "warning")
        return redirect(url_for("rep.company", company_id=company.id))
    acting.start(company)
    flash(f"You are ordering for {company.name}: the cart, prices and addresses are theirs, and the order "
          "will show you placed it.", "info")
    return redirect(url_for("checkout.quick_order"))


@bp.post("/ordering/stop")
@allow(*STAFF)
def stop_ordering():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    company = acting.acting_company()
    acting.stop()
    if company is not None:
        flash(f"You stopped ordering for {company.name}; their cart is kept for next time.", "info")
    return redirect(url_for("rep.company", company_id=company.id) if company else url_for("rep.index"))
