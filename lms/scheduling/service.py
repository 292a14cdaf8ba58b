"""Offline sessions: scheduling with clash detection, bookings and waiting lists, attendance
by rotating QR code or by hand, and crediting attendance to the ledger.

Seats are serialised per session: every booking change first bumps the session row's
`seats_version`, which takes the row's write lock (PostgreSQL) or the database's (SQLite), so
counting the booked seats and adding one is never interleaved with another booking.

Sessions, bookings and attendance each have a transition table on the shared StateMachine
(lms.core.states); every service here authorises its actor with the named predicate its view
declares, and `allowed_actions(obj, user)` tells the pages exactly what to offer. Rooms are
reserved through the registry's one clash check (`reserve_venue`), which exam sittings meet too.
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

from lms.catalog.models import Course
from lms.core import audit, notifications
from lms.core.actors import is_system, system_actor
from lms.core.clock import local_today, to_local, to_utc, utc_now
from lms.core.errors import DomainError
from lms.core.permissions import authorize
from lms.core.states import ActionNotPossible, StateMachine
from lms.extensions import db
from lms.learning import service as learning
from lms.ledger import service as ledger
from lms.ledger.models import SourceType
from lms.registry import service as registry
from lms.registry import venues as venue_registry
from lms.registry.models import Organisation, Person, Venue, VenueUse
from lms.registry.permissions import can_apply_ban_effects
from lms.registry.service import check_not_banned
from lms.registry.venues import VenueClash, add_venue, venues  # noqa: F401 - the base's venues
from lms.scheduling.models import (
    Attendance,
    AttendanceAction,
    AttendanceStatus,
    Booking,
    BookingAction,
    BookingStatus,
    CalendarFeed,
    Instructor,
    SessionAction,
    SessionKind,
    SessionStatus,
    TrainingSession,
)
from lms.scheduling.permissions import can_book, can_cancel_booking, can_run_base, can_run_session

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


#: a clash of venue (with a session or an exam sitting) or of instructor
SessionClash = VenueClash

#: who moves the waiting list when a seat frees (the event log names it)
WAITING_LIST = system_actor("scheduling:waiting_list")


def _when(session: TrainingSession) -> str:
    return to_local(session.starts_at).strftime("%Y-%m-%d %H:%M")


# --- the transition tables -------------------------------------------------------------------------

S, SA = SessionStatus, SessionAction
#: a session's moves; the self-moves say in which states a thing may be done to it
SESSION_TRANSITIONS: dict[tuple[SessionStatus, SessionAction], SessionStatus] = {
    (S.SCHEDULED, SA.EDIT): S.SCHEDULED,
    (S.SCHEDULED, SA.BOOK): S.SCHEDULED,
    (S.SCHEDULED, SA.SHOW_CODE): S.SCHEDULED,
    (S.SCHEDULED, SA.CHECK_IN): S.SCHEDULED,
    (S.SCHEDULED, SA.MARK): S.SCHEDULED,
    (S.SCHEDULED, SA.CANCEL): S.CANCELLED,
    (S.SCHEDULED, SA.CLOSE): S.CLOSED,
    (S.CLOSED, SA.MARK): S.CLOSED,  # the paper sheet, entered after the close
}

B, BA = BookingStatus, BookingAction
BOOKING_TRANSITIONS: dict[tuple[BookingStatus, BookingAction], BookingStatus] = {
    (B.BOOKED, BA.CANCEL): B.CANCELLED,
    (B.WAITLISTED, BA.CANCEL): B.CANCELLED,
    (B.WAITLISTED, BA.PROMOTE): B.BOOKED,
}

#: staff may correct a mark to any status (a credited one only to another attended status)
ATTENDANCE_TRANSITIONS: dict[tuple[AttendanceStatus, AttendanceAction], AttendanceStatus] = {
    (state, action): action.status for state in AttendanceStatus for action in AttendanceAction}


def _may_session(user, session: TrainingSession, action) -> bool:
    if action in (SA.BOOK, SA.CHECK_IN):  # a caregiver, for themselves
        return can_book(user)
    return can_run_session(user, session=session)


def _may_booking(user, booking: Booking, action) -> bool:
    # promotion is the waiting list's own move (a system actor), never a person's
    return action == BA.CANCEL and can_cancel_booking(user, booking=booking)


def _may_attendance(user, attendance: Attendance, action) -> bool:
    return can_run_session(user, session=attendance.session)


SESSION = StateMachine(TrainingSession, SessionStatus, SessionAction, SESSION_TRANSITIONS,
                       may=_may_session, column="status", audit_prefix="scheduling.session")
BOOKING = StateMachine(Booking, BookingStatus, BookingAction, BOOKING_TRANSITIONS,
                       may=_may_booking, column="status", audit_prefix="scheduling.booking")
ATTENDANCE = StateMachine(Attendance, AttendanceStatus, AttendanceAction, ATTENDANCE_TRANSITIONS,
                          may=_may_attendance, column="status", audit_prefix="scheduling.attendance")
_MACHINES = {TrainingSession: SESSION, Booking: BOOKING, Attendance: ATTENDANCE}


def _is_base_staff_of(user, session: TrainingSession) -> bool:
    return is_system(user) or can_run_base(user, org=session.organisation)


def _problem(obj, action, user, now: datetime):
    """A rule beyond the table and the role (a time, a credit): the reason, or None.

    Kept out of the machines' `guard` because services take `now` (the demo builds last
    week's sessions), while the pages ask at the real now."""
    if isinstance(obj, TrainingSession):
        if action == SA.BOOK:
            person = db.session.get(Person, user.person_id) if getattr(user, "person_id", None) else None
            if person is None:
                return _l("This session can no longer be booked.") if obj.starts_at <= now else None
            if booking_for(person, obj) is not None:
                return _l("You have booked this session already.")
            return _book_problem(person, obj, now)
        if action == SA.CLOSE and now < obj.ends_at:
            return _l("A session can be closed once it has ended.")
    elif isinstance(obj, Booking):
        session = obj.session
        if action == BA.CANCEL:
            if session.status != SessionStatus.SCHEDULED:
                return _l("This session is %(state)s; its bookings stay as they are.",
                          state=session.status_title)
            if not _is_base_staff_of(user, session) and not can_cancel_by(obj, now):
                return _l("Bookings for this session can be cancelled until %(hours)s hours "
                          "before it starts. Contact the training base.",
                          hours=session.cancel_cutoff_hours)
    elif isinstance(obj, Attendance):
        if obj.ledger_entry_id is not None and not AttendanceAction(action).status.attended:
            return _l("The hours for this attendance are already credited; ask an "
                      "administrator to reverse the ledger entry first.")
    return None


