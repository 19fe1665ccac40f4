"""Forms of the purchasing back office: vendors, PO lines and status, receiving, shipping, the backorder
queue, settings and goodwill. Every parse error is a plain sentence."""

from __future__ import annotations

import uuid
from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, IntegerField, RadioField, StringField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange, Optional, StopValidation

from portal.admin.forms import MAX_MONEY, AmountField, not_blank, strip
from portal.catalog.forms import QuantityField
from portal.domain.allocation import PRIORITY_RULES
from portal.forms import email_field
from portal.services.purchasing import VendorData

MAX_UNITS = 1_000_000


class VendorForm(FlaskForm):
    name = StringField(
        "Name",
        filters=[strip],
        validators=[
            InputRequired("Enter the vendor's name."),
            not_blank("Enter the vendor's name."),
            Length(max=200, message="At most 200 characters."),
        ],
    )
    contact_name = StringField(
        "Contact person", filters=[strip], validators=[Length(max=120, message="At most 120 characters.")]
    )
    email = email_field("Email for purchase orders")
    phone = StringField(
        "Phone", filters=[strip], validators=[Length(max=40, message="At most 40 characters.")]
    )
    lead_time_days = QuantityField(
        "Lead time (days)",
        default=14,
        validators=[
            InputRequired("Enter the lead time in days."),
            NumberRange(min=0, max=3650, message="A whole number of days from 0 to 3,650."),
        ],
    )
    min_order_value = AmountField(
        "Minimum order value",
        default=Decimal("0"),
        validators=[
            InputRequired("Enter the minimum order value (0 for none)."),
            NumberRange(min=0, max=MAX_MONEY, message="Between 0 and 9,999,999,999.99."),
        ],
    )
    pack_size = QuantityField(
        "Pack size (PO quantities round up to it)",
        default=1,
        validators=[
            InputRequired("Enter the pack size (1 for single units)."),
            NumberRange(min=1, max=100_000, message="A whole number from 1 to 100,000."),
        ],
    )
    active = BooleanField("Active", default=True)

    def to_data(self) -> VendorData:
        return VendorData(
            self.name.data,
            self.contact_name.data or "",
            self.email.data,
            self.phone.data or "",
            self.lead_time_days.data,
            self.min_order_value.data,
            self.pack_size.data,
            bool(self.active.data),
        )


class NewDraftForm(FlaskForm):
    vendor_id = IntegerField(
        "Vendor",
        validators=[
            InputRequired("Choose a vendor."),
            NumberRange(min=1, max=2**31 - 1, message="Choose a vendor."),
        ],
    )


class ConfirmForm(FlaskForm):
    """A button with nothing but its CSRF token."""


class PoLineForm(FlaskForm):
    sku = StringField(
        "SKU",
        filters=[strip],
        validators=[
            InputRequired("Enter the SKU."),
            not_blank("Enter the SKU."),
            Length(max=40, message="At most 40 characters."),
        ],
    )
    quantity = QuantityField(
        "Quantity",
        validators=[
            InputRequired("Enter the quantity."),
            NumberRange(min=1, max=MAX_UNITS, message=f"A whole number from 1 to {MAX_UNITS:,}."),
        ],
    )
    expected_date = DateField("Expected date", validators=[Optional()])


class PoLineUpdateForm(FlaskForm):
    quantity = QuantityField(
        "Quantity",
        validators=[
            InputRequired("Enter the quantity."),
            NumberRange(min=1, max=MAX_UNITS, message=f"A whole number from 1 to {MAX_UNITS:,}."),
        ],
    )
    expected_date = DateField("Expected date", validators=[Optional()])
    confirmed = BooleanField("Confirmed by the vendor")
    unit_cost = AmountField(
        "Unit cost",
        validators=[Optional(), NumberRange(min=0, max=MAX_MONEY, message="Between 0 and 9,999,999,999.99.")],
        render_kw={"inputmode": "decimal"},
    )


class NotesForm(FlaskForm):
    notes = TextAreaField(
        "Notes (printed on the PO)",
        validators=[Length(max=2000, message="At most 2,000 characters.")],
        render_kw={"rows": 3},
    )


class StatusForm(FlaskForm):
    status = HiddenField(
        validators=[InputRequired(), AnyOf(["sent", "cancelled", "received", "partially_received", "draft"])]
    )
    #: Only on the send form of a PO below its vendor's minimum order value.
    send_anyway = BooleanField("Send anyway, below the vendor's minimum")
    reason = StringField(
        "Reason for sending below the minimum",
        filters=[strip],
        validators=[Length(max=500, message="At most 500 characters.")],
    )

    def below_minimum_reason(self) -> str | None:
        """The reason when "send anyway" is ticked (None: ticked without one), else ""."""
        if not self.send_anyway.data:
            return ""
        return self.reason.data or None


class ReceiveForm(FlaskForm):
    token = HiddenField(validators=[InputRequired(), Length(min=8, max=64)], default=lambda: uuid.uuid4().hex)
    accept_over = BooleanField("Accept over-receipt (more than ordered arrived and we keep it)")


