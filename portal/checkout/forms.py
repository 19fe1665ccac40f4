from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import Form, HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields import DateField, FieldList, FormField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from portal.catalog.forms import MAX_LINE_QUANTITY, QuantityField
from portal.clock import today
from portal.domain.quick_order import MAX_ROWS

SHIPPING_CHOICES = [
    ("ship_partial", "Ship what is available now and the rest as it arrives"),
    ("ship_complete", "Ship complete: everything together when all of it is here"),
]
PAYMENT_CHOICES = [("on_account", "On account (invoice)"), ("card", "Card")]
PAD_ROWS = 10


class PlainDateField(DateField):
    """An HTML date input whose parse error says what to type."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Enter a date like 2026-12-05.") from None


def from_today_on(form, field) -> None:
    if field.data is not None and field.data < today():
        raise ValidationError("Choose a date from today on.")


def _quantity_field() -> QuantityField:
    return QuantityField("Quantity", validators=[
        InputRequired("Enter a quantity."),
        NumberRange(min=1, max=MAX_LINE_QUANTITY,
                    message=f"Enter a whole number from 1 to {MAX_LINE_QUANTITY:,}."),
    ], render_kw={"inputmode": "numeric", "autocomplete": "off"})


class LineForm(FlaskForm):
    """One cart line's quantity and its own deadline (built with prefix ``line-<id>``)."""

    quantity = _quantity_field()
    need_by = PlainDateField("Need by (optional)", validators=[Optional(), from_today_on])


class RemoveForm(FlaskForm):
    #: Where to come back to: the cart or the review page.
    back = HiddenField(default="cart")


class DecisionForm(FlaskForm):
    """Keep a late line (accept its later date): the line id is in the URL."""


class SwapForm(FlaskForm):
    alternative_id = IntegerField("Alternative", validators=[InputRequired()])


class PadRow(Form):
    sku = StringField("SKU", validators=[Length(max=200)], render_kw={"autocomplete": "off"})
    quantity = StringField("Quantity", validators=[Length(max=40)],
                           render_kw={"inputmode": "numeric", "autocomplete": "off"})


class QuickOrderForm(FlaskForm):
    rows = FieldList(FormField(PadRow), min_entries=PAD_ROWS, max_entries=MAX_ROWS)
    text = TextAreaField("Or paste lines of SKU and quantity", validators=[
        Length(max=MAX_ROWS * 80, message=f"Paste at most {MAX_ROWS} lines at a time.")],
        render_kw={"rows": 6, "spellcheck": "false"})
    upload = FileField("Or upload a CSV file", validators=[
        FileAllowed(["csv", "txt"], "Upload a .csv file (columns sku, quantity).")],
        render_kw={"accept": ".csv,text/csv"})


class DetailsForm(FlaskForm):
    ship_to = SelectField("Ship to", coerce=int, validate_choice=True,
                          validators=[InputRequired("Choose where to ship the order.")])
    po_reference = StringField("Your PO reference (optional)", validators=[
        Optional(), Length(max=60, message="Use at most 60 characters.")], render_kw={"maxlength": 60})
    need_by = PlainDateField("Need the order by (optional)", validators=[Optional(), from_today_on])
    shipping_preference = RadioField("Shipping", choices=SHIPPING_CHOICES, default="ship_partial",
                                     validators=[InputRequired("Choose how to ship the order.")])
    payment_method = RadioField("Payment", choices=PAYMENT_CHOICES, default="on_account",
                                validators=[InputRequired("Choose how to pay.")])
    #: Choices are the company's saved cards (set by the view); checked again by the service.
    payment_card = SelectField("Card to pay with", coerce=int, validate_choice=False,
                               validators=[Optional()])

    def validate_payment_card(self, field) -> None:
        if self.payment_method.data == "card" and not field.data:
            raise ValidationError("Choose one of your saved cards, or add one under Payment methods.")


class PlaceForm(FlaskForm):
    token = HiddenField()
    #: The reviewed figures and the token, signed: a changed field is refused (400).
    reviewed = HiddenField()
