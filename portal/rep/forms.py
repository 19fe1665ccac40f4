from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields import DateField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
    ValidationError,
)

from portal.forms import email_field
from portal.services.accounts import CompanyData, NewUser

TERMS_CHOICES = [("net30", "Net 30"), ("net15", "Net 15"), ("net60", "Net 60"), ("card_only", "Card only")]
TIER_CHOICES = [("1", "1 — served first"), ("2", "2 — standard"), ("3", "3 — served last")]
#: Fields only admins may set; reps' company forms do not have them.
ADMIN_ONLY = ("payment_terms", "credit_limit", "sales_rep_id", "priority_tier", "price_list_id", "active")


def _finite(form, field) -> None:
    """NaN and infinities parse as decimals; "sNaN" even makes the range check raise, so stop here."""
    if field.data is not None and not field.data.is_finite():
        raise StopValidation("Enter an amount, like 2500 or 2500.00.")


class CompanyForm(FlaskForm):
    name = StringField("Company name", validators=[
        DataRequired("Enter the company name."), Length(max=200, message="At most 200 characters.")])
    payment_terms = SelectField("Payment terms", choices=TERMS_CHOICES,
                                validate_choice=True)
    credit_limit = DecimalField("Credit limit", places=2, default=Decimal("0"), validators=[
        InputRequired("Enter a credit limit (0 for none)."), _finite,
        NumberRange(min=0, max=Decimal("9999999999.99"), message="Between 0 and 9,999,999,999.99.")],
        render_kw={"inputmode": "decimal"})
    sales_rep_id = SelectField("Sales rep", coerce=str)
    priority_tier = SelectField("Priority tier", choices=TIER_CHOICES, default="2")
    price_list_id = SelectField("Price list", coerce=str)
    active = BooleanField("Active", default=True)
    submit = SubmitField("Save company")

    def to_data(self, fixed_rep_id: int | None = None) -> CompanyData:
        def opt_int(name: str) -> int | None:
            field = self._fields.get(name)
            return int(field.data) if field is not None and field.data else None

        return CompanyData(
            name=self.name.data,
            payment_terms=self.payment_terms.data if "payment_terms" in self._fields else "net30",
            credit_limit=self.credit_limit.data if "credit_limit" in self._fields else Decimal("0"),
            sales_rep_id=opt_int("sales_rep_id") if "sales_rep_id" in self._fields else fixed_rep_id,
            priority_tier=opt_int("priority_tier") or 2,
            price_list_id=opt_int("price_list_id"),
            active=bool(self.active.data) if "active" in self._fields else True,
        )


class UserForm(FlaskForm):
    name = StringField("Full name", validators=[
        DataRequired("Enter the person's name."), Length(max=120, message="At most 120 characters.")],
        render_kw={"autocomplete": "off"})
    email = email_field()
    role = SelectField("Role", choices=[("buyer", "Buyer"), ("sales_rep", "Sales rep"), ("admin", "Admin")])
    company_id = SelectField("Company (buyers only)", coerce=str)
    access = RadioField("How they get in", default="invite", choices=[
        ("invite", "Give me a set-password link to send them"),
        ("password", "Generate an initial password to tell them"),
    ])
    submit = SubmitField("Create user")

    def validate_company_id(self, field):
        role = self.role.data if "role" in self._fields else "buyer"
        if role == "buyer" and not field.data:
            # WTForms 3.3 lets a plain ValueError from a validator escape as a server error.
            raise ValidationError("Choose the buyer's company.")

    def to_new_user(self, initial_password: str | None, company_id: int | None = None) -> NewUser:
        role = self.role.data if "role" in self._fields else "buyer"
        if company_id is None and "company_id" in self._fields and self.company_id.data:
            company_id = int(self.company_id.data)
        return NewUser(email=self.email.data, name=self.name.data, role=role,
                       company_id=company_id if role == "buyer" else None,
                       initial_password=initial_password)


class ConfirmForm(FlaskForm):
    """A POST button with CSRF protection and nothing else."""
    submit = SubmitField("Confirm")


class CreditExceptionForm(FlaskForm):
    """A rep or admin lets one order of the company go over its credit limit."""

    amount = DecimalField("Up to (over the limit)", places=2, validators=[
        InputRequired("Enter the amount."), NumberRange(min=Decimal("0.01"), max=Decimal("9999999999.99"),
                                                        message="Enter an amount above zero.")])
    reason = TextAreaField("Reason", validators=[DataRequired("Give a reason."), Length(max=1000)],
                           render_kw={"rows": 2})


class ManualPaymentForm(FlaskForm):
    """Money received against an invoice (built with prefix ``pay-<invoice id>``)."""

    method = SelectField("Method", choices=[("bank_transfer", "Bank transfer"), ("cheque", "Cheque")])
    reference = StringField("Reference", validators=[Optional(), Length(max=60)])
    amount = DecimalField("Amount", places=2, validators=[
        InputRequired("Enter the amount received."),
        NumberRange(min=Decimal("0.01"), max=Decimal("9999999999.99"),
                    message="Enter an amount above zero.")])
    received_on = DateField("Received on", validators=[InputRequired("Enter the date received.")])


class ChargePolicyForm(FlaskForm):
    charge_policy = SelectField("Card orders are charged", choices=[
        ("at_order", "When the order is placed"), ("at_shipment", "As each shipment ships")])


class NoteForm(FlaskForm):
    body = TextAreaField("New note", validators=[
        DataRequired("Write the note first."),
        Length(max=2000, message="A note holds at most 2,000 characters."),
    ])
