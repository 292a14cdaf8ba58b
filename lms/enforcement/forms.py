"""Forms of the ban pages (the rules are the service's; these only parse)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from lms.registry.models import BanCategory, BanKind


class BanForm(FlaskForm):
    """The impose form. Its lookup step needs only the identity number (and the incident date,
    for the direct managers); the service checks everything else when the ban is imposed."""

    id_number = StringField(_l("Identity number"), validators=[DataRequired(), Length(max=40)],
                            render_kw={"autocomplete": "off"})
    incident_date = DateField(_l("Date of the incident"), validators=[Optional()])
    name = StringField(_l("Name as in the decision"), validators=[Optional(), Length(max=60)],
                       render_kw={"autocomplete": "off"})
    category = SelectField(_l("Category"), choices=BanCategory.choices)
    kind = SelectField(_l("Duration"), choices=BanKind.choices)
    ends_on = DateField(_l("End of the term (the first day the person may work again)"),
                        validators=[Optional()])
    authority = StringField(_l("Deciding authority"), validators=[Optional(), Length(max=120)])
    decision_no = StringField(_l("Decision document number"), validators=[Optional(), Length(max=100)])
    decision_date = DateField(_l("Decision date"), validators=[Optional()])
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)])
    evidence = FileField(_l("Evidence (PDF, JPEG or PNG, at most 10 MB)"))


class LiftRequestForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])


class LiftDecisionForm(FlaskForm):
    reason = TextAreaField(_l("Reason for your decision"), validators=[DataRequired(), Length(max=2000)])
