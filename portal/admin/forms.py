"""Back-office forms for products, stock and pricing. Every parse error is a plain sentence."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DecimalField,
    Field,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange, Optional, Regexp, StopValidation

from portal.catalog.forms import QuantityField
from portal.services.inventory import MAX_ADJUSTMENT
from portal.services.product_list import STOCK_STATES, ProductFilter
from portal.services.products import ProductData

#: Ids beyond a 32-bit integer exist nowhere (and PostgreSQL refuses them): treat them as unknown.
MAX_ID = 2**31 - 1
MAX_MONEY = Decimal("9999999999.99")
MAX_UNITS = 1_000_000
POLICY_CHOICES = [("block", "Block: no backorders"), ("allow", "Allow: any quantity"),
                  ("allow_up_to", "Allow up to a cap")]
VISIBILITY_CHOICES = [("show", "Show: buyers see backorder and ETA"),
                      ("hide", "Hide: buyers see “Available”")]
DISPLAY_CHOICES = [("exact", "Exact: “42 in stock”"), ("level", "Level: In stock / Low stock / Out of stock")]
NO_CHANGE = [("", "No change")]


def strip(value):
    return value.strip() if isinstance(value, str) else value


def not_blank(message: str):
    def check(form, field) -> None:
        if not (field.data or "").strip():
            raise StopValidation(message)
    return check


class AmountField(DecimalField):
    """A decimal with at most two places; "abc", "NaN", "1e999" and "12.345" get a clear message."""

    def __init__(self, label=None, validators=None, message="Enter an amount, like 12.50.", **kwargs):
        super().__init__(label, validators, places=2, **kwargs)
        self.parse_message = message

    def process_formdata(self, valuelist):
        if not valuelist or valuelist[0].strip() == "":
            self.data = None
            return
        raw = valuelist[0].strip().replace(",", "")
        try:
            value = Decimal(raw) if len(raw) <= 20 else None
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or value.as_tuple().exponent < -2:
            self.data = None
            raise ValueError(self.parse_message)
        self.data = value

    def pre_validate(self, form):
        if self.process_errors:
            raise StopValidation()


def blank_or_range(minimum: int, maximum: int, message: str):
    """Blank passes (data None) and later validators still run, unlike ``Optional`` which stops them."""
    def check(form, field) -> None:
        if field.data is not None and not minimum <= field.data <= maximum:
            raise StopValidation(message)
    return check


def id_field(label: str = "Id") -> IntegerField:
    return IntegerField(label, validators=[InputRequired(), NumberRange(min=1, max=MAX_ID)])


def _choice_id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 0 < int(value) <= MAX_ID else None


# --- products -----------------------------------------------------------------------------------------


class ProductForm(FlaskForm):
    sku = StringField("SKU", filters=[strip], validators=[
        InputRequired("Enter the SKU."), Length(max=40, message="A SKU has at most 40 characters."),
        Regexp(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
               message="Use letters, digits, dots, dashes, slashes or underscores, like ABC-123.")])
    name = StringField("Name", filters=[strip], validators=[
        InputRequired("Enter the product name."), not_blank("Enter the product name."),
        Length(max=200, message="At most 200 characters.")])
    description = TextAreaField("Description", validators=[
        Length(max=10_000, message="At most 10,000 characters.")], render_kw={"rows": 4})
    category_id = SelectField("Category", coerce=str)
    vendor_id = SelectField("Vendor", coerce=str)
    price = AmountField("List price", validators=[
        InputRequired("Enter the list price."),
        NumberRange(min=0, max=MAX_MONEY, message="Between 0 and 9,999,999,999.99.")],
        render_kw={"inputmode": "decimal"})
    cost_price = AmountField("Cost price", validators=[
        Optional(), NumberRange(min=0, max=MAX_MONEY, message="Between 0 and 9,999,999,999.99.")],
        render_kw={"inputmode": "decimal"})
    order_minimum = QuantityField("Order minimum", default=1, validators=[
        InputRequired("Enter the order minimum (1 for none)."),
        NumberRange(min=1, max=MAX_UNITS, message=f"A whole number from 1 to {MAX_UNITS:,}.")])
    order_multiple = QuantityField("Order multiple (case pack)", default=1, validators=[
        InputRequired("Enter the order multiple (1 for none)."),
        NumberRange(min=1, max=MAX_UNITS, message=f"A whole number from 1 to {MAX_UNITS:,}.")])
    backorder_policy = SelectField("Backorder policy", choices=POLICY_CHOICES, default="block")
    backorder_cap = QuantityField("Backorder cap (units)", validators=[
        blank_or_range(0, MAX_UNITS, f"A whole number from 0 to {MAX_UNITS:,}.")])
    backorder_visibility = SelectField("Backorder visibility", choices=VISIBILITY_CHOICES, default="show")
    stock_display = SelectField("Stock display", choices=DISPLAY_CHOICES, default="exact")
    low_stock_threshold = QuantityField("Low-stock threshold", default=10, validators=[
        InputRequired("Enter the low-stock threshold."),
        NumberRange(min=0, max=MAX_UNITS, message=f"A whole number from 0 to {MAX_UNITS:,}.")])
    lead_time_days = QuantityField("Lead time override (days)", validators=[
        blank_or_range(0, 3650, "A whole number of days from 0 to 3,650.")])
    active = BooleanField("Active (buyers can find and order it)", default=True)

    def set_choices(self, categories, vendors) -> None:
        self.category_id.choices = [(str(c.id), c.name) for c in categories]
        self.vendor_id.choices = [(str(v.id), v.name) for v in vendors]

    def validate_backorder_cap(self, field) -> None:
        if self.backorder_policy.data == "allow_up_to" and field.data is None and not field.errors:
            raise StopValidation("Enter the cap: the most units that may be on backorder across open orders.")
        if self.backorder_policy.data != "allow_up_to" and field.data is not None:
            raise StopValidation("Leave the cap blank unless the policy is “allow up to”.")

    def to_data(self) -> ProductData:
        return ProductData(
            sku=self.sku.data, name=self.name.data, description=(self.description.data or "").strip(),
            category_id=int(self.category_id.data), vendor_id=int(self.vendor_id.data), price=self.price.data,
            cost_price=self.cost_price.data,
            order_minimum=self.order_minimum.data, order_multiple=self.order_multiple.data,
            backorder_policy=self.backorder_policy.data, backorder_cap=self.backorder_cap.data,
            backorder_visibility=self.backorder_visibility.data, stock_display=self.stock_display.data,
            low_stock_threshold=self.low_stock_threshold.data, lead_time_days=self.lead_time_days.data,
            active=bool(self.active.data))


class FilterForm(FlaskForm):
    """The product list's filters (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField("Search SKU, name or description", filters=[strip])
    category = SelectField("Category", coerce=str, validate_choice=False)
    vendor = SelectField("Vendor", coerce=str, validate_choice=False)
    policy = SelectField("Policy", choices=[("", "Any policy"), *POLICY_CHOICES], validate_choice=False)
    visibility = SelectField("Visibility", choices=[("", "Any visibility"), ("show", "Show"),
                                                    ("hide", "Hide")],
                             validate_choice=False)
    stock = SelectField("Stock", choices=[("", "Any stock"), *STOCK_STATES.items()], validate_choice=False)

    def set_choices(self, categories, vendors) -> None:
        self.category.choices = [("", "All categories")] + [(str(c.id), c.name) for c in categories]
        self.vendor.choices = [("", "All vendors")] + [(str(v.id), v.name) for v in vendors]

    def to_filter(self, page: int = 1) -> ProductFilter:
        return ProductFilter(text=(self.q.data or "")[:200], category_id=_choice_id(self.category.data),
                             vendor_id=_choice_id(self.vendor.data), policy=self.policy.data or "",
                             visibility=self.visibility.data or "", stock=self.stock.data or "", page=page)


