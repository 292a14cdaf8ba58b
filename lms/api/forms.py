from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from lms.api.models import Scope


class NewClientForm(FlaskForm):
    name = StringField(_l("Client (the other system)"), validators=[DataRequired(), Length(max=100)])
    scope = SelectField(_l("Scope"), validators=[DataRequired()])
    district = SelectField(_l("District (district scope only)"), validators=[Optional()],
                           validate_choice=False)
    expires_on = DateField(_l("Expires on"), validators=[DataRequired()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # the titles are lazy: build them in the request's language
        self.scope.choices = [(s.value, s.title) for s in Scope]


class IssueForm(FlaskForm):
    expires_on = DateField(_l("Expires on"), validators=[DataRequired()])


class RevokeForm(FlaskForm):
    """Only the CSRF token: a POST button."""
