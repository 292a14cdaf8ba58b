from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional


class SettingForm(FlaskForm):
    key = SelectField(_l("Setting"), validators=[DataRequired()])
    value = StringField(_l("New value"), validators=[DataRequired(), Length(max=30)])
    effective_from = DateField(_l("In force from"), validators=[DataRequired()])
    district_id = SelectField(_l("Applies to"), coerce=int, validators=[Optional()])
    note = StringField(_l("Note (why)"), validators=[Optional(), Length(max=200)])