def allowed_actions(obj, user, now: datetime | None = None) -> list:
    """What `user` may do to a session, booking or attendance now: what the pages offer."""
    now = now or utc_now()
    machine = _MACHINES[type(obj)]
    return [action for action in machine.allowed_actions(obj, user)
            if _problem(obj, action, user, now) is None]


def _require(actor, obj, action, now: datetime, predicate, **objects) -> None:
    """The gate before an action: the named predicate, the table, then the rules beyond it."""
    authorize(actor, predicate, **objects)
    _MACHINES[type(obj)].next_state(obj, action)  # InvalidTransition when the state forbids it
    problem = _problem(obj, action, actor, now)
    if problem:
        raise ActionNotPossible(problem)


# --- resources -------------------------------------------------------------------------------------


def add_instructor(actor, org: Organisation, name: str) -> Instructor:
    """A trainer of the base (sessions cannot double-book one)."""
    authorize(actor, can_run_base, org=org)
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


def instructor_clashes(instructor_id: int, starts_at: datetime, ends_at: datetime,
                       exclude_id: int | None = None) -> list[TrainingSession]:
    """Scheduled sessions the instructor teaches at an overlapping time (UTC)."""
    stmt = select(TrainingSession).where(
        TrainingSession.status == SessionStatus.SCHEDULED.value,
        TrainingSession.instructor_id == instructor_id,
        TrainingSession.starts_at < ends_at, TrainingSession.ends_at > starts_at)
    if exclude_id is not None:
        stmt = stmt.where(TrainingSession.id != exclude_id)
    return list(db.session.scalars(stmt.order_by(TrainingSession.starts_at)))


def _instructor_clash(session: TrainingSession) -> SessionClash:
    what = _l("the instructor %(name)s", name=session.instructor.name)
    return SessionClash(_l("This clashes with %(course)s on %(when)s, which already uses %(what)s.",
                           course=session.course.title, when=_when(session), what=what))


def _hold(actor, session: TrainingSession, venue: Venue, course: Course) -> None:
    """The instructor is free and the room is reserved (the registry's one clash check, which
    exam sittings meet too), or SessionClash."""
    found = instructor_clashes(session.instructor_id, session.starts_at, session.ends_at,
                               exclude_id=session.id)
    if found:
        raise _instructor_clash(found[0])
    venue_registry.reserve_venue(actor, venue, session.starts_at, session.ends_at,
                                 use=VenueUse.SESSION, holder_id=session.id, title=course.title)


