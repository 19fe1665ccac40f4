"""Forms of the notification pages (registered on the ``account`` blueprint)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, SubmitField

from portal.services.notifications import GROUP_LABELS


class MarkReadForm(FlaskForm):
    """Mark one notice, or all of them, as read: the CSRF token is the whole form."""


class EmailChoicesForm(FlaskForm):
    orders = BooleanField(GROUP_LABELS["orders"])
    backorders = BooleanField(GROUP_LABELS["backorders"])
    stock = BooleanField(GROUP_LABELS["stock"])
    billing = BooleanField(GROUP_LABELS["billing"])
    submit = SubmitField("Save email settings")

    def wanted(self) -> list[str]:
        return [group for group in GROUP_LABELS if self[group].data]
