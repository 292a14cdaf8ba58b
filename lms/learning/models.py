"""Online study: enrolments, lesson progress, the study clock and the segments behind credits."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
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
from lms.core.clock import utc_now
from lms.extensions import db


class Enrolment(db.Model):
    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("person_id", "course_id", name="uq_enrolments_person_course"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    enrolled_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    #: set when every lesson of the course is done
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: set when a ban cancelled the enrolment (study stops; enrolling again after the ban
    #: ends reopens it)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_reason: Mapped[str] = mapped_column(String(200), default="", server_default="")

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
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
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
    #: the pending presence question, about the lesson being studied, as the page shows it
    #: ({"stem", "kind", "options"}); the clock stands still while it is set
    challenge: Mapped[dict | None] = mapped_column(JSON)
    #: its right answer (option indexes; never sent to the page)
    challenge_key: Mapped[list | None] = mapped_column(JSON)
    #: the lesson's self-check question it was drawn from (NULL when drawn from the text)
    challenge_question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    #: when it was asked, and why ("periodic" or "idle"): the answer time is measured from here
    challenge_asked_at: Mapped[datetime | None] = mapped_column(DateTime)
    challenge_reason: Mapped[str | None] = mapped_column(String(10))
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
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    correct: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    #: question id -> the chosen answer
    answers: Mapped[dict] = mapped_column(JSON, default=dict)


class PresenceCheck(db.Model):
    """One presence question asked during online study, and how it was answered: evidence
    beside the study segments (a script answers at once and never reads the lesson)."""

    __tablename__ = "presence_checks"
    __table_args__ = (
        Index("ix_presence_checks_person_lesson", "person_id", "lesson_id"),
        CheckConstraint("reason IN ('periodic', 'idle')", name="valid_reason"),
        CheckConstraint("outcome IN ('answered', 'replaced')", name="valid_outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"))
    #: the self-check question it was drawn from; NULL when drawn from the lesson's text
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    #: "periodic" (after the setting's minutes of study) or "idle" (the page saw no activity)
    reason: Mapped[str] = mapped_column(String(10))
    asked_at: Mapped[datetime] = mapped_column(DateTime)
    #: when it was answered right, or replaced by a new question after too many wrong answers
    closed_at: Mapped[datetime] = mapped_column(DateTime)
    #: seconds from the question to its right answer (or to its replacement)
    answer_seconds: Mapped[int] = mapped_column(Integer)
    wrong_answers: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(10))

    @property
    def reason_title(self) -> str:
        return str(_l("No activity on the page") if self.reason == "idle" else _l("Regular check"))

    @property
    def outcome_title(self) -> str:
        return str(_l("Answered") if self.outcome == "answered" else _l("Replaced by a new question"))
