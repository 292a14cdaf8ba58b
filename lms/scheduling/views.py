"""Sessions: a base's calendar and scheduling, the public list, booking, attendance."""

from __future__ import annotations

import io
from datetime import date, timedelta

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from lms.auth.models import Role
from lms.catalog.models import Course
from lms.catalog.service import active_courses
from lms.core.clock import local_today, to_local
from lms.core.models import District
from lms.core.navigation import HomeSection, NavEntry
from lms.core.pdf import render_pdf
from lms.core.permissions import anyone, load, permission, signed_in
from lms.core.urls import public_url
from lms.core.web import form_error, service_call
from lms.extensions import db
from lms.registry.models import Organisation, Person, Venue
from lms.scheduling import service
from lms.scheduling.forms import InstructorForm, MarkForm, ReasonForm, SessionForm, VenueForm
from lms.scheduling.models import (
    AttendanceStatus,
    Booking,
    BookingStatus,
    Instructor,
    SessionKind,
    SessionStatus,
    TrainingSession,
)
from lms.scheduling.permissions import (
    can_book,
    can_cancel_booking,
    can_run_base,
    can_run_session,
    is_base_staff,
)

bp = Blueprint("scheduling", __name__, template_folder="templates")


def _me() -> Person:
    return db.session.get(Person, current_user.person_id)


# --- the base's side -------------------------------------------------------------------------------


def _parse_day(raw: str | None) -> date:
    try:
        return date.fromisoformat(raw) if raw else local_today()
    except ValueError:
        return local_today()


