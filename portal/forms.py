"""Shared form pieces."""

from __future__ import annotations

from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from portal.services.accounts import MIN_PASSWORD_LENGTH


def email_field(label: str = "Email") -> EmailField:
    return EmailField(label, validators=[
        DataRequired("Enter an email address."),
        Length(max=254, message="An email address has at most 254 characters."),
        Email("Enter a valid email address, like name@company.com.", check_deliverability=False),
    ], render_kw={"autocomplete": "email"})


def new_password_fields() -> tuple[PasswordField, PasswordField]:
    password = PasswordField("New password", validators=[
        DataRequired("Choose a password."),
        Length(min=MIN_PASSWORD_LENGTH, max=200,
               message=f"Use between {MIN_PASSWORD_LENGTH} and 200 characters."),
    ], render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("Repeat the new password", validators=[
        DataRequired("Repeat the password."), EqualTo("password", "The two passwords differ."),
    ], render_kw={"autocomplete": "new-password"})
    return password, confirm
