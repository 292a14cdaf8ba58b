from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class SittingForm(FlaskForm):
    qualification_type_id = SelectField(_l("Certificate"), coerce=int, validators=[DataRequired()])
    level = SelectField(_l("Level"), coerce=int, validators=[Optional()])
    starts_at = DateTimeLocalField(_l("Starts"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    duration_minutes = IntegerField(_l("Theory paper, minutes"), default=90,
                                    validators=[DataRequired(), NumberRange(min=10, max=240)])
    venue_id = SelectField(_l("Venue"), coerce=int, validators=[DataRequired()])
    examiners = SelectMultipleField(_l("Examiners"), coerce=int, validators=[DataRequired()])
    single = IntegerField(_l("Single-choice questions"), default=20, validators=[Optional(), NumberRange(min=0, max=200)])
    multiple = IntegerField(_l("Multiple-choice questions"), default=5, validators=[Optional(), NumberRange(min=0, max=200)])
    truefalse = IntegerField(_l("True-or-false questions"), default=5, validators=[Optional(), NumberRange(min=0, max=200)])


class CandidateForm(FlaskForm):
    id_number = StringField(_l("Identity number"), validators=[DataRequired(), Length(max=40)],
                            render_kw={"autocomplete": "off"})
    name = StringField(_l("Name (as registered)"), validators=[DataRequired(), Length(max=60)])
    #: shown only when the candidate already holds this level or a higher one
    confirm_lower_level = BooleanField(_l("Register anyway: the candidate knows this level adds nothing"))


class ScoreForm(FlaskForm):
    score = StringField(_l("Practical score"), validators=[DataRequired(), Length(max=6)],
                        render_kw={"inputmode": "decimal"})
