"""Forms of the inspections, the 人证合一 checks and the credit feed."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ItemForm(FlaskForm):
    district_id = SelectField(_l("List of"), coerce=int, validators=[Optional()])
    name = StringField(_l("Item"), validators=[DataRequired(), Length(max=120)])
    basis = TextAreaField(_l("Basis"), validators=[Optional(), Length(max=2000)])
    target = StringField(_l("Inspected"), validators=[Optional(), Length(max=120)],
                         default="托育机构")
    draw_percent = IntegerField(_l("Share to draw (%)"),
                                validators=[Optional(), NumberRange(min=1, max=100)])
    draw_count = IntegerField(_l("Or a number of institutions"),
                              validators=[Optional(), NumberRange(min=1)])
    frequency = StringField(_l("Frequency"), validators=[Optional(), Length(max=60)])
    method = StringField(_l("Method"), validators=[Optional(), Length(max=120)])
    inspector_requirements = TextAreaField(_l("Inspector requirements"),
                                           validators=[Optional(), Length(max=2000)])


class InspectorForm(FlaskForm):
    district_id = SelectField(_l("District"), coerce=int, validators=[DataRequired()])
    user_id = SelectField(_l("Regulator account (optional)"), coerce=int, validators=[Optional()])
    name = StringField(_l("Name (when not an account)"), validators=[Optional(), Length(max=60)])
    is_leader = BooleanField(_l("May lead a team"))
    is_expert = BooleanField(_l("Expert"))
    organisations = MultiCheckboxField(_l("Works or worked for (never inspects them)"), coerce=int)


class AffiliationForm(FlaskForm):
    organisation_id = SelectField(_l("Works or worked for"), coerce=int,
                                  validators=[DataRequired()])


class TaskForm(FlaskForm):
    district_id = SelectField(_l("District"), coerce=int, validators=[DataRequired()])
    year = IntegerField(_l("Year"), validators=[DataRequired(), NumberRange(min=2000, max=2100)])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=120)])
    items = MultiCheckboxField(_l("Inspection items"), coerce=int)
    draw_percent = IntegerField(_l("Share to draw (%)"),
                                validators=[Optional(), NumberRange(min=1, max=100)])
    draw_count = IntegerField(_l("Or a number of institutions"),
                              validators=[Optional(), NumberRange(min=1)])
    inspectors_per_institution = IntegerField(_l("Inspectors per institution"), default=2,
                                              validators=[DataRequired(), NumberRange(min=2, max=10)])


class DrawForm(FlaskForm):
    seed = StringField(_l("Seed (empty: a random one)"), validators=[Optional(), Length(max=64)],
                       render_kw={"autocomplete": "off"})


class TaskActForm(FlaskForm):
    action = HiddenField(validators=[DataRequired()])


class CheckLookupForm(FlaskForm):
    id_number = StringField(_l("Identity number"), validators=[Optional(), Length(max=40)],
                            render_kw={"autocomplete": "off", "inputmode": "text"})
    certificate_no = StringField(_l("Certificate number"), validators=[Optional(), Length(max=60)],
                                 render_kw={"autocomplete": "off"})
    name = StringField(_l("Name"), validators=[Optional(), Length(max=60)],
                       render_kw={"autocomplete": "off"})


class CheckForm(FlaskForm):
    result = RadioField(_l("Result"), validators=[DataRequired()])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])
    photo = FileField(_l("Photo taken on site (optional)"),
                      render_kw={"accept": "image/*", "capture": "environment"})


class ResultForm(FlaskForm):
    outcome = RadioField(_l("Result"), validators=[DataRequired()])
    findings = TextAreaField(_l("Findings (published: do not name people)"),
                             validators=[Optional(), Length(max=4000)])
    rectify_by = DateField(_l("Rectify by"), validators=[Optional()])
    inspected_on = DateField(_l("Inspected on"), validators=[Optional()])
    closed = BooleanField(_l("Closed (the rectification was checked)"))


class ResolveForm(FlaskForm):
    resolution = TextAreaField(_l("What was done"), validators=[DataRequired(), Length(max=2000)])


class CreditFeedForm(FlaskForm):
    since = DateTimeLocalField(_l("Changes since"), format="%Y-%m-%dT%H:%M",
                               validators=[DataRequired()])
    kind = SelectField(_l("Records"), validators=[DataRequired()])
    format = SelectField(_l("Format"), validators=[DataRequired()],
                         choices=[SelectChoice("json", "JSON"), SelectChoice("csv", "CSV")])
