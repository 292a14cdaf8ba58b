"""The catalogue's rules: importing course folders, and reading courses for the pages."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import selectinload

from lms.catalog.importer import CourseData, Problem, read_courses
from lms.catalog.markdown import render_markdown
from lms.catalog.models import Course, CourseAsset, Lesson, Question, Track
from lms.catalog.permissions import can_import_courses
from lms.core import audit
from lms.core.clock import utc_now
from lms.core.permissions import authorize
from lms.extensions import db
from lms.registry.models import QualificationType


class CourseImportError(Exception):
    """The folder has problems; nothing was written."""

    def __init__(self, problems: list[Problem]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def check_courses(root: Path) -> tuple[list[CourseData], list[Problem]]:
    """Read and check every course under `root` without writing anything."""
    known = set(db.session.scalars(select(QualificationType.code)))
    existing = set(db.session.scalars(select(Course.code)))
    return read_courses(Path(root), known, existing)


def import_courses(actor, root: Path, *, force: bool = False) -> ImportReport:
    """Check everything under `root`; if nothing is wrong, create or update each course.

    Updating replaces text, images and questions in place (lessons and questions keep their
    ids by slug and key) and never touches credited hours: those are ledger entries."""
    authorize(actor, can_import_courses, message=_l("Only an administrator may import courses."))
    courses, problems = check_courses(root)
    if problems:
        raise CourseImportError(problems)
    report = ImportReport()
    for data in courses:
        course = db.session.scalar(select(Course).where(Course.code == data.code))
        if course is not None and course.content_hash == data.content_hash and course.is_active \
                and not force:
            report.unchanged.append(data.code)
            continue
        if course is None:
            course = Course(code=data.code)
            db.session.add(course)
            report.created.append(data.code)
        else:
            report.updated.append(data.code)
        _write_course(course, data)
        audit.record(actor, "catalog.course_imported", course, code=data.code,
                     lessons=len(data.lessons), questions=len(data.questions))
    db.session.flush()
    return report


def _write_course(course: Course, data: CourseData) -> None:
    course.track, course.title, course.summary = data.track, data.title, data.summary
    course.class_hours = data.class_hours
    course.serves, course.prerequisites, course.sources = data.serves, data.prerequisites, data.sources
    course.content_hash, course.is_active, course.updated_at = data.content_hash, True, utc_now()
    db.session.flush()

    def fill_lesson(lesson: Lesson, item) -> None:
        lesson.position, lesson.title, lesson.minutes, lesson.body = (
            item.position, item.title, item.minutes, item.body)
        if item.video is not None:
            lesson.video_path = _store_video(course.code, item.video)
            lesson.video_seconds = item.video_seconds
        else:
            lesson.video_path = lesson.video_seconds = None

    lessons = _sync(Lesson, course, "slug", data.lessons, fill_lesson)

    def fill_question(question: Question, item) -> None:
        question.lesson_id = lessons[item.lesson].id if item.lesson else None
        question.kind, question.stem, question.options = item.kind, item.stem, item.options
        question.answer, question.explanation, question.tags = item.answer, item.explanation, item.tags

    _sync(Question, course, "key", data.questions, fill_question)

    db.session.execute(delete(CourseAsset).where(CourseAsset.course_id == course.id))
    for path, (content_type, blob) in data.images.items():
        db.session.add(CourseAsset(course_id=course.id, path=path, content_type=content_type,
                                   data=blob, sha256=hashlib.sha256(blob).hexdigest()))
    db.session.flush()


def _sync(model, course: Course, key: str, items, fill) -> dict:
    """The course's rows of `model` matched to the files' items on `key` (a lesson's slug, a
    question's key): updated in place or created; rows whose item is gone stay, inactive,
    because progress, answers and ledger descriptions refer to them."""
    rows = {getattr(row, key): row for row in db.session.scalars(
        select(model).where(model.course_id == course.id))}
    for row in rows.values():
        row.is_active = False
    for item in items:
        row = rows.get(getattr(item, key))
        if row is None:
            row = rows[getattr(item, key)] = model(course_id=course.id, **{key: getattr(item, key)})
            db.session.add(row)
        fill(row, item)
        row.is_active = True
    db.session.flush()
    return rows


def _store_video(code: str, source: Path) -> str:
    """Copy a lesson video into the media store; returns its path there."""
    relative = f"{code}/{source.name}"
    target = Path(current_app.config["MEDIA_PATH"]) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        shutil.copyfile(source, target)
    return relative


# --- reading --------------------------------------------------------------------------------------


def active_courses(*, track: str | None = None, search: str = "") -> list[Course]:
    stmt = select(Course).where(Course.is_active.is_(True)).options(selectinload(Course.lessons))
    if track in {t.value for t in Track}:
        stmt = stmt.where(Course.track == track)
    search = " ".join((search or "").split())[:60]
    if search:
        pattern = f"%{search.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(or_(Course.title.ilike(pattern), Course.summary.ilike(pattern),
                              Course.code.ilike(pattern)))
    return list(db.session.scalars(stmt.order_by(Course.track, Course.code)))


def course_by_code(code: str) -> Course | None:
    return db.session.scalar(select(Course).where(Course.code == code))


def qualification_names(codes: list[str]) -> list[QualificationType]:
    if not codes:
        return []
    return list(db.session.scalars(select(QualificationType).where(QualificationType.code.in_(codes))))


def lesson_html(lesson: Lesson, image_url) -> str:
    return render_markdown(lesson.body, image_url)


def lesson_questions(lesson: Lesson) -> list[Question]:
    return list(db.session.scalars(select(Question).where(
        Question.lesson_id == lesson.id, Question.is_active.is_(True)).order_by(Question.id)))


def asset(course: Course, path: str) -> CourseAsset | None:
    return db.session.scalar(select(CourseAsset).where(CourseAsset.course_id == course.id,
                                                       CourseAsset.path == path))


def grade(question: Question, chosen: list) -> bool:
    """Whether `chosen` (option indexes, or [True]/[False]) is exactly the right answer."""
    return sorted(chosen, key=str) == sorted(question.answer, key=str)
