"""The user's notifications: the in-app list with read/unread, and which emails they get.

Everyone signed in has notifications (a rep who orders for a customer is told about that order). A
notice is only ever its owner's: any other id is 404. Registered on the ``account`` blueprint.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from portal.access import EVERYONE, allow
from portal.account import bp
from portal.account.notification_forms import EmailChoicesForm, MarkReadForm
from portal.extensions import db
from portal.services import NotFound, notifications

#: Ids beyond a 32-bit integer exist nowhere (and PostgreSQL refuses them).
MAX_ID = 2**31 - 1


@bp.get("/notifications")
@allow(*EVERYONE)
def notifications_list():
    notices = notifications.notifications_of(current_user)
    links = {}
    for notice in notices:
        link = notifications.link_of(notice)
        links[notice.id] = url_for(link[0], **link[1]) if link else None
    return render_template("account/notifications.html", notices=notices, links=links,
                           per_page=notifications.PER_PAGE)


@bp.post("/notifications/<int:notification_id>/read")
@allow(*EVERYONE)
def read_notification(notification_id: int):
    if not MarkReadForm().validate_on_submit():
        abort(400)
    if not 0 < notification_id <= MAX_ID:
        abort(404)
    try:
        notifications.mark_read(current_user, notification_id)
    except NotFound:
        abort(404)
    return redirect(url_for("account.notifications_list"))


@bp.post("/notifications/read-all")
@allow(*EVERYONE)
def read_all_notifications():
    if not MarkReadForm().validate_on_submit():
        abort(400)
    notifications.mark_all_read(current_user)
    flash("All notifications marked as read.", "success")
    return redirect(url_for("account.notifications_list"))


@bp.route("/notifications/settings", methods=["GET", "POST"])
@allow(*EVERYONE)
def notification_settings():
    form = EmailChoicesForm(data=notifications.email_choices(current_user.id) if request.method == "GET"
                            else None)
    if not form.validate_on_submit():
        return render_template("account/notification_settings.html", form=form), \
            422 if request.method == "POST" else 200
    notifications.save_email_choices(current_user, form.wanted())
    flash("Email settings saved. Every notice still appears under Notifications.", "success")
    return redirect(url_for("account.notification_settings"))


@bp.app_context_processor
def _unread_badge():
    def unread_notification_count() -> int:
        """For the nav: one cheap indexed count, only when someone is signed in (0 when it cannot be
        read: the error page of a failed request must still render)."""
        if not current_user.is_authenticated:
            return 0
        try:
            return notifications.unread_count(current_user.id)
        except SQLAlchemyError:
            db.session.rollback()
            return 0

    return {"unread_notification_count": unread_notification_count}
