"""Offline sessions: scheduling with clash detection, bookings and waiting lists, attendance
by rotating QR code or by hand, and crediting attendance to the ledger.

Seats are serialised per session: every booking change first bumps the session row's
`seats_version`, which takes the row's write lock (PostgreSQL) or the database's (SQLite), so
counting the booked seats and adding one is never interleaved with another booking.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from lms.auth.models import Role
from lms.catalog.models import Course
from lms.core import audit, notifications
from lms.core.clock import local_today, to_local, to_utc, utc_now
from lms.core.errors import DomainError
from lms.extensions import db
from lms.learning import service as learning
from lms.ledger import service as ledger
from lms.ledger.models import SourceType
from lms.registry import service as registry
from lms.registry.models import Organisation, Person
from lms.registry.service import check_not_banned, check_runs_base
from lms.scheduling.models import (
    Attendance,
    AttendanceStatus,
    Booking,
    BookingStatus,
    CalendarFeed,
    Instructor,
    SessionKind,
    SessionStatus,
    TrainingSession,
    Venue,
)

#: a new QR code every this many seconds
QR_SECONDS = 10
#: a code is accepted for this many windows after it was shown (phones are slow to open links)
QR_GRACE_WINDOWS = 3
#: check-in opens this long before the start and stays open this long after the end
CHECKIN_OPENS = timedelta(minutes=30)
CHECKIN_CLOSES = timedelta(minutes=30)
#: arriving later than this after the start is "late"
LATE_AFTER = timedelta(minutes=15)
MAX_REPEAT_WEEKS = 26

notifications.message("session_cancelled", _l(
    "The session %(course)s on %(when)s has been cancelled: %(reason)s"))
notifications.message("booking_promoted", _l(
    "A seat became free: you are now booked for %(course)s on %(when)s."))
notifications.message("session_changed", _l(
    "The session %(course)s you booked has changed: it is now on %(when)s at %(venue)s."))


class SessionClash(DomainError):
    default_field = "starts_at"


def _when(session: TrainingSession) -> str:
    return to_local(session.starts_at).strftime("%Y-%m-%d %H:%M")


# --- resources -------------------------------------------------------------------------------------


def _check_base_staff(actor, org: Organisation) -> None:
    check_runs_base(actor, org, _l("Only a training base schedules sessions."))


def add_venue(actor, org: Organisation, name: str, address: str = "") -> Venue:
    """A room or site where the base holds sessions."""
    _check_base_staff(actor, org)
    name = " ".join((name or "").split())
    if not name:
        raise DomainError(_l("Give the venue a name."), field="name")
    if db.session.scalar(select(Venue.id).where(Venue.organisation_id == org.id, Venue.name == name)):
        raise DomainError(_l("This base already has a venue of that name."), field="name")
    venue = Venue(organisation_id=org.id, name=name[:80], address=(address or "").strip()[:200])
    db.session.add(venue)
    db.session.flush()
    audit.record(actor, "scheduling.venue_added", venue, name=name)
    return venue


def add_instructor(actor, org: Organisation, name: str) -> Instructor:
    _check_base_staff(actor, org)
    name = " ".join((name or "").split())
    if not name:
        raise DomainError(_l("Give the instructor's name."), field="name")
    if db.session.scalar(select(Instructor.id).where(Instructor.organisation_id == org.id,
                                                     Instructor.name == name)):
        raise DomainError(_l("This base already has an instructor of that name."), field="name")
    instructor = Instructor(organisation_id=org.id, name=name[:60])
    db.session.add(instructor)
    db.session.flush()
    audit.record(actor, "scheduling.instructor_added", instructor, name=name)
    return instructor


def venues(org: Organisation) -> list[Venue]:
    return list(db.session.scalars(select(Venue).where(Venue.organisation_id == org.id,
                                                       Venue.is_active.is_(True)).order_by(Venue.name)))


def instructors(org: Organisation) -> list[Instructor]:
    return list(db.session.scalars(select(Instructor).where(
        Instructor.organisation_id == org.id, Instructor.is_active.is_(True)).order_by(Instructor.name)))


# --- scheduling ------------------------------------------------------------------------------------


@dataclass
class SessionPlan:
    """What a base asks for; times are local wall-clock times."""

    course: Course
    kind: str
    venue: Venue
    instructor: Instructor
    starts_at: datetime
    ends_at: datetime
    capacity: int
    class_hours: object
    requires_online: bool = False
    cancel_cutoff_hours: int = 24
    repeat_weeks: int = 1


def _parse_hours(raw) -> Decimal:
    try:
        hours = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise DomainError(_l("Class hours must be a number such as 2 or 3.5."), field="class_hours") from None
    if not hours.is_finite() or hours <= 0 or hours > 24 or hours != hours.quantize(Decimal("0.01")):
        raise DomainError(_l("Class hours must be more than 0 and at most 24, with at most two "
                             "decimal places."), field="class_hours")
    return hours


def _validate(org: Organisation, plan: SessionPlan) -> Decimal:
    if plan.kind not in {k.value for k in SessionKind}:
        raise DomainError(_l("Choose theory or practical training."), field="kind")
    if plan.venue.organisation_id != org.id or plan.instructor.organisation_id != org.id:
        raise DomainError(_l("Choose one of this base's venues and instructors."), field="venue_id")
    if not plan.course.is_active:
        raise DomainError(_l("This course is no longer offered."), field="course_id")
    if plan.ends_at <= plan.starts_at:
        raise DomainError(_l("A session ends after it starts."), field="ends_at")
    if plan.ends_at - plan.starts_at > timedelta(hours=12):
        raise DomainError(_l("A session lasts at most 12 hours; schedule longer training as "
                             "several sessions."), field="ends_at")
    if not 1 <= int(plan.capacity) <= 1000:
        raise DomainError(_l("Capacity must be between 1 and 1000."), field="capacity")
    if not 0 <= int(plan.cancel_cutoff_hours) <= 168:
        raise DomainError(_l("The cancellation cut-off must be between 0 and 168 hours."),
                          field="cancel_cutoff_hours")
    if not 1 <= int(plan.repeat_weeks) <= MAX_REPEAT_WEEKS:
        raise DomainError(_l("Repeat for 1 to %(max)s weeks.", max=MAX_REPEAT_WEEKS), field="repeat_weeks")
    return _parse_hours(plan.class_hours)


def clashes(venue_id: int, instructor_id: int, starts_at: datetime, ends_at: datetime,
            exclude_id: int | None = None) -> list[TrainingSession]:
    """Scheduled sessions using the venue or the instructor at an overlapping time (UTC)."""
    stmt = select(TrainingSession).where(
        TrainingSession.status == SessionStatus.SCHEDULED.value,
        or_(TrainingSession.venue_id == venue_id, TrainingSession.instructor_id == instructor_id),
        TrainingSession.starts_at < ends_at, TrainingSession.ends_at > starts_at)
    if exclude_id is not None:
        stmt = stmt.where(TrainingSession.id != exclude_id)
    return list(db.session.scalars(stmt.order_by(TrainingSession.starts_at)))


def _clash_error(session: TrainingSession, venue_id: int) -> SessionClash:
    what = (_l("the venue %(venue)s", venue=session.venue.name) if session.venue_id == venue_id
            else _l("the instructor %(name)s", name=session.instructor.name))
    return SessionClash(_l("This clashes with %(course)s on %(when)s, which already uses %(what)s.",
                           course=session.course.title, when=_when(session), what=what))


def schedule(actor, org: Organisation, plan: SessionPlan, *, now: datetime | None = None
             ) -> list[TrainingSession]:
    """Create a session, or a weekly series of them; nothing is created if any one clashes."""
    _check_base_staff(actor, org)
    hours = _validate(org, plan)
    now = now or utc_now()
    series = str(uuid.uuid4()) if int(plan.repeat_weeks) > 1 else None
    created = []
    for week in range(int(plan.repeat_weeks)):
        starts = to_utc(plan.starts_at + timedelta(weeks=week))
        ends = to_utc(plan.ends_at + timedelta(weeks=week))
        if week == 0 and starts <= now:
            raise DomainError(_l("A new session starts in the future."), field="starts_at")
        found = clashes(plan.venue.id, plan.instructor.id, starts, ends)
        if found:
            raise _clash_error(found[0], plan.venue.id)
        session = TrainingSession(
            organisation_id=org.id, course_id=plan.course.id, kind=plan.kind, venue_id=plan.venue.id,
            instructor_id=plan.instructor.id, starts_at=starts, ends_at=ends,
            capacity=int(plan.capacity), class_hours=hours, requires_online=bool(plan.requires_online),
            cancel_cutoff_hours=int(plan.cancel_cutoff_hours), series_id=series,
            status=SessionStatus.SCHEDULED.value, created_by_id=getattr(actor, "id", None))
        db.session.add(session)
        db.session.flush()  # the next week's clash check sees this one
        created.append(session)
    for session in created:
        audit.record(actor, "scheduling.session_scheduled", session, course=plan.course.code,
                     starts_at=session.starts_at.isoformat(), series=series)
    return created


def _lock_seats(session: TrainingSession) -> None:
    """Serialise every booking change of one session (see the module text)."""
    db.session.execute(update(TrainingSession).where(TrainingSession.id == session.id).values(
        seats_version=TrainingSession.seats_version + 1).execution_options(synchronize_session=False))
    db.session.refresh(session)


def reschedule(actor, session: TrainingSession, plan: SessionPlan) -> TrainingSession:
    """Change a scheduled session; booked caregivers are told. Capacity may not drop below
    the seats already booked; a larger one promotes from the waiting list."""
    org = session.organisation
    _check_base_staff(actor, org)
    if session.status != SessionStatus.SCHEDULED:
        raise DomainError(_l("Only a scheduled session can be changed."))
    plan.repeat_weeks = 1
    hours = _validate(org, plan)
    starts, ends = to_utc(plan.starts_at), to_utc(plan.ends_at)
    found = clashes(plan.venue.id, plan.instructor.id, starts, ends, exclude_id=session.id)
    if found:
        raise _clash_error(found[0], plan.venue.id)
    _lock_seats(session)
    booked = _count(session, BookingStatus.BOOKED)
    if int(plan.capacity) < booked:
        raise DomainError(_l("%(booked)s seats are booked; the capacity cannot be less.",
                             booked=booked), field="capacity")
    moved = (starts, ends, plan.venue.id) != (session.starts_at, session.ends_at, session.venue_id)
    session.course_id, session.kind, session.venue_id = plan.course.id, plan.kind, plan.venue.id
    session.instructor_id, session.starts_at, session.ends_at = plan.instructor.id, starts, ends
    session.capacity, session.class_hours = int(plan.capacity), hours
    session.requires_online = bool(plan.requires_online)
    session.cancel_cutoff_hours = int(plan.cancel_cutoff_hours)
    db.session.flush()
    db.session.refresh(session)
    _promote(session)
    if moved:
        for booking in live_bookings(session):
            notifications.notify(registry.account_id(booking.person_id), "session_changed",
                                 link=f"/sessions/{session.id}", course=session.course.title,
                                 when=_when(session), venue=session.venue.name)
    audit.record(actor, "scheduling.session_changed", session, starts_at=session.starts_at.isoformat())
    return session


def cancel_session(actor, session: TrainingSession, reason: str) -> None:
    """Cancel a session: every booking ends and every booked or waiting caregiver is told."""
    _check_base_staff(actor, session.organisation)
    if session.status != SessionStatus.SCHEDULED:
        raise DomainError(_l("Only a scheduled session can be cancelled."))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give the reason, for the caregivers who booked."), field="reason")
    _lock_seats(session)
    now = utc_now()
    for booking in live_bookings(session):
        booking.status, booking.cancelled_at = BookingStatus.CANCELLED.value, now
        notifications.notify(registry.account_id(booking.person_id), "session_cancelled",
                             link=f"/sessions/{session.id}", course=session.course.title,
                             when=_when(session), reason=reason)
    session.status, session.cancel_reason = SessionStatus.CANCELLED.value, reason
    db.session.flush()
    audit.record(actor, "scheduling.session_cancelled", session, reason=reason)


# --- bookings --------------------------------------------------------------------------------------


def _count(session: TrainingSession, status: BookingStatus) -> int:
    return db.session.scalar(select(func.count()).select_from(Booking).where(
        Booking.session_id == session.id, Booking.status == status.value)) or 0


def live_bookings(session: TrainingSession) -> list[Booking]:
    return list(db.session.scalars(select(Booking).where(
        Booking.session_id == session.id, Booking.status != BookingStatus.CANCELLED.value)
        .order_by(Booking.status, Booking.created_at, Booking.id)))


def booking_for(person: Person, session: TrainingSession) -> Booking | None:
    return db.session.scalar(select(Booking).where(
        Booking.session_id == session.id, Booking.person_id == person.id,
        Booking.status != BookingStatus.CANCELLED.value))


def seats(session: TrainingSession) -> dict:
    booked = _count(session, BookingStatus.BOOKED)
    return {"booked": booked, "free": max(0, session.capacity - booked),
            "waiting": _count(session, BookingStatus.WAITLISTED)}


def missing_online(person: Person, session: TrainingSession) -> list:
    """The online lessons still to finish before this session may be booked."""
    if not session.requires_online:
        return []
    enrolment = learning.enrolment_for(person, session.course)
    if enrolment is not None and enrolment.completed_at is not None:
        return []
    lessons = session.course.lessons
    done = learning.progress_for(person, lessons)
    return [lesson for lesson in lessons if not (lesson.id in done and done[lesson.id].is_done)]


def book(actor, person: Person, session: TrainingSession, *, now: datetime | None = None) -> Booking:
    """A seat if one is free, else a place on the waiting list (the ban gate applies)."""
    now = now or utc_now()
    check_not_banned(person.id_number)
    if session.status != SessionStatus.SCHEDULED or session.starts_at <= now:
        raise DomainError(_l("This session can no longer be booked."))
    missing = missing_online(person, session)
    if missing:
        raise DomainError(_l("Complete the online part of %(course)s first. Still to do: %(lessons)s",
                             course=session.course.title,
                             lessons="、".join(lesson.title for lesson in missing[:5])
                             + ("…" if len(missing) > 5 else "")))
    overlapping = db.session.scalar(
        select(TrainingSession).join(Booking, Booking.session_id == TrainingSession.id).where(
            Booking.person_id == person.id, Booking.status != BookingStatus.CANCELLED.value,
            TrainingSession.id != session.id, TrainingSession.status == SessionStatus.SCHEDULED.value,
            TrainingSession.starts_at < session.ends_at, TrainingSession.ends_at > session.starts_at)
        .limit(1))
    if overlapping is not None:
        raise DomainError(_l("You already have a booking at that time: %(course)s on %(when)s.",
                             course=overlapping.course.title, when=_when(overlapping)))
    _lock_seats(session)
    existing = booking_for(person, session)
    if existing is not None:
        return existing
    status = BookingStatus.BOOKED if _count(session, BookingStatus.BOOKED) < session.capacity \
        else BookingStatus.WAITLISTED
    booking = Booking(session_id=session.id, person_id=person.id, status=status.value, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(booking)
            db.session.flush()
    except IntegrityError:  # the same person from two pages at once
        return booking_for(person, session)
    audit.record(actor, "scheduling.booked", booking, session_id=session.id, status=status.value)
    return booking


def can_cancel_by(booking: Booking, now: datetime | None = None) -> bool:
    now = now or utc_now()
    session = booking.session
    return now <= session.starts_at - timedelta(hours=session.cancel_cutoff_hours)


def cancel_booking(actor, booking: Booking, *, now: datetime | None = None) -> None:
    """Give a seat (or waiting-list place) back; the first on the waiting list gets the seat.
    Caregivers may cancel up to the base's cut-off; the base's staff at any time."""
    now = now or utc_now()
    if booking.status == BookingStatus.CANCELLED:
        return
    session = booking.session
    staff = getattr(actor, "role", None) in (Role.ADMIN, Role.BASE_STAFF)
    if not staff and not can_cancel_by(booking, now):
        raise DomainError(_l("Bookings for this session can be cancelled until %(hours)s hours "
                             "before it starts. Contact the training base.",
                             hours=session.cancel_cutoff_hours))
    _lock_seats(session)
    db.session.refresh(booking)
    was_booked = booking.status == BookingStatus.BOOKED
    booking.status, booking.cancelled_at = BookingStatus.CANCELLED.value, now
    db.session.flush()
    if was_booked:
        _promote(session, now=now)
    audit.record(actor, "scheduling.booking_cancelled", booking, session_id=session.id)


def _promote(session: TrainingSession, *, now: datetime | None = None) -> None:
    """Fill free seats from the waiting list, in order (caller holds the seats lock)."""
    now = now or utc_now()
    free = session.capacity - _count(session, BookingStatus.BOOKED)
    if free <= 0:
        return
    waiting = list(db.session.scalars(select(Booking).where(
        Booking.session_id == session.id, Booking.status == BookingStatus.WAITLISTED.value)
        .order_by(Booking.created_at, Booking.id).limit(free)))
    for booking in waiting:
        booking.status, booking.promoted_at = BookingStatus.BOOKED.value, now
        notifications.notify(registry.account_id(booking.person_id), "booking_promoted",
                             link=f"/sessions/{session.id}", course=session.course.title,
                             when=_when(session))
    db.session.flush()


def waiting_position(booking: Booking) -> int | None:
    if booking.status != BookingStatus.WAITLISTED:
        return None
    return db.session.scalar(select(func.count()).select_from(Booking).where(
        Booking.session_id == booking.session_id, Booking.status == BookingStatus.WAITLISTED.value,
        or_(Booking.created_at < booking.created_at,
            and_(Booking.created_at == booking.created_at, Booking.id <= booking.id))))


def my_bookings(person: Person, *, upcoming_only: bool = False,
                now: datetime | None = None) -> list[Booking]:
    stmt = (select(Booking).join(TrainingSession, TrainingSession.id == Booking.session_id)
            .where(Booking.person_id == person.id, Booking.status != BookingStatus.CANCELLED.value))
    if upcoming_only:
        stmt = stmt.where(TrainingSession.ends_at >= (now or utc_now()))
    return list(db.session.scalars(stmt.order_by(TrainingSession.starts_at)))


# --- attendance ------------------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="session-attendance")


def attendance_code(session: TrainingSession, now: datetime | None = None) -> str:
    """The code the trainer's screen shows now: signed, for this session and this window."""
    now = now or utc_now()
    return _serializer().dumps([session.id, int(now.timestamp()) // QR_SECONDS])


class AttendanceRefused(DomainError):
    pass


def _read_code(session: TrainingSession, code: str, now: datetime) -> None:
    serializer = _serializer()
    try:
        session_id, window = serializer.loads(code or "")
    except (BadSignature, ValueError, TypeError):
        raise AttendanceRefused(_l("This is not a valid attendance code. Scan the code on the "
                                   "trainer's screen again.")) from None
    if session_id != session.id:
        raise AttendanceRefused(_l("This code belongs to another session."))
    current = int(now.timestamp()) // QR_SECONDS
    if window > current or current - window > QR_GRACE_WINDOWS:
        raise AttendanceRefused(_l("This code has expired. Scan the code on the trainer's screen "
                                   "again: it changes every few seconds."))


def check_window(session: TrainingSession, now: datetime) -> None:
    if session.status == SessionStatus.CANCELLED:
        raise AttendanceRefused(_l("This session was cancelled."))
    if now < session.starts_at - CHECKIN_OPENS:
        raise AttendanceRefused(_l("Check-in for this session opens at %(time)s.",
                                   time=to_local(session.starts_at - CHECKIN_OPENS).strftime("%Y-%m-%d %H:%M")))
    if now > session.ends_at + CHECKIN_CLOSES or session.status == SessionStatus.CLOSED:
        raise AttendanceRefused(_l("Check-in for this session has closed."))


@dataclass
class CheckResult:
    attendance: Attendance
    action: str  # "in" | "out" | "already"


def check_in(person: Person, session: TrainingSession, code: str, *,
             now: datetime | None = None) -> CheckResult:
    """Check in (or out, for a session longer than half a day) with the trainer's current code."""
    now = now or utc_now()
    _read_code(session, code, now)
    check_window(session, now)
    booking = booking_for(person, session)
    if booking is None or booking.status != BookingStatus.BOOKED:
        raise AttendanceRefused(_l("You have no seat booked for this session, so you cannot check in."))
    attendance = _attendance_of(session, person)
    if attendance is None:
        status = AttendanceStatus.LATE if now > session.starts_at + LATE_AFTER else AttendanceStatus.PRESENT
        attendance = Attendance(session_id=session.id, person_id=person.id, status=status.value,
                                checked_in_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(attendance)
                db.session.flush()
        except IntegrityError:  # the same phone sending the scan twice
            return CheckResult(_attendance_of(session, person), "already")
        return CheckResult(attendance, "in")
    if attendance.checked_in_at is None:
        attendance.checked_in_at = now
        return CheckResult(attendance, "in")
    if session.is_long and attendance.checked_out_at is None and now >= session.ends_at - timedelta(hours=1):
        attendance.checked_out_at = now
        db.session.flush()
        return CheckResult(attendance, "out")
    return CheckResult(attendance, "already")


def mark(actor, session: TrainingSession, person: Person, status: str, reason: str) -> Attendance:
    """Staff mark attendance by hand (a phone that would not scan, the paper sheet)."""
    _check_base_staff(actor, session.organisation)
    if session.status == SessionStatus.CANCELLED:
        raise DomainError(_l("This session was cancelled."))
    if status not in {s.value for s in AttendanceStatus}:
        raise DomainError(_l("Choose present, late, excused or absent."), field="status")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give the reason for marking by hand."), field="reason")
    booking = booking_for(person, session)
    if booking is None or booking.status != BookingStatus.BOOKED:
        raise DomainError(_l("Only caregivers with a booked seat can be marked."))
    attendance = _attendance_of(session, person)
    if attendance is None:
        attendance = Attendance(session_id=session.id, person_id=person.id, status=status)
        db.session.add(attendance)
    if attendance.ledger_entry_id is not None and not AttendanceStatus(status).attended:
        raise DomainError(_l("The hours for this attendance are already credited; ask an "
                             "administrator to reverse the ledger entry first."))
    attendance.status, attendance.reason, attendance.marked_by_id = status, reason, getattr(actor, "id", None)
    db.session.flush()
    audit.record(actor, "scheduling.attendance_marked", attendance, status=status, reason=reason)
    if session.status == SessionStatus.CLOSED and AttendanceStatus(status).attended:
        _credit(actor, session, attendance)
    return attendance


def can_close(session: TrainingSession, now: datetime | None = None) -> bool:
    """A scheduled session is closed once it has ended."""
    return session.status == SessionStatus.SCHEDULED and (now or utc_now()) >= session.ends_at


def close_session(actor, session: TrainingSession, *, now: datetime | None = None) -> dict:
    """Close a session after it ended: whoever is unmarked is absent; attendance is credited."""
    _check_base_staff(actor, session.organisation)
    now = now or utc_now()
    if session.status != SessionStatus.SCHEDULED:
        raise DomainError(_l("Only a scheduled session can be closed."))
    if now < session.ends_at:
        raise DomainError(_l("A session can be closed once it has ended."))
    _lock_seats(session)
    marked = {a.person_id: a for a in attendances(session)}
    absent = credited = no_checkout = 0
    for booking in live_bookings(session):
        if booking.status != BookingStatus.BOOKED:
            continue
        attendance = marked.get(booking.person_id)
        if attendance is None:
            db.session.add(Attendance(session_id=session.id, person_id=booking.person_id,
                                      status=AttendanceStatus.ABSENT.value))
            absent += 1
        elif AttendanceStatus(attendance.status).attended:
            if session.is_long and attendance.checked_out_at is None and attendance.marked_by_id is None:
                no_checkout += 1  # staff decide by hand: credited when marked
                continue
            _credit(actor, session, attendance, at=now)
            credited += 1
    session.status, session.closed_at = SessionStatus.CLOSED.value, now
    db.session.flush()
    audit.record(actor, "scheduling.session_closed", session, absent=absent, credited=credited,
                 no_checkout=no_checkout)
    return {"absent": absent, "credited": credited, "no_checkout": no_checkout}


def _credit(actor, session: TrainingSession, attendance: Attendance, at: datetime | None = None) -> None:
    """Attendance credits the ledger once, in the session's category (the ledger decides)."""
    person = db.session.get(Person, attendance.person_id)
    entry, _created = ledger.credit(
        actor, person, year=to_local(session.starts_at).year, category=session.course.category.value,
        hours=session.class_hours, source_type=SourceType.SESSION.value, source_ref=str(session.id),
        description=f"{session.course.code} {session.kind_title} {to_local(session.starts_at):%Y-%m-%d}",
        at=at)
    attendance.ledger_entry_id = entry.id


def _attendance_of(session: TrainingSession, person: Person) -> Attendance | None:
    return db.session.scalar(select(Attendance).where(
        Attendance.session_id == session.id, Attendance.person_id == person.id))


def attendances(session: TrainingSession) -> list[Attendance]:
    return list(db.session.scalars(select(Attendance).where(Attendance.session_id == session.id)))


# --- calendars and lists ---------------------------------------------------------------------------


def base_sessions(org: Organisation, start: date, end: date) -> list[TrainingSession]:
    """The base's sessions with a local start date in [start, end)."""
    return list(db.session.scalars(select(TrainingSession).where(
        TrainingSession.organisation_id == org.id,
        TrainingSession.starts_at >= to_utc(datetime.combine(start, datetime.min.time())),
        TrainingSession.starts_at < to_utc(datetime.combine(end, datetime.min.time())))
        .order_by(TrainingSession.starts_at)))


def upcoming(*, district_id: int | None = None, course_id: int | None = None,
             now: datetime | None = None, limit: int = 200) -> list[TrainingSession]:
    stmt = select(TrainingSession).where(TrainingSession.status == SessionStatus.SCHEDULED.value,
                                         TrainingSession.starts_at > (now or utc_now()))
    if district_id:
        stmt = stmt.join(Organisation, Organisation.id == TrainingSession.organisation_id).where(
            Organisation.district_id == district_id)
    if course_id:
        stmt = stmt.where(TrainingSession.course_id == course_id)
    return list(db.session.scalars(stmt.order_by(TrainingSession.starts_at).limit(limit)))


def booked_counts(sessions: list[TrainingSession]) -> dict[int, int]:
    if not sessions:
        return {}
    rows = db.session.execute(select(Booking.session_id, func.count()).where(
        Booking.session_id.in_([s.id for s in sessions]), Booking.status == BookingStatus.BOOKED.value)
        .group_by(Booking.session_id))
    return dict(rows.all())


# --- calendar feeds --------------------------------------------------------------------------------


def feed_token(*, person: Person | None = None, org: Organisation | None = None) -> str:
    """The secret address of a caregiver's or a base's calendar feed (made once)."""
    column = CalendarFeed.person_id if person is not None else CalendarFeed.organisation_id
    owner = person.id if person is not None else org.id
    feed = db.session.scalar(select(CalendarFeed).where(column == owner))
    if feed is None:
        feed = CalendarFeed(token=secrets.token_urlsafe(32), person_id=getattr(person, "id", None),
                            organisation_id=getattr(org, "id", None))
        db.session.add(feed)
        db.session.flush()
    return feed.token


def feed_sessions(token: str) -> tuple[str, list[TrainingSession]] | None:
    feed = db.session.get(CalendarFeed, token)
    if feed is None:
        return None
    if feed.person_id is not None:
        person = db.session.get(Person, feed.person_id)
        return person.name, [b.session for b in my_bookings(person) if b.status == BookingStatus.BOOKED]
    org = db.session.get(Organisation, feed.organisation_id)
    since = local_today() - timedelta(days=90)
    return org.name, [s for s in base_sessions(org, since, since + timedelta(days=460))
                      if s.status != SessionStatus.CANCELLED]


def ical(name: str, sessions: list[TrainingSession], host: str) -> bytes:
    """An iCalendar (RFC 5545) document of the sessions."""
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//childcare-lms//sessions//ZH")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    for session in sessions:
        event = Event()
        event.add("uid", f"session-{session.id}@{host}")
        event.add("summary", f"{session.course.title}（{session.kind_title}）")
        event.add("dtstart", session.starts_at.replace(tzinfo=UTC))
        event.add("dtend", session.ends_at.replace(tzinfo=UTC))
        event.add("dtstamp", utc_now().replace(tzinfo=UTC))
        event.add("location", f"{session.organisation.name} {session.venue.name} {session.venue.address}".strip())
        event.add("description", f"{session.instructor.name} · {session.class_hours} "
                  + str(_l("class hours")))
        calendar.add_component(event)
    return calendar.to_ical()
