from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class ExternalHoursForm(FlaskForm):
    id_number = StringField(_l("Identity number"), validators=[DataRequired(), Length(max=40)],
                            render_kw={"autocomplete": "off"})
    name = StringField(_l("Name (as registered)"), validators=[DataRequired(), Length(max=60)])
    year = IntegerField(_l("Year the hours count towards"),
                        validators=[DataRequired(), NumberRange(min=2000, max=2200)])
    category = SelectField(_l("Category"), validators=[DataRequired()])
    hours = StringField(_l("Class hours"), validators=[DataRequired(), Length(max=12)],
                        render_kw={"inputmode": "decimal"})
    provider = StringField(_l("Platform or organisation"), validators=[DataRequired(), Length(max=120)])
    reference = StringField(_l("Record or certificate number"), validators=[DataRequired(), Length(max=80)])
    evidence = FileField(_l("Evidence (PDF, JPEG or PNG, at most 5 MB)"), validators=[FileRequired()])
    note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=1000)])


class ReverseForm(FlaskForm):
    reason = StringField(_l("Reason for the correction"), validators=[DataRequired(), Length(max=500)])


class DecideExternalForm(FlaskForm):
    action = HiddenField(validators=[DataRequired()])
    reason = StringField(_l("Reason (needed to reject)"), validators=[Optional(), Length(max=500)])
