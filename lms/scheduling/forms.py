from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class SessionForm(FlaskForm):
    course_id = SelectField(_l("Course"), coerce=int, validators=[DataRequired()])
    kind = SelectField(_l("Kind"), validators=[DataRequired()])
    venue_id = SelectField(_l("Venue"), coerce=int, validators=[DataRequired()])
    instructor_id = SelectField(_l("Instructor"), coerce=int, validators=[DataRequired()])
    starts_at = DateTimeLocalField(_l("Starts"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Ends"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    capacity = IntegerField(_l("Seats"), validators=[DataRequired(), NumberRange(min=1, max=1000)])
    class_hours = StringField(_l("Class hours credited"), validators=[DataRequired(), Length(max=8)],
                              render_kw={"inputmode": "decimal"})
    cancel_cutoff_hours = IntegerField(_l("Caregivers may cancel up to (hours before the start)"),
                                       default=24, validators=[Optional(), NumberRange(min=0, max=168)])
    requires_online = BooleanField(_l("The course's online part must be completed before booking"))
    repeat_weeks = IntegerField(_l("Repeat weekly, number of weeks (1 = once)"), default=1,
                                validators=[Optional(), NumberRange(min=1, max=26)])


class VenueForm(FlaskForm):
    name = StringField(_l("Venue name"), validators=[DataRequired(), Length(max=80)])
    address = StringField(_l("Address (optional)"), validators=[Optional(), Length(max=200)])


class InstructorForm(FlaskForm):
    name = StringField(_l("Instructor's name"), validators=[DataRequired(), Length(max=60)])


class ReasonForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class MarkForm(FlaskForm):
    status = SelectField(_l("Attendance"), validators=[DataRequired()])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=300)])
