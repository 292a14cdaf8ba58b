"""Exam banks: the questions exams draw from, kept apart from the lessons' self-checks.

A bank is a TOML file (exam-banks/README.md) naming the certificate it examines for and its
[[questions]]. `import_exam_banks` reads every file first and reports each problem as
`file:line: message`; only when no file has a problem is anything written, so a bank is never
half-imported. Importing again updates questions in place by key; a question gone from the
files stays, inactive, for the papers that drew it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import select

from lms.catalog.importer import Problem, QuestionData, _Reader
from lms.catalog.models import ExamQuestion
from lms.core import audit
from lms.core.clock import utc_now
from lms.extensions import db
from lms.registry.models import QualificationType

BANK_KEYS = {"qualification", "levels", "questions"}
#: a bank larger than this is not a file a person keeps
MAX_BANK_BYTES = 5 * 1024 * 1024


class ExamBankImportError(Exception):
    """The files have problems; nothing was written."""

    def __init__(self, problems: list[Problem]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass
class BankQuestion:
    data: QuestionData
    levels: list[int]
    source: str


@dataclass
class BankData:
    """Every question the files hold, by qualification code."""

    questions: dict[str, list[BankQuestion]] = field(default_factory=dict)


@dataclass
class BankReport:
    #: qualification code -> (created, updated, retired)
    counts: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join(f"{code}: {c} created, {u} updated, {r} retired"
                         for code, (c, u, r) in sorted(self.counts.items())) or "nothing"


def _levels(value) -> list[int] | None:
    if not isinstance(value, list) or not value or not all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5 for v in value) \
            or len(set(value)) != len(value):
        return None
    return sorted(value, reverse=True)


def read_banks(root: Path, qualifications: dict[str, QualificationType]) -> tuple[BankData, list[Problem]]:
    """Every bank file at `root` (a .toml file, or a folder of them), checked; nothing written."""
    root = Path(root).resolve()
    files = [root] if root.is_file() else sorted(root.glob("*.toml")) if root.is_dir() else []
    # problems name files from the folder's name on: banks/yuyingyuan.toml:12: ...
    base = root if root.is_dir() else root.parent
    reader = _Reader(base, set())
    bank = BankData()
    if not files:
        reader.problem(root, None, _("no exam bank files (*.toml) here"))
    seen: dict[str, set[str]] = {}
    for path in files:
        if path.stat().st_size > MAX_BANK_BYTES:
            reader.problem(path, None, _("the file is larger than 5 MB"))
            continue
        text = reader.read_text(path)
        if text is None:
            continue
        data = reader.load_toml(path, text)
        if data is None:
            continue
        for key in sorted(set(data) - BANK_KEYS):
            reader.problem(path, reader.key_line(text, key), _("unknown key %(key)s", key=key))
        code = data.get("qualification")
        qtype = qualifications.get(code) if isinstance(code, str) else None
        if qtype is None:
            reader.problem(path, reader.key_line(text, "qualification"),
                           _("qualification must be a known certificate code (%(codes)s)",
                             codes=", ".join(sorted(qualifications))))
        default_levels: list[int] = []
        if "levels" in data:
            default_levels = _levels(data["levels"]) or []
            if not default_levels:
                reader.problem(path, reader.key_line(text, "levels"),
                               _("levels must be a list of different levels from 5 to 1"))
        if qtype is not None and default_levels and not qtype.has_levels:
            reader.problem(path, reader.key_line(text, "levels"),
                           _("%(type)s has no levels", type=qtype.name_zh))
        items = data.get("questions", [])
        header_lines = [n for n, line in enumerate(text.splitlines(), 1)
                        if line.strip().startswith("[[questions]]")]
        if not isinstance(items, list) or not items:
            reader.problem(path, None, _("the bank has no [[questions]]"))
            continue
        keys = seen.setdefault(code if isinstance(code, str) else "", set())
        for index, item in enumerate(items):
            line = header_lines[index] if index < len(header_lines) else None
            levels = default_levels
            if isinstance(item, dict) and "levels" in item:
                levels = _levels(item["levels"]) or []
                if not levels:
                    reader.problem(path, line, _("levels must be a list of different levels from 5 to 1"))
                elif qtype is not None and qtype.has_levels and set(levels) - set(qtype.level_list):
                    reader.problem(path, line, _("%(type)s has only the levels %(levels)s",
                                                 type=qtype.name_zh, levels=qtype.levels))
                item = {k: v for k, v in item.items() if k != "levels"}
            question = reader.read_question(path, line, item, set(), keys, exam=True)
            if question is not None and qtype is not None:
                shown = str(path.relative_to(base.parent))
                bank.questions.setdefault(qtype.code, []).append(
                    BankQuestion(question, levels, shown[:200]))
    return bank, reader.problems


def check_exam_banks(root: Path) -> tuple[BankData, list[Problem]]:
    """Read and check the bank files at `root` without writing anything."""
    qualifications = {q.code: q for q in db.session.scalars(select(QualificationType))}
    return read_banks(root, qualifications)


def import_exam_banks(actor, root: Path) -> BankReport:
    """Check every file at `root`; if nothing is wrong, create or update each certificate's bank."""
    bank, problems = check_exam_banks(root)
    if problems:
        raise ExamBankImportError(problems)
    report = BankReport()
    now = utc_now()
    for code, items in sorted(bank.questions.items()):
        qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == code))
        rows = {row.key: row for row in db.session.scalars(
            select(ExamQuestion).where(ExamQuestion.qualification_type_id == qtype.id))}
        created = updated = 0
        keep = set()
        for item in items:
            q = item.data
            row = rows.get(q.key)
            if row is None:
                row = ExamQuestion(qualification_type_id=qtype.id, key=q.key)
                db.session.add(row)
                created += 1
            else:
                updated += 1
            row.levels, row.kind, row.stem, row.options = item.levels, q.kind, q.stem, q.options
            row.answer, row.tags, row.source = q.answer, q.tags, item.source
            row.is_active, row.imported_at = True, now
            keep.add(q.key)
        retired = 0
        for key, row in rows.items():
            if key not in keep and row.is_active:
                row.is_active = False
                retired += 1
        db.session.flush()
        report.counts[code] = (created, updated, retired)
        audit.record(actor, "catalog.exam_bank_imported", qtype, code=code, created=created,
                     updated=updated, retired=retired)
    return report


def exam_questions(qualification_type: QualificationType, level: int | None = None) -> list[ExamQuestion]:
    """The active exam questions a paper for this certificate (and level) may draw."""
    rows = db.session.scalars(select(ExamQuestion).where(
        ExamQuestion.qualification_type_id == qualification_type.id,
        ExamQuestion.is_active.is_(True)).order_by(ExamQuestion.id))
    return [q for q in rows if q.serves_level(level)]


def types_with_exam_questions() -> set[int]:
    """The certificates some exam bank holds active questions for."""
    return set(db.session.scalars(select(ExamQuestion.qualification_type_id)
                                  .where(ExamQuestion.is_active.is_(True)).distinct()))
