from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class StaffForm(FlaskForm):
    id_number = StringField(_l("Identity number"), validators=[DataRequired(), Length(max=40)],
                            render_kw={"autocomplete": "off", "inputmode": "text"})
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=60)])
    mobile = StringField(_l("Mobile (optional)"), validators=[Optional(), Length(max=20)],
                         render_kw={"inputmode": "tel", "autocomplete": "off"})
    post = SelectField(_l("Post"), validators=[DataRequired()])
    start_date = DateField(_l("Start date"), validators=[DataRequired()])
    #: not the post 专职负责人 (chosen above): a staff member of any post who directly manages
    #: others, who shares a lifetime ban for abuse under their management
    is_direct_manager = BooleanField(
        _l("Directly manages other staff"),
        description=_l("Tick for anyone who supervises carers directly, whatever their post. "
                       "The post 专职负责人 (director in charge) is chosen under Post and counts "
                       "as a direct manager by itself."))


class IdLookupForm(FlaskForm):
    id_number = StringField(_l("Identity number"), validators=[DataRequired(), Length(max=40)],
                            render_kw={"autocomplete": "off"})


class RegistryLookupForm(IdLookupForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=60)],
                       render_kw={"autocomplete": "off"})


class EndEmploymentForm(FlaskForm):
    end_date = DateField(_l("Last day"), validators=[DataRequired()])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=200)])


class DirectManagerForm(FlaskForm):
    """Who directly manages an employment from a day on; 0 is nobody. The choices are the
    institution's other current staff (set by the view); the rules are the service's."""

    manager = SelectField(_l("Direct manager"), coerce=int, validators=[Optional()])
    from_date = DateField(_l("From"), validators=[DataRequired()])


class RosterForm(FlaskForm):
    file = FileField(_l("Roster file (.xlsx)"), validators=[FileRequired()])


class PhotoForm(FlaskForm):
    photo = FileField(_l("Photo (JPEG or PNG, at most 2 MB)"), validators=[FileRequired()])


class OrganisationForm(FlaskForm):
    kind = SelectField(_l("Kind"), validators=[DataRequired()])
    name = StringField(_l("Organisation name"), validators=[DataRequired(), Length(max=120)])
    district_id = SelectField(_l("District"), coerce=int, validators=[DataRequired()])
    credit_code = StringField(_l("Unified social credit code"), validators=[Optional(), Length(max=30)])
    filing_no = StringField(_l("Filing number (institutions)"), validators=[Optional(), Length(max=40)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=200)])


class PostRequirementForm(FlaskForm):
    post = SelectField(_l("Post"), validators=[DataRequired()])
    qualification_type_id = SelectField(_l("Qualification"), coerce=int, validators=[DataRequired()])
    min_level = IntegerField(_l("Lowest level accepted (5 = entry, 1 = highest; empty = any)"),
                             validators=[Optional(), NumberRange(min=1, max=5)])


class QualificationForm(FlaskForm):
    qualification_type_id = SelectField(_l("Qualification"), coerce=int, validators=[DataRequired()])
    level = IntegerField(_l("Level (5 = entry … 1 = highest)"),
                         validators=[Optional(), NumberRange(min=1, max=5)])
    certificate_no = StringField(_l("Certificate number"), validators=[Optional(), Length(max=60)])
    issuer = StringField(_l("Issued by"), validators=[Optional(), Length(max=120)])
    issued_on = DateField(_l("Issued on"), validators=[DataRequired()])
    expires_on = DateField(_l("Expires on (if it expires)"), validators=[Optional()])
    scan = FileField(_l("Scan of the certificate (PDF, JPEG or PNG, at most 5 MB)"))




class StaffRecordForm(FlaskForm):
    """A health check (健康证明) or a certificate of no criminal record (无犯罪记录证明); the
    rules (dates, result, issuer, scan) are the service's, shown beside their fields."""

    kind = SelectField(_l("Record"), validators=[DataRequired()])
    issued_on = DateField(_l("Date of the check, or of issue"), validators=[DataRequired()])
    result = SelectField(_l("Result (health checks only)"), validators=[Optional()])
    issuer = StringField(_l("Issued by (hospital, or public-security office)"),
                         validators=[Optional(), Length(max=120)])
    document_no = StringField(_l("Document number (optional)"),
                              validators=[Optional(), Length(max=60)])
    scan = FileField(_l("Scan (PDF, JPEG or PNG, at most 5 MB; optional)"),
                     render_kw={"accept": "application/pdf,image/jpeg,image/png"})
