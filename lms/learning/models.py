"""Online study: enrolments, lesson progress, the study clock and the segments behind credits."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.catalog.models import Course, Lesson
from lms.core.models import utcnow
from lms.extensions import db


class Enrolment(db.Model):
    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("person_id", "course_id", name="uq_enrolments_person_course"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    enrolled_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: set when every lesson of the course is done
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)

    course: Mapped[Course] = relationship(lazy="joined")


class LessonProgress(db.Model):
    __tablename__ = "lesson_progress"
    __table_args__ = (
        UniqueConstraint("person_id", "lesson_id", name="uq_lesson_progress_person_lesson"),
        CheckConstraint("credited_seconds >= 0", name="seconds_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    #: study time the server accepted for this lesson in closed segments; the segment open on
    #: the person's study clock adds to it until it closes (see `seconds`)
    credited_seconds: Mapped[int] = mapped_column(Integer, default=0)
    #: furthest point of the lesson video watched without skipping, in seconds
    video_furthest: Mapped[int] = mapped_column(Integer, default=0)
    #: when the lesson's time was met and its hours written to the ledger
    credited_at: Mapped[datetime | None] = mapped_column(DateTime)
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    self_check_passed_at: Mapped[datetime | None] = mapped_column(DateTime)

    lesson: Mapped[Lesson] = relationship()

    #: seconds of the study clock's open segment for this lesson (set by the service when read)
    pending_seconds = 0

    @property
    def seconds(self) -> int:
        """All study time credited to the lesson, the open segment included."""
        return self.credited_seconds + self.pending_seconds

    @property
    def is_done(self) -> bool:
        return self.credited_at is not None and self.self_check_passed_at is not None


class StudyClock(db.Model):
    """The one lesson a person is being credited for right now (one row per person).

    Starting a lesson in another tab or device replaces the token: the first page's
    heartbeats are then refused, so two pages never count twice. The crediting rules in
    force when the lesson was started are copied here, and each segment records them."""

    __tablename__ = "study_clocks"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"))
    progress_id: Mapped[int] = mapped_column(ForeignKey("lesson_progress.id"))
    #: the page's study token; a new start replaces it
    token: Mapped[str] = mapped_column(String(32))
    #: sequence number of the last heartbeat accepted
    seq: Mapped[int] = mapped_column(Integer, default=0)
    #: browser and address the study runs in (evidence)
    device: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: time up to which study has been accounted for
    last_beat_at: Mapped[datetime] = mapped_column(DateTime)
    #: the open segment: credited study since this time, not yet written as a study_segments
    #: row (it is written when the segment closes: a pause, a presence check, another page,
    #: the lesson credited); NULL between segments
    segment_started_at: Mapped[datetime | None] = mapped_column(DateTime)
    segment_seconds: Mapped[int] = mapped_column(Integer, default=0)
    required_seconds: Mapped[int] = mapped_column(Integer)
    video_seconds: Mapped[int | None] = mapped_column(Integer)
    #: local calendar day the daily counter is for, and the seconds credited on it
    day: Mapped[date] = mapped_column(Date)
    day_seconds: Mapped[int] = mapped_column(Integer, default=0)
    cap_seconds: Mapped[int] = mapped_column(Integer)
    #: a check question is asked after this much credited time
    check_every_seconds: Mapped[int] = mapped_column(Integer)
    since_check_seconds: Mapped[int] = mapped_column(Integer, default=0)
    #: the pending "are you still there?" question; the clock stands still while it is set
    challenge_question: Mapped[str | None] = mapped_column(String(40))
    challenge_answer: Mapped[int | None] = mapped_column(Integer)
    challenge_tries: Mapped[int] = mapped_column(Integer, default=0)
    rule_version: Mapped[str] = mapped_column(String(20))
    max_gap_seconds: Mapped[int] = mapped_column(Integer)


class StudySegment(db.Model):
    """Continuous credited study: the evidence behind a lesson credit."""

    __tablename__ = "study_segments"
    __table_args__ = (Index("ix_study_segments_person_started", "person_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime] = mapped_column(DateTime)
    seconds: Mapped[int] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(200), default="")
    #: the crediting rules (learning.service.RULE_VERSION) the seconds were counted under
    rule_version: Mapped[str] = mapped_column(String(20))
    token: Mapped[str] = mapped_column(String(32))


class SelfCheckAttempt(db.Model):
    __tablename__ = "self_check_attempts"
    __table_args__ = (Index("ix_self_check_attempts_person_lesson", "person_id", "lesson_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    correct: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    #: question id -> the chosen answer
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
