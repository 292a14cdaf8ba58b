"""Examinations: sittings planned by training bases, registrations, timed theory papers
drawn from the question banks, practical scores, results."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.catalog.models import ExamQuestion
from lms.core.enums import TitledEnum, enum_check
from lms.core.models import utcnow
from lms.extensions import db
from lms.registry.models import Organisation, Person, QualificationType, Venue

SCORE = Numeric(5, 1)


class Result(TitledEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"

    @classmethod
    def titles(cls):
        return {cls.PENDING: _l("Pending"), cls.PASSED: _l("Passed"), cls.FAILED: _l("Not passed")}


class RegistrationState(TitledEnum):
    REGISTERED = "registered"
    #: the candidate opened the theory paper (the attempt carries it from here)
    STARTED = "started"
    WITHDRAWN = "withdrawn"
    #: the paper closed without the candidate opening it: theory 0
    ABSENT = "absent"

    @classmethod
    def titles(cls):
        return {cls.REGISTERED: _l("Registered"), cls.STARTED: _l("Paper started"),
                cls.WITHDRAWN: _l("Withdrawn"), cls.ABSENT: _l("Absent")}


class RegistrationAction(TitledEnum):
    START = "start"
    WITHDRAW = "withdraw"
    MISS = "miss"

    @classmethod
    def titles(cls):
        return {cls.START: _l("Start the paper"), cls.WITHDRAW: _l("Withdraw"),
                cls.MISS: _l("Record as absent")}


class AttemptState(TitledEnum):
    OPEN = "open"
    HANDED_IN = "handed_in"
    #: handed in by the server when the time ran out
    TIMED_OUT = "timed_out"

    @classmethod
    def titles(cls):
        return {cls.OPEN: _l("In progress"), cls.HANDED_IN: _l("Handed in"),
                cls.TIMED_OUT: _l("Time ran out")}


class AttemptAction(TitledEnum):
    ANSWER = "answer"
    HAND_IN = "hand_in"
    TIME_UP = "time_up"

    @classmethod
    def titles(cls):
        return {cls.ANSWER: _l("Answer"), cls.HAND_IN: _l("Hand in"), cls.TIME_UP: _l("Time up")}


LEVEL_TITLES = {
    5: _l("Level 5 (entry)"), 4: _l("Level 4 (intermediate)"), 3: _l("Level 3 (advanced)"),
    2: _l("Level 2 (technician)"), 1: _l("Level 1 (senior technician)"),
}


class ExamSitting(db.Model):
    __tablename__ = "exam_sittings"
    __table_args__ = (
        CheckConstraint("level IS NULL OR (level BETWEEN 1 AND 5)", name="level_range"),
        CheckConstraint("duration_minutes BETWEEN 10 AND 240", name="duration_range"),
        CheckConstraint("theory_pass BETWEEN 0 AND 100 AND practical_pass BETWEEN 0 AND 100",
                        name="pass_marks"),
        Index("ix_exam_sittings_org_time", "organisation_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    #: the certificate the sitting leads to
    qualification_type_id: Mapped[int] = mapped_column(ForeignKey("qualification_types.id"))
    level: Mapped[int | None] = mapped_column(Integer)
    #: UTC; the theory paper can be taken from here until starts_at + duration
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    #: one of the base's venues, reserved through the same clash check as its sessions
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id"))
    #: how many questions of each kind the paper draws, e.g. {"single": 20, "multiple": 5, "truefalse": 5}
    blueprint: Mapped[dict] = mapped_column(JSON)
    #: pass marks in force when the sitting was planned
    theory_pass: Mapped[int] = mapped_column(Integer)
    practical_pass: Mapped[int] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    qualification_type: Mapped[QualificationType] = relationship(lazy="joined")
    venue: Mapped[Venue] = relationship(lazy="joined")
    examiners: Mapped[list[SittingExaminer]] = relationship(cascade="all, delete-orphan")

    @property
    def level_title(self) -> str:
        return str(LEVEL_TITLES[self.level]) if self.level else ""

    @property
    def paper_size(self) -> int:
        return sum(int(v) for v in self.blueprint.values())


class SittingExaminer(db.Model):
    __tablename__ = "sitting_examiners"

    sitting_id: Mapped[int] = mapped_column(ForeignKey("exam_sittings.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class Registration(db.Model):
    __tablename__ = "exam_registrations"
    __table_args__ = (
        UniqueConstraint("sitting_id", "person_id", name="uq_exam_registrations_candidate"),
        enum_check("result", Result),
        enum_check("state", RegistrationState),
        CheckConstraint("practical_score IS NULL OR (practical_score BETWEEN 0 AND 100)",
                        name="practical_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("exam_sittings.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    registered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    theory_score: Mapped[Decimal | None] = mapped_column(SCORE)
    practical_score: Mapped[Decimal | None] = mapped_column(SCORE)
    practical_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    practical_at: Mapped[datetime | None] = mapped_column(DateTime)
    result: Mapped[str] = mapped_column(String(8), default=Result.PENDING.value)
    #: moved only by the registration machine (exams.service.REGISTRATION)
    state: Mapped[str] = mapped_column(String(16), default=RegistrationState.REGISTERED.value)
    #: set when a certificate is issued for this result (by lms.certificates): from then on its
    #: scores change only through a recorded re-grade there, never by score entry here
    certified_at: Mapped[datetime | None] = mapped_column(DateTime)

    sitting: Mapped[ExamSitting] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(lazy="joined")

    @property
    def result_title(self) -> str:
        return Result(self.result).title

    @property
    def result_badge(self) -> str:
        return {Result.PASSED: "text-bg-success", Result.FAILED: "text-bg-danger"}.get(
            Result(self.result), "text-bg-secondary")

    @property
    def state_title(self) -> str:
        return RegistrationState(self.state).title


class Attempt(db.Model):
    """The one theory attempt a registration allows."""

    __tablename__ = "exam_attempts"
    __table_args__ = (enum_check("state", AttemptState),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("exam_registrations.id"), unique=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    #: the server's deadline; answers after it are not accepted
    deadline_at: Mapped[datetime] = mapped_column(DateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: submitted by the server when the time ran out
    auto_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    correct: Mapped[int | None] = mapped_column(Integer)
    #: moved only by the attempt machine (exams.service.ATTEMPT)
    state: Mapped[str] = mapped_column(String(16), default=AttemptState.OPEN.value)

    registration: Mapped[Registration] = relationship(lazy="joined")
    items: Mapped[list[AttemptItem]] = relationship(order_by="AttemptItem.position",
                                                    cascade="all, delete-orphan")


class AttemptItem(db.Model):
    __tablename__ = "exam_attempt_items"
    __table_args__ = (UniqueConstraint("attempt_id", "position", name="uq_exam_attempt_items_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("exam_attempts.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    #: drawn from the exam bank only, never from the lessons' self-check questions
    question_id: Mapped[int] = mapped_column(ForeignKey("exam_questions.id"))
    #: the question's option indexes in the order this candidate sees them
    option_order: Mapped[list] = mapped_column(JSON, default=list)
    #: the chosen answer as option indexes of the question (or [true]/[false]); NULL: unanswered
    answer: Mapped[list | None] = mapped_column(JSON)
    saved_at: Mapped[datetime | None] = mapped_column(DateTime)

    question: Mapped[ExamQuestion] = relationship(lazy="joined")