class IdListField(Field):
    """Every value of a repeated input (the list's checkboxes) as ints; anything else is an error."""

    def process_formdata(self, valuelist):
        self.data = []
        if len(valuelist) > 1000:
            raise ValueError("Tick at most 1,000 products at a time, or use “all matching”.")
        for raw in valuelist:
            if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
                raise ValueError("The selection holds an unknown product.")
            self.data.append(int(raw))

    def _value(self):
        return ""


class BulkForm(FlaskForm):
    set_policy = SelectField("New policy", choices=NO_CHANGE + POLICY_CHOICES, default="")
    set_cap = QuantityField("New cap (with “allow up to”)", validators=[
        blank_or_range(0, MAX_UNITS, f"A whole number from 0 to {MAX_UNITS:,}.")])
    set_visibility = SelectField("New visibility", choices=NO_CHANGE + VISIBILITY_CHOICES, default="")
    set_display = SelectField("New stock display", choices=NO_CHANGE + DISPLAY_CHOICES, default="")
    scope = RadioField("Apply to", choices=[("checked", "The checked products"),
                                            ("all", "All products matching the filters")],
                       validators=[InputRequired("Choose which products to change.")])
    product_ids = IdListField("Products")
    confirmed = HiddenField()

    def validate_set_cap(self, field) -> None:
        if self.set_policy.data == "allow_up_to" and field.data is None and not field.errors:
            raise StopValidation("Enter the cap that goes with “allow up to”.")
        if self.set_policy.data != "allow_up_to" and field.data is not None:
            raise StopValidation("A cap only goes with the policy “allow up to”; choose that policy too.")

    def validate_product_ids(self, field) -> None:
        if self.scope.data == "checked" and not field.data and not field.errors:
            raise StopValidation("Tick at least one product, or choose all products matching the filters.")

    def validate_set_display(self, field) -> None:
        if not (self.set_policy.data or self.set_visibility.data or field.data):
            raise StopValidation("Choose at least one setting to change.")


