"""The subsidy pages' forms. They parse what was sent; every rule about it (a bank account's
digits, an amount's decimals, a date inside the notice) stays in the service, whose errors the
views show beside the field."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    IntegerField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional


class IdsField(SelectMultipleField):
    """Ticked rows (claims, certificates) as a list of ids; which of them the user may act on
    is the service's question, not the form's."""

    def __init__(self, label=None, **kwargs):
        super().__init__(label, coerce=int, validate_choice=False, **kwargs)

    def process_formdata(self, valuelist):
        self.data = [int(v) for v in valuelist if str(v).isdigit()]


class ClaimForm(FlaskForm):
    bank_name = StringField(_l("Bank and branch"), validators=[Optional(), Length(max=200)])
    bank_account = StringField(_l("Account number"), validators=[Optional(), Length(max=60)])


class SittingClaimForm(ClaimForm):
    certificate = IdsField(_l("Certificates"))


class ActForm(FlaskForm):
    action = StringField(_l("Action"), validators=[DataRequired()])
    reason = TextAreaField(_l("Reason or note"), validators=[Optional(), Length(max=2000)])


class ObjectionForm(FlaskForm):
    received_on = DateField(_l("Received on"), validators=[Optional()])
    summary = TextAreaField(_l("What was objected"), validators=[Optional(), Length(max=4000)])


class ResolveObjectionForm(FlaskForm):
    #: "dismissed" or "upheld"
    outcome = StringField(_l("Outcome"), validators=[DataRequired()])
    resolution = TextAreaField(_l("How it was resolved"), validators=[Optional(), Length(max=4000)])


class ConfirmClaimsForm(FlaskForm):
    claim = IdsField(_l("Claims"))


class QueueForm(FlaskForm):
    #: approve, publish or pay (the view refuses anything else)
    do = StringField(validators=[DataRequired()])
    claim = IdsField(_l("Claims"))
    title = StringField(_l("Title (optional)"), validators=[Optional(), Length(max=120)])
    payment_ref = StringField(_l("Payment reference"), validators=[Optional(), Length(max=200)])
    paid_on = DateField(_l("Paid on"), validators=[Optional()])


class StandardForm(FlaskForm):
    type_id = IntegerField(_l("Certificate"), validators=[DataRequired()])
    level = StringField(_l("Level"), validators=[Optional()])
    amount = StringField(_l("Amount (yuan)"), validators=[Optional(), Length(max=40)])
    effective_from = DateField(_l("Applies from"), validators=[Optional()])
    note = StringField(_l("Source or note"), validators=[Optional(), Length(max=200)])


class ObjectionContactForm(FlaskForm):
    bureau = IntegerField(_l("HR bureau"), validators=[DataRequired()])
    contact = StringField(_l("Where objections are received"), validators=[Optional(), Length(max=400)])
