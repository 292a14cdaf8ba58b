from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget


class IssueForm(FlaskForm):
    """The batch: whom of those ready to issue to (choices: the plan's ready results)."""

    # a result no longer ready is left out by the service, which checks each one again
    registration = SelectMultipleField(_l("Will get a certificate"), coerce=int, validate_choice=False,
                                       widget=ListWidget(prefix_label=False),
                                       option_widget=CheckboxInput())


class StatusForm(FlaskForm):
    """A status change (choices: the actions this user may take now)."""

    action = SelectField(_l("Action"), validators=[DataRequired()])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class RegradeForm(FlaskForm):
    theory = StringField(_l("New theory score"), validators=[Optional(), Length(max=6)],
                         render_kw={"inputmode": "decimal"})
    practical = StringField(_l("New practical score"), validators=[Optional(), Length(max=6)],
                            render_kw={"inputmode": "decimal"})
    reason = StringField(_l("Reason for the re-grade"), validators=[DataRequired(), Length(max=500)])


class VerifyForm(FlaskForm):
    q = StringField(_l("Certificate number or verification code"), validators=[DataRequired(), Length(max=40)],
                    render_kw={"autocomplete": "off"})
    name = StringField(_l("Holder's full name (needed with a certificate number)"),
                       validators=[Optional(), Length(max=60)], render_kw={"autocomplete": "off"})


class TypeForm(FlaskForm):
    type_id = HiddenField(validators=[DataRequired()])
    name_zh = StringField(_l("Chinese name"), validators=[Length(max=80)])
    name_en = StringField(_l("English name"), validators=[Length(max=120)])
    occupation_code = StringField(_l("Occupation code"), validators=[Length(max=20)])
    # numbers are checked by the service (registry.update_qualification_type), beside their field
    validity_months = StringField(_l("Months valid"), validators=[Length(max=6)],
                                  render_kw={"inputmode": "numeric"})
    number_prefix = StringField(_l("Number prefix"), validators=[Length(max=6)])
    levels = StringField(_l("Levels"), validators=[Optional(), Length(max=12)])
    required_hours = StringField(_l("Hours needed"), validators=[Length(max=6)],
                                 render_kw={"inputmode": "numeric"})