# --- product editor panels ------------------------------------------------------------------------------


class AlternativeForm(FlaskForm):
    alternative_sku = StringField("SKU of the alternative", filters=[strip], validators=[
        InputRequired("Enter the SKU of the alternative."), not_blank("Enter the SKU of the alternative."),
        Length(max=40, message="A SKU has at most 40 characters.")])


class ItemForm(FlaskForm):
    """A button acting on one row (remove, move): the row's id and, for moves, the direction."""

    item_id = id_field()
    direction = HiddenField(validators=[Optional(), AnyOf(["up", "down"])])


class ImageForm(FlaskForm):
    image = FileField("Image file (JPEG, PNG, WebP or GIF, at most 5 MB)",
                      validators=[FileRequired("Choose an image file to upload.")])
    alt_text = StringField("Alt text (what the picture shows)", filters=[strip], validators=[
        Length(max=200, message="At most 200 characters.")])


class StockForm(FlaskForm):
    warehouse_id = SelectField("Warehouse", coerce=str)
    change = QuantityField("Change in units (negative to remove)", validators=[
        InputRequired("Enter the change, like 12 or -3."),
        NumberRange(min=-MAX_ADJUSTMENT, max=MAX_ADJUSTMENT,
                    message=f"A whole number from -{MAX_ADJUSTMENT:,} to {MAX_ADJUSTMENT:,}.")])
    reason = StringField("Reason", filters=[strip], validators=[
        InputRequired("Give a reason for the adjustment."), not_blank("Give a reason for the adjustment."),
        Length(max=255, message="At most 255 characters.")])

    def validate_change(self, field) -> None:
        if field.data == 0:
            raise StopValidation("Enter a change other than 0.")


class BreakForm(FlaskForm):
    min_quantity = QuantityField("From quantity", validators=[
        InputRequired("Enter the quantity the break starts at."),
        NumberRange(min=2, max=MAX_UNITS, message=f"A whole number from 2 to {MAX_UNITS:,}.")])
    percent_off = AmountField("Percent off", message="Enter a percentage, like 5 or 7.5.", validators=[
        InputRequired("Enter the percentage off."),
        NumberRange(min=Decimal("0.01"), max=Decimal("99.99"), message="More than 0 and less than 100.")])


# --- price lists ----------------------------------------------------------------------------------------


class PriceListForm(FlaskForm):
    name = StringField("Name", filters=[strip], validators=[
        InputRequired("Enter a name for the price list."), not_blank("Enter a name for the price list."),
        Length(max=100, message="At most 100 characters.")])
    discount_percent = AmountField("Percent off list price", message="Enter a percentage, like 10 or 12.5.",
                                   default=Decimal("0"), validators=[
        InputRequired("Enter the percentage off (0 for none)."),
        NumberRange(min=0, max=100, message="Between 0 and 100.")])


class ListPriceForm(FlaskForm):
    sku = StringField("SKU", filters=[strip], validators=[
        InputRequired("Enter the SKU."), not_blank("Enter the SKU."),
        Length(max=40, message="A SKU has at most 40 characters.")])
    price = AmountField("Fixed price", validators=[
        InputRequired("Enter the fixed price."),
        NumberRange(min=0, max=MAX_MONEY, message="Between 0 and 9,999,999,999.99.")])
