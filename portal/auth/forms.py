from flask_wtf import FlaskForm
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from portal.forms import email_field, new_password_fields


class LoginForm(FlaskForm):
    email = email_field()
    password = PasswordField("Password", validators=[
        DataRequired("Enter your password."), Length(max=200, message="That password is too long."),
    ], render_kw={"autocomplete": "current-password"})
    submit = SubmitField("Sign in")


class SetPasswordForm(FlaskForm):
    password, confirm = new_password_fields()
    submit = SubmitField("Save password")


class LogoutForm(FlaskForm):
    submit = SubmitField("Sign out")
