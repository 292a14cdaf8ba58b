"""The exam bank: its own files, checked whole before anything is written, every problem told by
file and line; the courses keep their self-checks and no course question is an exam question."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lms.catalog.exam_bank import ExamBankImportError, import_exam_banks
from lms.catalog.models import ExamQuestion
from lms.catalog.service import CourseImportError, import_courses
from lms.core.actors import DEMO
from lms.extensions import db
from tests.conftest import FIXTURE_COURSES, FIXTURE_EXAM_BANK

ROOT = Path(__file__).resolve().parents[2]

GOOD = '''qualification = "yuyingyuan"
levels = [5, 4]

[[questions]]
key = "Q-1"
kind = "single"
stem = "第一题"
options = ["甲", "乙"]
answer = "A"

[[questions]]
key = "Q-2"
kind = "truefalse"
stem = "第二题"
answer = false
levels = [4]
'''

BAD = '''qualification = "yuyingyuan"

[[questions]]
key = "B-1"
kind = "single"
stem = "没有问题的一题"
options = ["甲", "乙"]
answer = "B"

[[questions]]
key = "B-2"
lesson = "01-feeding"
kind = "essay"
stem = "第五行开始的坏题"
answer = "A"

[[questions]]
key = "B-1"
kind = "multiple"
stem = "重复的键"
options = ["甲", "乙", "丙"]
answer = "A"
levels = [7]
'''


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(ExamQuestion))


def test_problems_are_told_by_file_and_line_and_nothing_is_half_imported(tmp_path):
    folder = tmp_path / "banks"
    folder.mkdir()
    (folder / "a-good.toml").write_text(GOOD, encoding="utf-8")
    (folder / "b-bad.toml").write_text(BAD, encoding="utf-8")
    (folder / "c-unknown.toml").write_text('qualification = "astronaut"\n\n[[questions]]\nkey = "X"\n'
                                           'kind = "truefalse"\nstem = "题"\nanswer = true\n', encoding="utf-8")
    with pytest.raises(ExamBankImportError) as caught:
        import_exam_banks(DEMO, folder)
    told = [str(p) for p in caught.value.problems]
    assert "banks/b-bad.toml:10: unknown key lesson" in told
    assert "banks/b-bad.toml:10: kind must be single, multiple or truefalse" in told
    assert "banks/b-bad.toml:17: key B-1 is used twice" in told
    assert "banks/b-bad.toml:17: levels must be a list of different levels from 5 to 1" in told
    assert any(t.startswith("banks/c-unknown.toml:1: qualification must be a known certificate code")
               for t in told)
    assert not any("a-good.toml" in t for t in told)
    # the good file was not written either: a bank is never half-imported
    assert _count() == 0
    (folder / "b-bad.toml").unlink()
    (folder / "c-unknown.toml").unlink()
    report = import_exam_banks(DEMO, folder)
    assert report.counts == {"yuyingyuan": (2, 0, 0)}
    rows = {q.key: q for q in db.session.scalars(select(ExamQuestion))}
    assert rows["Q-1"].levels == [5, 4] and rows["Q-2"].levels == [4] and rows["Q-2"].answer == [False]
    # a re-import with a problem leaves the bank as it was; a clean one updates and retires
    (folder / "a-good.toml").write_text(GOOD.replace("第一题", "改过的第一题").replace('answer = "A"', 'answer = "C"'),
                                        encoding="utf-8")
    with pytest.raises(ExamBankImportError, match="1 problem"):
        import_exam_banks(DEMO, folder)
    db.session.refresh(rows["Q-1"])
    assert rows["Q-1"].stem == "第一题"
    (folder / "a-good.toml").write_text(GOOD.replace("第一题", "改过的第一题").split("[[questions]]\nkey = \"Q-2\"")[0],
                                        encoding="utf-8")
    assert import_exam_banks(DEMO, folder).counts == {"yuyingyuan": (0, 1, 1)}
    assert rows["Q-1"].stem == "改过的第一题" and rows["Q-2"].is_active is False


def test_the_command_line_imports_or_reports(app, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD, encoding="utf-8")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["courses", "import-exam-bank", str(bad)])
    assert result.exit_code == 1
    assert "bad.toml:10: unknown key lesson" in result.output and "nothing was imported" in result.output
    checked = runner.invoke(args=["courses", "import-exam-bank", "--check", str(FIXTURE_EXAM_BANK)])
    assert checked.exit_code == 0 and "11 question(s) read, 0 problem(s)" in checked.output
    done = runner.invoke(args=["courses", "import-exam-bank", str(FIXTURE_EXAM_BANK)])
    assert done.exit_code == 0 and "baoyushi: 11 created" in done.output
    db.session.expire_all()
    assert _count() == 11


def test_the_shipped_sample_bank_imports_for_the_demo_sitting():
    report = import_exam_banks(DEMO, ROOT / "exam-banks")
    created, _updated, _retired = report.counts["yuyingyuan"]
    kinds = dict(db.session.execute(select(ExamQuestion.kind, func.count()).group_by(ExamQuestion.kind)).all())
    # the demo's sitting draws 12 single, 4 multiple and 4 true-or-false questions
    assert created == sum(kinds.values()) and kinds["single"] >= 12 and kinds["multiple"] >= 4 \
        and kinds["truefalse"] >= 4


def test_a_course_question_is_always_a_lessons_self_check(tmp_path):
    """Exam questions no longer hide in a course's questions.toml: the courses keep only their
    self-check questions, and one without a lesson is refused."""
    folder = tmp_path / "courses" / "tt-101-test"
    shutil.copytree(FIXTURE_COURSES / "tt-101-test", folder)
    path = folder / "questions.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('key = "TT-009"\nlesson = "03-long"\n', 'key = "TT-009"\n'), encoding="utf-8")
    line = path.read_text(encoding="utf-8").splitlines().index('key = "TT-009"')  # the table's header
    with pytest.raises(CourseImportError) as caught:
        import_courses(DEMO, folder.parent)
    assert f"courses/tt-101-test/questions.toml:{line}: lesson is missing: every question of a course " \
        "is a lesson's self-check question (exam questions belong in an exam bank)" in \
        [str(p) for p in caught.value.problems]
    # the shipped courses keep their self-checks: every question has its lesson
    for questions in (ROOT / "courses").glob("*/questions.toml"):
        body = questions.read_text(encoding="utf-8")
        assert body.count("[[questions]]") == body.count("\nlesson = "), questions