def schedule(actor, org: Organisation, plan: SessionPlan, *, now: datetime | None = None
             ) -> list[TrainingSession]:
    """Create a session, or a weekly series of them; nothing is created if any one clashes."""
    authorize(actor, can_run_base, org=org)
    hours = _validate(org, plan)
    now = now or utc_now()
    series = str(uuid.uuid4()) if int(plan.repeat_weeks) > 1 else None
    created = []
    with db.session.begin_nested():  # a clash in any week leaves nothing behind
        for week in range(int(plan.repeat_weeks)):
            starts = to_utc(plan.starts_at + timedelta(weeks=week))
            ends = to_utc(plan.ends_at + timedelta(weeks=week))
            if week == 0 and starts <= now:
                raise DomainError(_l("A new session starts in the future."), field="starts_at")
            session = TrainingSession(
                organisation_id=org.id, course_id=plan.course.id, kind=plan.kind,
                venue_id=plan.venue.id, instructor_id=plan.instructor.id, starts_at=starts,
                ends_at=ends, capacity=int(plan.capacity), class_hours=hours,
                requires_online=bool(plan.requires_online),
                cancel_cutoff_hours=int(plan.cancel_cutoff_hours), series_id=series,
                status=SessionStatus.SCHEDULED.value, created_by_id=getattr(actor, "id", None))
            db.session.add(session)
            db.session.flush()
            _hold(actor, session, plan.venue, plan.course)  # the next week's check sees this one
            created.append(session)
    for session in created:
        SESSION.record_start(actor, session)
        audit.record(actor, "scheduling.session_scheduled", session, course=plan.course.code,
                     starts_at=session.starts_at.isoformat(), series=series)
    return created


def _lock_seats(session: TrainingSession) -> None:
    """Serialise every booking change of one session (see the module text)."""
    db.session.execute(update(TrainingSession).where(TrainingSession.id == session.id).values(
        seats_version=TrainingSession.seats_version + 1).execution_options(synchronize_session=False))
    db.session.refresh(session)


def reschedule(actor, session: TrainingSession, plan: SessionPlan, *,
               now: datetime | None = None) -> TrainingSession:
    """Change a scheduled session; booked caregivers are told. Capacity may not drop below
    the seats already booked; a larger one promotes from the waiting list."""
    org = session.organisation
    _require(actor, session, SA.EDIT, now or utc_now(), can_run_session, session=session)
    plan.repeat_weeks = 1
    hours = _validate(org, plan)
    starts, ends = to_utc(plan.starts_at), to_utc(plan.ends_at)
    _lock_seats(session)
    SESSION.next_state(session, SA.EDIT)  # still scheduled, now that the row is ours
    booked = _count(session, BookingStatus.BOOKED)
    if int(plan.capacity) < booked:
        raise DomainError(_l("%(booked)s seats are booked; the capacity cannot be less.",
                             booked=booked), field="capacity")
    moved = (starts, ends, plan.venue.id) != (session.starts_at, session.ends_at, session.venue_id)
    with db.session.begin_nested():  # a clash leaves the session as it was
        session.course_id, session.kind, session.venue_id = plan.course.id, plan.kind, plan.venue.id
        session.instructor_id, session.starts_at, session.ends_at = plan.instructor.id, starts, ends
        session.capacity, session.class_hours = int(plan.capacity), hours
        session.requires_online = bool(plan.requires_online)
        session.cancel_cutoff_hours = int(plan.cancel_cutoff_hours)
        db.session.flush()
        db.session.refresh(session)
        _hold(actor, session, plan.venue, plan.course)
    _promote(session)
    if moved:
        for booking in live_bookings(session):
            notifications.notify(registry.account_id(booking.person_id), "session_changed",
                                 link=f"/sessions/{session.id}", course=session.course.title,
                                 when=_when(session), venue=session.venue.name)
    audit.record(actor, "scheduling.session_changed", session, starts_at=session.starts_at.isoformat())
    return session


