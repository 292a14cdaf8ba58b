from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional


class LoginForm(FlaskForm):
    identifier = StringField(_l("Sign-in name, mobile or identity number"),
                             validators=[DataRequired(), Length(max=60)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[DataRequired()])
    confirm = PasswordField(_l("New password again"), validators=[DataRequired()])


class UserForm(FlaskForm):
    username = StringField(_l("Sign-in name"), validators=[DataRequired(), Length(max=60)])
    display_name = StringField(_l("Display name"), validators=[DataRequired(), Length(max=100)])
    role = SelectField(_l("Role"), validators=[DataRequired()])
    organisation_id = SelectField(_l("Organisation"), coerce=int, validators=[Optional()])
    district_id = SelectField(_l("District (regulators)"), coerce=int, validators=[Optional()])


class ConfirmForm(FlaskForm):
    """A form with nothing but the CSRF token, for POST buttons."""


class CodeForm(FlaskForm):
    """The second step of signing in: a code from the app, or a recovery code."""

    code = StringField(_l("Code from your authenticator app, or a recovery code"),
                       validators=[DataRequired(), Length(max=20)])
    remember = BooleanField(_l("Remember this browser"))


class EnrolForm(FlaskForm):
    code = StringField(_l("The 6-digit code the app shows"),
                       validators=[DataRequired(), Length(max=10)])
