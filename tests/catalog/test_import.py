"""Course folders: the shipped content, problems reported by file and line, safe rendering,
and re-imports that never touch credited hours."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lms.catalog import service
from lms.catalog.markdown import render_markdown
from lms.catalog.models import Course, Lesson, Question, Track
from lms.core.actors import CLI, system_actor
from lms.core.errors import PermissionDenied
from lms.extensions import db
from lms.ledger import service as ledger
from lms.ledger.models import LedgerEntry, LedgerTotal
from tests.conftest import FIXTURE_COURSES

TEST = system_actor("test")

COURSES = Path(__file__).resolve().parents[2] / "courses"


def test_the_shipped_courses_import_and_cover_every_track():
    report = service.import_courses(TEST, COURSES)
    db.session.commit()
    courses = service.active_courses()
    assert sorted(report.created) == sorted(c.code for c in courses)
    assert {c.track for c in courses} == {t.value for t in Track}
    for course in courses:
        lessons = course.lessons
        questions = db.session.scalar(select(func.count()).select_from(Question).where(
            Question.course_id == course.id))
        assert len(lessons) >= 5, course.code
        assert questions >= 30, course.code
        assert course.class_hours == Decimal(sum(lesson.minutes for lesson in lessons)) / 45
        for lesson in lessons:
            html = str(render_markdown(lesson.body, lambda p: f"/files/{p}"))
            assert "<script" not in html and "<h2>" in html, (course.code, lesson.slug)
            assert len(service.lesson_questions(lesson)) >= 3
    # a second import finds nothing changed
    again = service.import_courses(TEST, COURSES)
    assert again.created == [] and again.updated == [] and len(again.unchanged) == len(courses)


def _broken_copy(tmp_path) -> Path:
    target = tmp_path / "courses" / "tt-101-test"
    shutil.copytree(FIXTURE_COURSES / "tt-101-test", target)
    return target


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_every_problem_is_reported_by_file_and_line_and_nothing_is_written(tmp_path):
    folder = _broken_copy(tmp_path)
    _replace(folder / "lessons" / "01-short.md", "更多资料见", "<script>alert(1)</script> 更多资料见")
    _replace(folder / "lessons" / "03-long.md", "入托适应需要家园配合。",
             "入托适应需要家园配合。\n\n[点我](javascript:alert(1))\n\n![外链](http://evil.example/x.png)")
    _replace(folder / "questions.toml", 'answer = "AC"', 'answer = "AE"')
    _replace(folder / "course.toml", "class_hours = 1", "class_hours = 2")
    (folder / "images" / "bad.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg">\n<g onload="alert(1)"/></svg>', encoding="utf-8")
    problems = {str(p) for p in service.check_courses(folder.parent)[1]}
    script_line = (folder / "lessons" / "01-short.md").read_text().split("\n").index(
        "<script>alert(1)</script> 更多资料见 [国家卫生健康委](https://www.nhc.gov.cn/)。") + 1
    questions = (folder / "questions.toml").read_text().split("\n")
    block = max(i for i, line in enumerate(questions[:questions.index('answer = "AE"')])
                if line == "[[questions]]") + 1
    expected = [
        f"courses/tt-101-test/lessons/01-short.md:{script_line}: raw HTML is not allowed",
        "courses/tt-101-test/lessons/03-long.md:8: links may only be http(s) or mailto",
        "courses/tt-101-test/lessons/03-long.md:10: images must be files in this course's images/",
        f"courses/tt-101-test/questions.toml:{block}: answer must be letters from ABCD",
        "courses/tt-101-test/course.toml:6: class_hours is 2 but the lessons add up to 45 minutes",
        "courses/tt-101-test/images/bad.svg:2: an SVG may hold only a drawing",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, sorted(problems))
    with pytest.raises(service.CourseImportError):
        service.import_courses(TEST, folder.parent)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Course)) == 0


def test_a_toml_syntax_error_names_its_line(tmp_path):
    folder = _broken_copy(tmp_path)
    _replace(folder / "questions.toml", 'kind = "truefalse"', 'kind = truefalse"')
    line = (folder / "questions.toml").read_text().split("\n").index('kind = truefalse"') + 1
    problems = [str(p) for p in service.check_courses(folder.parent)[1]]
    assert any(p.startswith(f"courses/tt-101-test/questions.toml:{line}: not valid TOML") for p in problems), problems


def test_reimport_updates_content_but_never_credited_hours(tmp_path, world):
    folder = _broken_copy(tmp_path)
    service.import_courses(TEST, folder.parent)
    lesson = db.session.scalar(select(Lesson).where(Lesson.slug == "01-short"))
    entry, _ = ledger.credit(TEST, world.staff, year=2026, category="skills",
                             hours=ledger.minutes_to_hours(1), source_type="lesson",
                             source_ref=str(lesson.id))
    db.session.commit()
    before = db.session.get(LedgerTotal, (world.staff.id, 2026, "skills")).hours
    # the lesson is rewritten and made longer; a question is dropped from the bank
    _replace(folder / "lessons" / "01-short.md", "minutes = 1", "minutes = 2")
    _replace(folder / "lessons" / "03-long.md", "minutes = 30", "minutes = 29")
    _replace(folder / "lessons" / "01-short.md", "掌握", "熟练掌握")
    _replace(folder / "questions.toml", 'key = "TT-009"', 'key = "TT-009-new"')  # the old key is gone
    report = service.import_courses(TEST, folder.parent)
    db.session.commit()
    assert report.updated == ["TT-101"]
    db.session.refresh(lesson)
    assert lesson.minutes == 2 and "熟练掌握" in lesson.body
    assert db.session.scalar(select(func.count()).select_from(Question).where(
        Question.is_active.is_(False))) == 1
    assert db.session.get(LedgerTotal, (world.staff.id, 2026, "skills")).hours == before
    assert db.session.get(LedgerEntry, entry.id).hours == entry.hours


def test_markdown_never_lets_html_or_script_through():
    body = ("<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
            "[x](javascript:alert(1)) [y](https://example.org) ![z](images/a.svg) ![w](http://e/x.png)")
    html = str(render_markdown(body, lambda p: f"/files/{p}" if p == "images/a.svg" else None))
    assert "<script" not in html and "<img src=x" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="https://example.org" rel="noopener noreferrer nofollow"' in html
    assert 'src="/files/images/a.svg"' in html and "http://e/x.png" not in html


def test_lesson_images_are_served_as_inert_files(client, world, login_as, course):
    login_as(world.staff.mobile)
    response = client.get(f"/courses/{course.id}/files/images/steps.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert client.get(f"/courses/{course.id}/files/images/none.svg").status_code == 404
    assert client.get(f"/courses/{course.id}/files/../course.toml").status_code == 404


def test_the_import_command_reports_problems_and_exits_non_zero(app, tmp_path):
    from lms.catalog.cli import import_command

    folder = _broken_copy(tmp_path)
    runner = app.test_cli_runner()
    ok = runner.invoke(import_command, [str(folder.parent), "--check"])
    assert ok.exit_code == 0 and "1 course(s) read, 0 problem(s)" in ok.output
    _replace(folder / "lessons" / "03-long.md", "minutes = 30", "minutes = 300")
    bad = runner.invoke(import_command, [str(folder.parent)])
    assert bad.exit_code == 1
    assert "courses/tt-101-test/lessons/03-long.md:3: minutes must be a whole number from 1 to 90" in bad.output
    assert "nothing was imported" in bad.output
    assert db.session.scalar(select(func.count()).select_from(Course)) == 0
    _replace(folder / "lessons" / "03-long.md", "minutes = 300", "minutes = 30")
    done = runner.invoke(import_command, [str(folder.parent)])
    assert done.exit_code == 0 and "created: TT-101" in done.output


def test_only_operators_and_administrators_import_courses(world):
    """The importer authorises its actor: the CLI passes its system actor, a bare name or a
    user without the right is refused before anything is read."""
    for actor in ("cli", world.users["base_staff"], world.users["inst_admin"], None):
        with pytest.raises(PermissionDenied):
            service.import_courses(actor, COURSES)
    assert db.session.scalar(select(func.count()).select_from(Course)) == 0
    assert service.import_courses(world.users["admin"], FIXTURE_COURSES).created == ["TT-101"]
    assert service.import_courses(CLI, FIXTURE_COURSES).unchanged == ["TT-101"]