def cancel_session(actor, session: TrainingSession, reason: str, *,
                   now: datetime | None = None) -> None:
    """Cancel a session: every booking ends, every booked or waiting caregiver is told, and
    the room is free again."""
    now = now or utc_now()
    _require(actor, session, SA.CANCEL, now, can_run_session, session=session)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give the reason, for the caregivers who booked."), field="reason")
    _lock_seats(session)
    for booking in live_bookings(session):
        BOOKING.apply(actor, booking, BA.CANCEL, reason=reason, values={"cancelled_at": now})
        notifications.notify(registry.account_id(booking.person_id), "session_cancelled",
                             link=f"/sessions/{session.id}", course=session.course.title,
                             when=_when(session), reason=reason)
    SESSION.apply(actor, session, SA.CANCEL, reason=reason, values={"cancel_reason": reason})
    venue_registry.release_venue(actor, session.organisation, use=VenueUse.SESSION,
                                 holder_id=session.id)


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


def _book_problem(person: Person, session: TrainingSession, now: datetime):
    """Why `person` cannot book `session` now (beyond its state), or None."""
    if session.starts_at <= now:
        return _l("This session can no longer be booked.")
    missing = missing_online(person, session)
    if missing:
        return _l("Complete the online part of %(course)s first. Still to do: %(lessons)s",
                  course=session.course.title,
                  lessons="、".join(lesson.title for lesson in missing[:5])
                  + ("…" if len(missing) > 5 else ""))
    overlapping = db.session.scalar(
        select(TrainingSession).join(Booking, Booking.session_id == TrainingSession.id).where(
            Booking.person_id == person.id, Booking.status != BookingStatus.CANCELLED.value,
            TrainingSession.id != session.id, TrainingSession.status == SessionStatus.SCHEDULED.value,
            TrainingSession.starts_at < session.ends_at, TrainingSession.ends_at > session.starts_at)
        .limit(1))
    if overlapping is not None:
        return _l("You already have a booking at that time: %(course)s on %(when)s.",
                  course=overlapping.course.title, when=_when(overlapping))
    return None


def book(actor, person: Person, session: TrainingSession, *, now: datetime | None = None) -> Booking:
    """A seat if one is free, else a place on the waiting list (the ban gate applies). A
    caregiver books for themselves."""
    now = now or utc_now()
    authorize(actor, can_book, person=person)
    check_not_banned(person.id_number)
    SESSION.next_state(session, SA.BOOK)
    problem = _book_problem(person, session, now)
    if problem:
        raise ActionNotPossible(problem)
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
    BOOKING.record_start(actor, booking)
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
    authorize(actor, can_cancel_booking, booking=booking)
    if booking.status == BookingStatus.CANCELLED:
        return
    _require(actor, booking, BA.CANCEL, now, can_cancel_booking, booking=booking)
    session = booking.session
    _lock_seats(session)
    db.session.refresh(booking)
    was_booked = booking.status == BookingStatus.BOOKED
    BOOKING.apply(actor, booking, BA.CANCEL, values={"cancelled_at": now}, session_id=session.id)
    if was_booked:
        _promote(session, now=now)


def cancel_bookings_for_ban(actor, person_id: int, reason: str, *,
                            now: datetime | None = None) -> list[Booking]:
    """A ban cancels the person's seats and waiting-list places in sessions not yet held or
    closed, whatever the cut-off; the freed seats go to the waiting list."""
    authorize(actor, can_apply_ban_effects)
    now = now or utc_now()
    bookings = list(db.session.scalars(
        select(Booking).join(TrainingSession, TrainingSession.id == Booking.session_id)
        .where(Booking.person_id == person_id,
               Booking.status.in_((BookingStatus.BOOKED.value, BookingStatus.WAITLISTED.value)),
               TrainingSession.status == SessionStatus.SCHEDULED.value)
        .order_by(Booking.id)))
    for booking in bookings:
        session = booking.session
        _lock_seats(session)
        db.session.refresh(booking)
        was_booked = booking.status == BookingStatus.BOOKED
        BOOKING.apply(registry.BAN_EFFECTS, booking, BA.CANCEL, reason=reason,
                      values={"cancelled_at": now}, session_id=session.id)
        if was_booked:
            _promote(session, now=now)
    return bookings


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
        BOOKING.apply(WAITING_LIST, booking, BA.PROMOTE, reason="a seat became free",
                      values={"promoted_at": now})
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
    return _serializer().dumps([session.id, _window(now or utc_now())])


def _window(now: datetime) -> int:
    """The code's time window; `now` is naive UTC (never read in the server's zone)."""
    return int(now.replace(tzinfo=UTC).timestamp()) // QR_SECONDS


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
    current = _window(now)
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


