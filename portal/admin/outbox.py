"""The outbox (admins): what is waiting to be emailed, what keeps failing and why, one email as it
will be sent, and "try again now". Registered on ``admin``."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.access import allow
from portal.admin import bp
from portal.models.base import utcnow
from portal.rep.forms import ConfirmForm
from portal.services import NotFound, ServiceError, outbox, outbox_monitor


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 18 else None


def _state():
    now = utcnow()
    return lambda message: outbox_monitor.state(message, now)


@bp.get("/outbox")
@allow("admin")
def outbox_messages():
    status = request.args.get("status", "waiting")
    if status not in outbox_monitor.STATUSES:
        status = "waiting"
    topic = request.args.get("topic", "")[:60]
    recipient = request.args.get("recipient", "").strip()[:254]
    rows = outbox_monitor.messages(status, topic, recipient, _int_arg("before"))
    more = len(rows) == outbox_monitor.PAGE_SIZE
    return render_template(
        "admin/outbox.html", rows=rows, status=status, topic=topic, recipient=recipient, more=more,
        overview=outbox_monitor.overview(), topics=outbox_monitor.topics(), state=_state(),
        topic_label=outbox_monitor.topic_label, confirm=ConfirmForm())


@bp.get("/outbox/<int:message_id>")
@allow("admin")
def outbox_message(message_id: int):
    try:
        message = outbox_monitor.message(message_id)
    except NotFound:
        abort(404)
    payload = outbox_monitor.payload_of(message)
    email = None
    try:
        email = outbox.render(message.topic, payload, message.recipient_email, f"<preview-{message.id}>",
                              to_user=message.recipient_user_id is not None)
    except Exception as exc:  # noqa: BLE001 - show why a message cannot be rendered instead of failing
        flash(f"This message cannot be rendered: {exc}", "danger")
    return render_template("admin/outbox_message.html", message=message, email=email, state=_state(),
                           topic_label=outbox_monitor.topic_label,
                           confirm=ConfirmForm())


@bp.post("/outbox/<int:message_id>/retry")
@allow("admin")
def outbox_retry(message_id: int):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        outbox_monitor.retry_now(current_user, message_id, utcnow())
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(str(exc), "warning")
        return redirect(url_for("admin.outbox_message", message_id=message_id))
    flash("The message will be tried again on the sender's next round.", "success")
    return redirect(url_for("admin.outbox_message", message_id=message_id))
