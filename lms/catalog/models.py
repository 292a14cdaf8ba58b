"""The course catalogue: tracks, courses, lessons, question banks and course files."""

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
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core.clock import utc_now
from lms.core.enums import TitledEnum, enum_check
from lms.extensions import db
from lms.ledger.models import Category


class Track(TitledEnum):
    INFANT_CARE = "infant_care"  # 育婴
    NURSERY_CARE = "nursery_care"  # 保育
    HEALTH_CARE = "health_care"  # 保健
    MANAGEMENT = "management"  # 托育管理
    ETHICS = "ethics"  # 职业道德

    @classmethod
    def titles(cls):
        return {
            cls.INFANT_CARE: _l("Infant care"),
            cls.NURSERY_CARE: _l("Nursery care"),
            cls.HEALTH_CARE: _l("Health care"),
            cls.MANAGEMENT: _l("Childcare management"),
            cls.ETHICS: _l("Professional ethics"),
        }

    @property
    def category(self) -> Category:
        """The ledger category a track's hours count towards."""
        return Category.ETHICS if self is Track.ETHICS else Category.SKILLS

    @property
    def icon(self) -> str:
        return {"infant_care": "balloon-heart", "nursery_care": "house-heart",
                "health_care": "heart-pulse", "management": "building-check",
                "ethics": "shield-check"}[self.value]


class QuestionKind(TitledEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    TRUEFALSE = "truefalse"

    @classmethod
    def titles(cls):
        return {cls.SINGLE: _l("Single choice"), cls.MULTIPLE: _l("Multiple choice"),
                cls.TRUEFALSE: _l("True or false")}


class Course(db.Model):
    __tablename__ = "courses"
    __table_args__ = (enum_check("track", Track),
                      CheckConstraint("class_hours > 0", name="hours_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    #: stable code from course.toml, e.g. YY-101
    code: Mapped[str] = mapped_column(String(12), unique=True)
    track: Mapped[str] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(Text, default="")
    #: declared class hours (the lessons' minutes / 45)
    class_hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    #: qualification type codes the course prepares for
    serves: Mapped[list] = mapped_column(JSON, default=list)
    #: codes of courses to complete first
    prerequisites: Mapped[list] = mapped_column(JSON, default=list)
    #: public guidance the content follows
    sources: Mapped[list] = mapped_column(JSON, default=list)
    #: false once the course's folder is gone from an import: kept for history, not offered
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: hash of the imported files: an unchanged course is not rewritten
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)

    lessons: Mapped[list[Lesson]] = relationship(
        back_populates="course", order_by="Lesson.position",
        primaryjoin="and_(Course.id == Lesson.course_id, Lesson.is_active)", viewonly=True)

    @property
    def track_enum(self) -> Track:
        return Track(self.track)

    @property
    def category(self) -> Category:
        return self.track_enum.category


class Lesson(db.Model):
    __tablename__ = "lessons"
    __table_args__ = (
        UniqueConstraint("course_id", "slug", name="uq_lessons_course_slug"),
        CheckConstraint("minutes BETWEEN 1 AND 240", name="minutes_range"),
        CheckConstraint("(video_path IS NULL) = (video_seconds IS NULL)", name="video_has_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    #: file name without .md: the lesson's identity across imports
    slug: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(120))
    #: the most study time the lesson credits
    minutes: Mapped[int] = mapped_column(Integer)
    #: Markdown source; rendered safely (no raw HTML) when shown
    body: Mapped[str] = mapped_column(Text)
    #: path of the video inside the media store, if the lesson has one
    video_path: Mapped[str | None] = mapped_column(String(200))
    video_seconds: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    course: Mapped[Course] = relationship(back_populates="lessons")


class Question(db.Model):
    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("course_id", "key", name="uq_questions_course_key"),
                      enum_check("kind", QuestionKind))

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    #: the lesson whose self-check uses it (every imported question has one; exams never draw
    #: from these: their answers are shown after a self-check, see ExamQuestion)
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    stem: Mapped[str] = mapped_column(Text)
    #: option texts, in the file's order (A, B, ...); empty for true/false
    options: Mapped[list] = mapped_column(JSON, default=list)
    #: indexes of the correct options, or [true]/[false] for true/false
    answer: Mapped[list] = mapped_column(JSON)
    explanation: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def kind_title(self) -> str:
        return QuestionKind(self.kind).title


class ExamQuestion(db.Model):
    """A question reserved for exams, loaded from an exam bank file (exam-banks/README.md).

    Kept apart from the lessons' self-check questions, whose answers a caregiver sees with
    unlimited retries: a paper draws only from here, and no caregiver page shows these answers.
    """

    __tablename__ = "exam_questions"
    __table_args__ = (UniqueConstraint("qualification_type_id", "key", name="uq_exam_questions_key"),
                      enum_check("kind", QuestionKind))

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the certificate whose papers draw the question
    qualification_type_id: Mapped[int] = mapped_column(ForeignKey("qualification_types.id"), index=True)
    #: stable within its certificate's bank; an import updates the question with the same key
    key: Mapped[str] = mapped_column(String(40))
    #: the levels (5..1) whose papers may draw it; empty: every level
    levels: Mapped[list] = mapped_column(JSON, default=list)
    kind: Mapped[str] = mapped_column(String(10))
    stem: Mapped[str] = mapped_column(Text)
    #: option texts, in the file's order (A, B, ...); empty for true/false
    options: Mapped[list] = mapped_column(JSON, default=list)
    #: indexes of the correct options, or [true]/[false] for true/false; never sent to a page
    answer: Mapped[list] = mapped_column(JSON)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    #: the bank file it was last imported from
    source: Mapped[str] = mapped_column(String(200), default="")
    #: false once a re-import no longer has it: kept for the papers that drew it
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)

    @property
    def kind_title(self) -> str:
        return QuestionKind(self.kind).title

    def serves_level(self, level: int | None) -> bool:
        return not self.levels or level is None or level in self.levels


class CourseAsset(db.Model):
    """An image a lesson shows, kept in the database so app servers hold no files."""

    __tablename__ = "course_assets"
    __table_args__ = (UniqueConstraint("course_id", "path", name="uq_course_assets_path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    #: path inside the course folder, e.g. images/feeding.svg
    path: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