def check_in(actor, person: Person, session: TrainingSession, code: str, *,
             now: datetime | None = None) -> CheckResult:
    """Check in (or out, for a session longer than half a day) with the trainer's current code;
    a caregiver checks in for themselves."""
    now = now or utc_now()
    authorize(actor, can_book, person=person)
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
        ATTENDANCE.record_start(actor, attendance, reason="scan")
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
    _require(actor, session, SA.MARK, utc_now(), can_run_session, session=session)
    if status not in {s.value for s in AttendanceStatus}:
        raise DomainError(_l("Choose present, late, excused or absent."), field="status")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give the reason for marking by hand."), field="reason")
    booking = booking_for(person, session)
    if booking is None or booking.status != BookingStatus.BOOKED:
        raise DomainError(_l("Only caregivers with a booked seat can be marked."))
    attendance = _attendance_of(session, person)
    marker = getattr(actor, "id", None)
    if attendance is None:
        attendance = Attendance(session_id=session.id, person_id=person.id, status=status,
                                reason=reason, marked_by_id=marker)
        db.session.add(attendance)
        db.session.flush()
        ATTENDANCE.record_start(actor, attendance, reason=reason)
        audit.record(actor, "scheduling.attendance_mark_" + status, attendance, reason=reason)
    else:
        action = AttendanceAction.to(status)
        problem = _problem(attendance, action, actor, utc_now())
        if problem:
            raise ActionNotPossible(problem)
        ATTENDANCE.apply(actor, attendance, action, reason=reason,
                         values={"reason": reason, "marked_by_id": marker})
    if session.status == SessionStatus.CLOSED and AttendanceStatus(status).attended:
        _credit(actor, session, attendance)
    return attendance


def close_session(actor, session: TrainingSession, *, now: datetime | None = None) -> dict:
    """Close a session after it ended: whoever is unmarked is absent; attendance is credited."""
    now = now or utc_now()
    _require(actor, session, SA.CLOSE, now, can_run_session, session=session)
    _lock_seats(session)
    SESSION.next_state(session, SA.CLOSE)  # nobody closed or cancelled it meanwhile
    marked = {a.person_id: a for a in attendances(session)}
    absent = credited = no_checkout = 0
    for booking in live_bookings(session):
        if booking.status != BookingStatus.BOOKED:
            continue
        attendance = marked.get(booking.person_id)
        if attendance is None:
            absentee = Attendance(session_id=session.id, person_id=booking.person_id,
                                  status=AttendanceStatus.ABSENT.value)
            db.session.add(absentee)
            db.session.flush()
            ATTENDANCE.record_start(actor, absentee, reason="unmarked at the close")
            absent += 1
        elif AttendanceStatus(attendance.status).attended:
            if session.is_long and attendance.checked_out_at is None and attendance.marked_by_id is None:
                no_checkout += 1  # staff decide by hand: credited when marked
                continue
            _credit(actor, session, attendance, at=now)
            credited += 1
    SESSION.apply(actor, session, SA.CLOSE, values={"closed_at": now}, absent=absent,
                  credited=credited, no_checkout=no_checkout)
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


def mark_choices(session: TrainingSession, booking: Booking, attendance: Attendance | None,
                 user) -> list[AttendanceStatus]:
    """The statuses `user` may mark this booking's attendance as now (none: no form)."""
    if not booking.has_seat or SA.MARK not in allowed_actions(session, user):
        return []
    if attendance is None:
        return list(AttendanceStatus)
    return [action.status for action in allowed_actions(attendance, user)]


def _attendance_of(session: TrainingSession, person: Person) -> Attendance | None:
    return db.session.scalar(select(Attendance).where(
        Attendance.session_id == session.id, Attendance.person_id == person.id))


def attendances(session: TrainingSession) -> list[Attendance]:
    return list(db.session.scalars(select(Attendance).where(Attendance.session_id == session.id)))


# --- calendars and lists ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalTimes:
    """A session's start and end on the city's clock; `next_day` when it ends after midnight."""

    starts: datetime
    ends: datetime
    next_day: bool


def local_times(session: TrainingSession) -> LocalTimes:
    starts, ends = to_local(session.starts_at), to_local(session.ends_at)
    return LocalTimes(starts, ends, ends.date() > starts.date())


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


def ical(name: str, sessions: list[TrainingSession]) -> bytes:
    """An iCalendar (RFC 5545) document of the sessions. Its UIDs and links name the public
    address, never the Host of the request that fetched it."""
    from icalendar import Calendar, Event

    from lms.core.urls import public_host, public_url

    host = public_host()

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
        event.add("url", public_url("scheduling.session_detail", session_id=session.id))
        calendar.add_component(event)
    return calendar.to_ical()