def parse_quantities(form_data, prefix: str, ids: list[int], label_of) -> tuple[dict[int, int], list[str]]:
    """Per-line quantity inputs named ``<prefix>-<id>``: blank is 0; every bad entry gets a sentence."""
    quantities, problems = {}, []
    for line_id in ids:
        raw = (form_data.get(f"{prefix}-{line_id}") or "").strip().replace(",", "")
        if raw == "":
            quantities[line_id] = 0
        elif raw.lstrip("-").isdigit() and len(raw) <= 9:
            quantities[line_id] = int(raw)
        else:
            problems.append(f"{label_of(line_id)}: enter a whole number of units, like 4.")
    return quantities, problems


class ShipForm(FlaskForm):
    token = HiddenField(validators=[InputRequired(), Length(min=8, max=64)], default=lambda: uuid.uuid4().hex)
    tracking_number = StringField(
        "Tracking number", filters=[strip], validators=[Length(max=60, message="At most 60 characters.")]
    )
    carrier = StringField(
        "Carrier", filters=[strip], validators=[Length(max=60, message="At most 60 characters.")]
    )


class ShipPlannedForm(FlaskForm):
    """Ship a shipment that waited for payment; unpaid only with a reason (checked by the service)."""

    reason = TextAreaField(
        "Reason for shipping before payment",
        filters=[strip],
        validators=[Length(max=500, message="At most 500 characters.")],
    )


class PriorityForm(FlaskForm):
    priority = QuantityField(
        "Priority",
        validators=[
            InputRequired("Enter a priority."),
            NumberRange(min=-1000, max=1000, message="A whole number from -1000 to 1000."),
        ],
    )


class AllocateForm(FlaskForm):
    quantity = QuantityField(
        "Units to allocate",
        validators=[
            InputRequired("Enter how many units to allocate."),
            NumberRange(min=1, max=MAX_UNITS, message=f"A whole number from 1 to {MAX_UNITS:,}."),
        ],
    )


class SettingsForm(FlaskForm):
    backorder_priority = RadioField(
        "Serve waiting backorders by",
        choices=list(PRIORITY_RULES.items()),
        validators=[InputRequired("Choose how waiting backorders are served.")],
    )
    auto_add_backorders = BooleanField("Add new backorders to the vendor's draft PO when orders are placed")
    rep_goodwill_limit = AmountField(
        "Sales reps grant goodwill up to (per adjustment, without approval)",
        validators=[
            InputRequired("Enter the reps' goodwill limit."),
            NumberRange(min=0, max=MAX_MONEY, message="Between 0 and 9,999,999,999.99."),
        ],
    )


class CancelLineForm(FlaskForm):
    quantity = QuantityField(
        "Units to cancel",
        validators=[
            InputRequired("Enter how many units to cancel."),
            NumberRange(min=1, max=MAX_UNITS, message=f"A whole number from 1 to {MAX_UNITS:,}."),
        ],
    )
    reason = StringField(
        "Reason",
        filters=[strip],
        validators=[
            InputRequired("Give a reason for the cancellation."),
            not_blank("Give a reason for the cancellation."),
            Length(max=200, message="At most 200 characters."),
        ],
    )


class GoodwillForm(FlaskForm):
    line_id = HiddenField()
    percent = AmountField("Percent off", message="Enter a percentage, like 5 or 7.5.")
    amount = AmountField("Or an amount")
    reason = StringField(
        "Reason (the buyer sees it)",
        filters=[strip],
        validators=[
            InputRequired("Give a reason: the buyer sees it."),
            not_blank("Give a reason: the buyer sees it."),
            Length(max=500, message="At most 500 characters."),
        ],
    )

    def validate_amount(self, field) -> None:
        if (
            (self.percent.data is None) == (field.data is None)
            and not field.errors
            and not self.percent.errors
        ):
            raise StopValidation("Give either a percentage or an amount, not both.")


class DecisionForm(FlaskForm):
    decision = HiddenField(validators=[InputRequired(), AnyOf(["approve", "reject"])])


class ReorderForm(FlaskForm):
    sku = StringField("SKU", filters=[strip], validators=[
        InputRequired("Enter the SKU."), not_blank("Enter the SKU."),
        Length(max=40, message="At most 40 characters.")])
    reorder_min = QuantityField("Reorder point (order when the stock position falls below)", validators=[
        Optional(), NumberRange(min=0, max=MAX_UNITS, message=f"A whole number from 0 to {MAX_UNITS:,}.")])
    reorder_max = QuantityField("Order up to", validators=[
        Optional(), NumberRange(min=0, max=MAX_UNITS, message=f"A whole number from 0 to {MAX_UNITS:,}.")])
    pack_size = QuantityField("Pack size for this product (blank: the vendor's)", validators=[
        Optional(), NumberRange(min=1, max=100_000, message="A whole number from 1 to 100,000.")])

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        low, high = self.reorder_min.data, self.reorder_max.data
        if self.reorder_min.errors or self.reorder_max.errors:
            return False
        if (low is None) != (high is None):
            self.reorder_max.errors = ["Give both the reorder point and the quantity to order up to (or "
                                       "neither, to remove the rule)."]
            return False
        if high is not None and high < low:
            self.reorder_max.errors = ["Order up to at least the reorder point."]
            return False
        return valid


class BuyerCancelForm(FlaskForm):
    """A buyer cancels units still on backorder (no reason asked: it is their order)."""

    quantity = QuantityField(
        "Units to cancel",
        validators=[
            InputRequired("Enter how many units to cancel."),
            NumberRange(min=1, max=MAX_UNITS, message=f"A whole number from 1 to {MAX_UNITS:,}."),
        ],
    )
