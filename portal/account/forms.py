from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    HiddenField,
    IntegerField,
    PasswordField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from portal.forms import new_password_fields


def _text(label: str, max_len: int, required: bool = True, **kw) -> StringField:
    validators = [DataRequired(f"Enter the {label.lower()}.")] if required else [Optional()]
    validators.append(Length(max=max_len, message=f"{label} has at most {max_len} characters."))
    return StringField(label, validators=validators, **kw)


class AddressForm(FlaskForm):
    label = _text("Label", 100, description="For example “Main warehouse”.")
    line1 = _text("Street address", 200, render_kw={"autocomplete": "address-line1"})
    line2 = _text("Address line 2", 200, required=False, render_kw={"autocomplete": "address-line2"})
    city = _text("City", 100, render_kw={"autocomplete": "address-level2"})
    region = _text("State or region", 100, required=False, render_kw={"autocomplete": "address-level1"})
    postal_code = _text("Postal code", 20, render_kw={"autocomplete": "postal-code"})
    country = StringField("Country code", default="US", validators=[
        DataRequired("Enter the country code."),
        Regexp(r"^[A-Za-z]{2}$", message="Use the two-letter country code, like US or CA."),
    ], render_kw={"autocomplete": "country", "maxlength": 2})
    is_default_shipping = BooleanField("Default ship-to address")
    is_billing = BooleanField("Billing address")
    submit = SubmitField("Save address")

    def values(self) -> dict:
        return {
            "label": self.label.data.strip(), "line1": self.line1.data.strip(),
            "line2": (self.line2.data or "").strip(), "city": self.city.data.strip(),
            "region": (self.region.data or "").strip(), "postal_code": self.postal_code.data.strip(),
            "country": self.country.data.strip().upper(),
            "is_default_shipping": bool(self.is_default_shipping.data),
            "is_billing": bool(self.is_billing.data),
        }


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[
        DataRequired("Enter your current password."), Length(max=200)],
        render_kw={"autocomplete": "current-password"})
    password, confirm = new_password_fields()
    submit = SubmitField("Change password")


class OrderAgainForm(FlaskForm):
    """The "Order again" button: a CSRF token and nothing else."""

    submit = SubmitField("Order again")


class CardActionForm(FlaskForm):
    """"Add a card" and "Remove" buttons: a CSRF token; the card id is in the URL."""


class SaveCardForm(FlaskForm):
    #: The SetupIntent Stripe.js confirmed (filled in by static/js/payments.js).
    setup_intent = HiddenField(validators=[DataRequired(), Length(max=255)])


class PayDueForm(FlaskForm):
    """Pay a due shipment payment now with one of the company's saved cards."""

    card_id = IntegerField("Card", validators=[InputRequired("Choose a card.")])


class BackorderSwapForm(FlaskForm):
    """Swap a late line to an alternative (hidden fields of the choice the order page showed)."""

    alternative_id = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=2**31 - 1)])
    quantity = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=1_000_000)])
    unit_price = DecimalField(places=2, validators=[InputRequired(), NumberRange(min=0, max=10**9)])
    version = StringField(validators=[DataRequired(), Length(max=64)])
    token = StringField(validators=[DataRequired(), Length(min=16, max=40), Regexp(r"^[0-9a-f]+$")])


class ApiKeyForm(FlaskForm):
    """A new API key: what the buyer calls it (the key itself is generated)."""

    name = StringField("Name", filters=[lambda value: value.strip() if isinstance(value, str) else value],
                       validators=[DataRequired("Enter a name for the key."),
                                   Length(max=100, message="The name has at most 100 characters.")],
                       description="What uses it, for example “ERP production”.",
                       render_kw={"autocomplete": "off", "maxlength": 100})
    submit = SubmitField("Create key")


class RevokeApiKeyForm(FlaskForm):
    """A key's "Revoke" button: a CSRF token; the key's id is in the URL."""
