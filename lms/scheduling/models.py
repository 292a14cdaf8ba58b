"""Training bases' offline sessions: instructors, sessions, bookings, attendance (the venues are
the registry's: exam sittings use them too)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.catalog.models import Course
from lms.core.enums import TitledEnum, enum_check
from lms.core.models import utcnow
from lms.extensions import db
from lms.registry.models import Organisation, Person, Venue


class SessionKind(TitledEnum):
    THEORY = "theory"
    PRACTICAL = "practical"

    @classmethod
    def titles(cls):
        return {cls.THEORY: _l("Theory"), cls.PRACTICAL: _l("Practical training")}


class SessionStatus(TitledEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    CLOSED = "closed"

    @classmethod
    def titles(cls):
        return {cls.SCHEDULED: _l("Scheduled"), cls.CANCELLED: _l("Cancelled"),
                cls.CLOSED: _l("Closed")}


class SessionAction(TitledEnum):
    EDIT = "edit"
    CANCEL = "cancel"
    CLOSE = "close"
    BOOK = "book"
    #: the trainer shows the rotating check-in code
    SHOW_CODE = "show_code"
    #: a caregiver checks in with it
    CHECK_IN = "check_in"
    #: staff mark attendance by hand
    MARK = "mark"

    @classmethod
    def titles(cls):
        return {cls.EDIT: _l("change"), cls.CANCEL: _l("cancel"), cls.CLOSE: _l("close"),
                cls.BOOK: _l("book"), cls.SHOW_CODE: _l("show the check-in code"),
                cls.CHECK_IN: _l("check in"),
                cls.MARK: _l("mark attendance")}


class BookingStatus(TitledEnum):
    BOOKED = "booked"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"

    @classmethod
    def titles(cls):
        return {cls.BOOKED: _l("Booked"), cls.WAITLISTED: _l("On the waiting list"),
                cls.CANCELLED: _l("Cancelled")}


class BookingAction(TitledEnum):
    CANCEL = "cancel"
    #: a seat freed: the first on the waiting list gets it
    PROMOTE = "promote"

    @classmethod
    def titles(cls):
        return {cls.CANCEL: _l("cancel"), cls.PROMOTE: _l("give the seat")}


class AttendanceStatus(TitledEnum):
    PRESENT = "present"
    LATE = "late"
    EXCUSED = "excused"
    ABSENT = "absent"

    @classmethod
    def titles(cls):
        return {cls.PRESENT: _l("Present"), cls.LATE: _l("Late"), cls.EXCUSED: _l("Excused"),
                cls.ABSENT: _l("Absent")}

    @property
    def attended(self) -> bool:
        return self in (AttendanceStatus.PRESENT, AttendanceStatus.LATE)


class AttendanceAction(TitledEnum):
    """Staff marking by hand: each action names the status it leads to."""

    MARK_PRESENT = "mark_present"
    MARK_LATE = "mark_late"
    MARK_EXCUSED = "mark_excused"
    MARK_ABSENT = "mark_absent"

    @classmethod
    def titles(cls):
        return {cls.MARK_PRESENT: _l("mark present"), cls.MARK_LATE: _l("mark late"),
                cls.MARK_EXCUSED: _l("mark excused"), cls.MARK_ABSENT: _l("mark absent")}

    @property
    def status(self) -> AttendanceStatus:
        return AttendanceStatus(self.value.removeprefix("mark_"))

    @classmethod
    def to(cls, status) -> AttendanceAction:
        return cls("mark_" + AttendanceStatus(status).value)


class Instructor(db.Model):
    __tablename__ = "instructors"
    __table_args__ = (UniqueConstraint("organisation_id", "name", name="uq_instructors_org_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(60))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class TrainingSession(db.Model):
    __tablename__ = "training_sessions"
    __table_args__ = (
        enum_check("kind", SessionKind),
        enum_check("status", SessionStatus),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("class_hours > 0", name="hours_positive"),
        CheckConstraint("cancel_cutoff_hours >= 0", name="cutoff_not_negative"),
        Index("ix_training_sessions_venue_time", "venue_id", "starts_at"),
        Index("ix_training_sessions_instructor_time", "instructor_id", "starts_at"),
        Index("ix_training_sessions_org_time", "organisation_id", "starts_at"),
        Index("ix_training_sessions_time", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    kind: Mapped[str] = mapped_column(String(10))
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id"))
    instructor_id: Mapped[int] = mapped_column(ForeignKey("instructors.id"))
    #: UTC, naive, like every stored time
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    #: class hours credited to each attendee
    class_hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    #: booking needs the course's online part completed first
    requires_online: Mapped[bool] = mapped_column(Boolean, default=False)
    #: caregivers may cancel up to this many hours before the start
    cancel_cutoff_hours: Mapped[int] = mapped_column(Integer, default=24)
    status: Mapped[str] = mapped_column(String(10), default=SessionStatus.SCHEDULED.value)
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    #: sessions created together as a weekly series share this id
    series_id: Mapped[str | None] = mapped_column(String(36), index=True)
    #: bumped by every booking change: taking the row's write lock serialises the seats
    seats_version: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    course: Mapped[Course] = relationship(lazy="joined")
    venue: Mapped[Venue] = relationship(lazy="joined")
    instructor: Mapped[Instructor] = relationship(lazy="joined")

    @property
    def kind_title(self) -> str:
        return SessionKind(self.kind).title

    @property
    def status_title(self) -> str:
        return SessionStatus(self.status).title

    @property
    def is_cancelled(self) -> bool:
        return self.status == SessionStatus.CANCELLED

    @property
    def is_scheduled(self) -> bool:
        return self.status == SessionStatus.SCHEDULED

    @property
    def is_long(self) -> bool:
        """Longer than half a day: attendees check out as well as in."""
        return (self.ends_at - self.starts_at).total_seconds() > 4 * 3600


class Booking(db.Model):
    __tablename__ = "bookings"
    __table_args__ = (
        enum_check("status", BookingStatus),
        # one live booking (or waiting-list place) per person and session
        Index("uq_bookings_live", "session_id", "person_id", unique=True,
              sqlite_where=text("status <> 'cancelled'"),
              postgresql_where=text("status <> 'cancelled'")),
        Index("ix_bookings_session_status", "session_id", "status", "created_at"),
        Index("ix_bookings_person_status", "person_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_sessions.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    status: Mapped[str] = mapped_column(String(12))
    #: the order of the waiting list
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)

    session: Mapped[TrainingSession] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(lazy="joined")

    @property
    def status_title(self) -> str:
        return BookingStatus(self.status).title

    @property
    def has_seat(self) -> bool:
        return self.status == BookingStatus.BOOKED


class Attendance(db.Model):
    __tablename__ = "attendances"
    __table_args__ = (
        enum_check("status", AttendanceStatus),
        UniqueConstraint("session_id", "person_id", name="uq_attendances_session_person"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("training_sessions.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    status: Mapped[str] = mapped_column(String(10))
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime)
    checked_out_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: staff who marked it by hand (NULL for a scan or the close of the session)
    marked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    session: Mapped[TrainingSession] = relationship()
    person: Mapped[Person] = relationship(lazy="joined")

    @property
    def status_title(self) -> str:
        return AttendanceStatus(self.status).title


class CalendarFeed(db.Model):
    """A secret address a calendar app subscribes to (it cannot sign in)."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (CheckConstraint("(person_id IS NULL) <> (organisation_id IS NULL)",
                                      name="one_owner"),)

    token: Mapped[str] = mapped_column(String(48), primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), unique=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