@bp.get("/bases/<int:base_id>/sessions")
@permission(can_run_base, org=load(Organisation, "base_id"))
def calendar(org):
    day = _parse_day(request.args.get("date"))
    view = "month" if request.args.get("view") == "month" else "week"
    if view == "week":
        start = day - timedelta(days=day.weekday())
        days = [start + timedelta(days=i) for i in range(7)]
        end = start + timedelta(days=7)
        previous, following = start - timedelta(days=7), end
    else:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        grid_start = start - timedelta(days=start.weekday())
        days = [grid_start + timedelta(days=i) for i in range(((end - grid_start).days + 6) // 7 * 7)]
        previous, following = (start - timedelta(days=1)).replace(day=1), end
    sessions = service.base_sessions(org, days[0], days[-1] + timedelta(days=1))
    by_day: dict[date, list] = {d: [] for d in days}
    for session in sessions:
        by_day.setdefault(to_local(session.starts_at).date(), []).append(session)
    return render_template("scheduling/calendar.html", org=org, view=view, day=day, days=days,
                           by_day=by_day, month=start, previous=previous, following=following,
                           booked=service.booked_counts(sessions), today=local_today(),
                           times={s.id: service.local_times(s) for s in sessions},
                           feed=public_url("scheduling.feed", token=service.feed_token(org=org)))


def _session_form(org, session: TrainingSession | None = None) -> SessionForm:
    form = SessionForm(obj=None)
    form.course_id.choices = [(c.id, f"{c.code} {c.title}") for c in active_courses()]
    form.kind.choices = SessionKind.choices()
    form.venue_id.choices = [(v.id, v.name) for v in service.venues(org)]
    form.instructor_id.choices = [(i.id, i.name) for i in service.instructors(org)]
    if session is not None and request.method == "GET":
        form.course_id.data, form.kind.data = session.course_id, session.kind
        form.venue_id.data, form.instructor_id.data = session.venue_id, session.instructor_id
        form.starts_at.data, form.ends_at.data = to_local(session.starts_at), to_local(session.ends_at)
        form.capacity.data, form.class_hours.data = session.capacity, str(session.class_hours)
        form.cancel_cutoff_hours.data = session.cancel_cutoff_hours
        form.requires_online.data = session.requires_online
    return form


def _plan(form: SessionForm) -> service.SessionPlan:
    return service.SessionPlan(
        course=db.session.get(Course, form.course_id.data), kind=form.kind.data,
        venue=db.session.get(Venue, form.venue_id.data),
        instructor=db.session.get(Instructor, form.instructor_id.data),
        starts_at=form.starts_at.data, ends_at=form.ends_at.data, capacity=form.capacity.data,
        class_hours=form.class_hours.data, requires_online=form.requires_online.data,
        cancel_cutoff_hours=form.cancel_cutoff_hours.data if form.cancel_cutoff_hours.data is not None else 24,
        repeat_weeks=form.repeat_weeks.data or 1)


@bp.route("/bases/<int:base_id>/sessions/new", methods=["GET", "POST"])
@permission(can_run_base, org=load(Organisation, "base_id"))
def session_new(org):
    form = _session_form(org)
    if not form.venue_id.choices or not form.instructor_id.choices:
        flash(_("Add a venue and an instructor first."), "info")
        return redirect(url_for("scheduling.resources", base_id=org.id))
    if form.validate_on_submit():
        created, err = service_call(service.schedule, current_user, org, _plan(form))
        if err is None:
            flash(ngettext_sessions(len(created)), "success")
            return redirect(url_for("scheduling.calendar", base_id=org.id,
                                    date=to_local(created[0].starts_at).date().isoformat()))
        form_error(form, err)
    return render_template("scheduling/session_form.html", form=form, org=org, session=None)


def ngettext_sessions(count: int) -> str:
    from flask_babel import ngettext
    return ngettext("%(num)d session scheduled.", "%(num)d sessions scheduled.", count)


@bp.route("/sessions/<int:session_id>/edit", methods=["GET", "POST"])
@permission(can_run_session, session=load(TrainingSession, "session_id"))
def session_edit(session):
    org = session.organisation
    form = _session_form(org, session)
    del form.repeat_weeks
    if form.validate_on_submit():
        _done, err = service_call(service.reschedule, current_user, session, _plan(form))
        if err is None:
            flash(_("The session is changed; caregivers who booked are told."), "success")
            return redirect(url_for("scheduling.session_detail", session_id=session.id))
        form_error(form, err)
    return render_template("scheduling/session_form.html", form=form, org=org, session=session)


@bp.route("/bases/<int:base_id>/resources", methods=["GET", "POST"])
@permission(can_run_base, org=load(Organisation, "base_id"))
def resources(org):
    venue_form, instructor_form = VenueForm(prefix="venue"), InstructorForm(prefix="instructor")
    if request.method == "POST":
        which = request.form.get("what")
        form = venue_form if which == "venue" else instructor_form
        if form.validate_on_submit():
            if which == "venue":
                _v, err = service_call(service.add_venue, current_user, org, form.name.data,
                                       form.address.data or "")
            else:
                _i, err = service_call(service.add_instructor, current_user, org, form.name.data)
            if err is None:
                flash(_("Saved."), "success")
                return redirect(url_for("scheduling.resources", base_id=org.id))
            form_error(form, err)
    return render_template("scheduling/resources.html", org=org, venues=service.venues(org),
                           instructors=service.instructors(org), venue_form=venue_form,
                           instructor_form=instructor_form)


@bp.post("/sessions/<int:session_id>/cancel")
@permission(can_run_session, session=load(TrainingSession, "session_id"))
def session_cancel(session):
    form = ReasonForm()
    _r, err = service_call(service.cancel_session, current_user, session,
                           form.reason.data if form.validate_on_submit() else "")
    flash(str(err) if err else _("The session is cancelled; everyone who booked is told."),
          "danger" if err else "success")
    return redirect(url_for("scheduling.session_detail", session_id=session.id))


@bp.post("/sessions/<int:session_id>/close")
@permission(can_run_session, session=load(TrainingSession, "session_id"))
def session_close(session):
    result, err = service_call(service.close_session, current_user, session)
    if err is not None:
        flash(str(err), "danger")
    else:
        flash(_("The session is closed: %(credited)s credited, %(absent)s absent.",
                credited=result["credited"], absent=result["absent"]), "success")
        if result["no_checkout"]:
            flash(_("%(num)s attended without checking out: mark them by hand to credit them.",
                    num=result["no_checkout"]), "warning")
    return redirect(url_for("scheduling.session_detail", session_id=session.id))


@bp.post("/sessions/<int:session_id>/attendance/<int:person_id>")
@permission(can_run_session, session=load(TrainingSession, "session_id"),
            person=load(Person, "person_id"))
def attendance_mark(session, person):
    form = MarkForm()
    form.status.choices = AttendanceStatus.choices()
    if not form.validate_on_submit():
        flash(_("Choose the attendance and give the reason."), "danger")
    else:
        _a, err = service_call(service.mark, current_user, session, person, form.status.data,
                               form.reason.data)
        flash(str(err) if err else _("Attendance recorded for %(name)s.", name=person.name),
              "danger" if err else "success")
    return redirect(url_for("scheduling.session_detail", session_id=session.id))


@bp.get("/sessions/<int:session_id>/qr")
@permission(can_run_session, session=load(TrainingSession, "session_id"))
def trainer_qr(session):
    return render_template("scheduling/trainer_qr.html", session=session,
                           seconds=service.QR_SECONDS, **_qr(session))


@bp.get("/sessions/<int:session_id>/qr.json")
@permission(can_run_session, session=load(TrainingSession, "session_id"))
def trainer_qr_json(session):
    return _qr(session)


def _qr(session) -> dict:
    import segno

    code = service.attendance_code(session)
    # the public address, never the Host header: a crafted request must not send phones elsewhere
    link = public_url("scheduling.attend", session_id=session.id, code=code)
    return {"link": link, "svg": segno.make(link, error="m").svg_data_uri(scale=6, border=2)}


@bp.get("/sessions/<int:session_id>/sheet.pdf")
@permission(can_run_session, session=load(TrainingSession, "session_id"))
def sign_in_sheet(session):
    booked = [b for b in service.live_bookings(session) if b.status == BookingStatus.BOOKED]
    data = render_pdf("scheduling/sheet.html", session=session, bookings=booked,
                      times=service.local_times(session))
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=False,
                     download_name=_("sign-in-sheet-%(id)s.pdf", id=session.id))


# --- everyone --------------------------------------------------------------------------------------


@bp.get("/sessions")
@permission(anyone)
def upcoming():
    district_id = request.args.get("district", type=int)
    course_id = request.args.get("course", type=int)
    sessions = service.upcoming(district_id=district_id, course_id=course_id)
    return render_template("scheduling/upcoming.html", sessions=sessions,
                           booked=service.booked_counts(sessions),
                           districts=list(db.session.scalars(select(District).order_by(District.code))),
                           courses=active_courses(), district_id=district_id, course_id=course_id)


@bp.get("/sessions/<int:session_id>")
@permission(signed_in, session=load(TrainingSession, "session_id"))
def session_detail(session):
    # what to offer is the service's answer (allowed_actions), never a state compared here
    context = {"session": session, "seats": service.seats(session), "booking": None,
               "position": None, "missing": [], "booking_actions": [],
               "actions": service.allowed_actions(session, current_user),
               "times": service.local_times(session)}
    if can_book(current_user):
        me = _me()
        booking = service.booking_for(me, session)
        context.update(booking=booking, missing=service.missing_online(me, session),
                       position=service.waiting_position(booking) if booking else None,
                       booking_actions=service.allowed_actions(booking, current_user) if booking else [])
    if can_run_session(current_user, session=session):
        bookings = service.live_bookings(session)
        marks = {a.person_id: a for a in service.attendances(session)}
        context.update(bookings=bookings, marks=marks, mark_choices={
            b.id: service.mark_choices(session, b, marks.get(b.person_id), current_user)
            for b in bookings})
    return render_template("scheduling/session.html", **context)


@bp.post("/sessions/<int:session_id>/book")
@permission(can_book, session=load(TrainingSession, "session_id"))
def book(session):
    booking, err = service_call(service.book, current_user, _me(), session)
    if err is not None:
        flash(str(err), "danger")
    elif booking.status == BookingStatus.BOOKED:
        flash(_("You are booked."), "success")
    else:
        flash(_("The session is full: you are on the waiting list and will be told if a seat "
                "frees."), "info")
    return redirect(url_for("scheduling.session_detail", session_id=session.id))


@bp.post("/bookings/<int:booking_id>/cancel")
@permission(can_cancel_booking, booking=load(Booking, "booking_id"))
def booking_cancel(booking):
    _r, err = service_call(service.cancel_booking, current_user, booking)
    flash(str(err) if err else _("The booking is cancelled."), "danger" if err else "success")
    return redirect(url_for("scheduling.session_detail", session_id=booking.session_id))


@bp.get("/my/sessions")
@permission(can_book)
def my_sessions():
    me = _me()
    bookings = service.my_bookings(me, upcoming_only=request.args.get("all") is None)
    return render_template("scheduling/my_sessions.html", bookings=bookings,
                           positions={b.id: service.waiting_position(b) for b in bookings},
                           feed=public_url("scheduling.feed", token=service.feed_token(person=me)))


@bp.route("/sessions/<int:session_id>/attend", methods=["GET", "POST"])
@permission(can_book, session=load(TrainingSession, "session_id"))
def attend(session):
    code = request.values.get("code", "")
    if request.method == "GET":
        return render_template("scheduling/attend.html", session=session, code=code,
                               starts=to_local(session.starts_at),
                               actions=service.allowed_actions(session, current_user))
    result, err = service_call(service.check_in, current_user, _me(), session, code)
    if err is not None:
        return render_template("scheduling/attend.html", session=session, code="", error=str(err),
                               starts=to_local(session.starts_at), actions=[]), 200
    messages = {"in": _("Checked in at %(time)s. Welcome!"),
                "out": _("Checked out at %(time)s. Thank you!"),
                "already": _("You are already checked in (%(time)s).")}
    stamp = result.attendance.checked_out_at if result.action == "out" else result.attendance.checked_in_at
    flash(messages[result.action] % {"time": to_local(stamp).strftime("%H:%M")}, "success")
    return redirect(url_for("scheduling.session_detail", session_id=session.id))


@bp.get("/calendar/<token>.ics")
@permission(anyone)
def feed(token):
    found = service.feed_sessions(token)
    if found is None:
        abort(404)
    name, sessions = found
    return send_file(io.BytesIO(service.ical(name, sessions)), mimetype="text/calendar",
                     as_attachment=False, download_name="sessions.ics")


def _base_home(user):
    org = db.session.get(Organisation, user.organisation_id)
    today = local_today()
    sessions = [s for s in service.base_sessions(org, today, today + timedelta(days=7))
                if s.status == SessionStatus.SCHEDULED]
    return {"org": org, "sessions": sessions, "booked": service.booked_counts(sessions)}


HOME_SECTIONS = (
    HomeSection(Role.BASE_STAFF.value, "scheduling/home_base.html", _base_home, 20),
)


def _base_args(user):
    return {"base_id": user.organisation_id}


NAVIGATION = (
    NavEntry(_l("Sessions"), "scheduling.calendar", "calendar-week", is_base_staff,
             args=_base_args, order=15),
    NavEntry(_l("Offline sessions"), "scheduling.my_sessions", "calendar-check", can_book,
             order=13),
    NavEntry(_l("Upcoming sessions"), "scheduling.upcoming", "calendar3",
             lambda u: not u.is_authenticated, order=14),
)

#: what this package's audit actions mean, for the audit log (registered in create_app)
AUDIT_TITLES = {
    "scheduling.attendance_marked": _l("Attendance taken"),
    "scheduling.attendance_mark_present": _l("Marked present"),
    "scheduling.attendance_mark_late": _l("Marked late"),
    "scheduling.attendance_mark_excused": _l("Marked excused"),
    "scheduling.attendance_mark_absent": _l("Marked absent"),
    "scheduling.booked": _l("Session booked"),
    "scheduling.booking_cancelled": _l("Booking cancelled"),
    "scheduling.instructor_added": _l("Instructor added"),
    "scheduling.session_cancelled": _l("Session cancelled"),
    "scheduling.session_changed": _l("Session changed"),
    "scheduling.session_closed": _l("Session closed"),
    "scheduling.session_scheduled": _l("Session scheduled"),
    "scheduling.venue_added": _l("Venue added"),
}
