"""Reading course folders (courses/README.md): everything is checked before anything is written.

`read_courses(root)` returns the parsed courses and every problem found, each with the file
and line it is on. The service writes only when there is no problem at all.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from flask_babel import gettext as _

from lms.catalog.markdown import check_markdown
from lms.catalog.models import QuestionKind, Track

CODE_RE = re.compile(r"^[A-Z]{2,4}-\d{3}$")
SLUG_RE = re.compile(r"^[0-9a-z][0-9a-z-]{0,78}$")
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
#: the 课时 the content format counts in (the ledger's conversion is a setting of its own)
FORMAT_MINUTES_PER_HOUR = 45
LESSON_MINUTES = (1, 90)
IMAGE_TYPES = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg",
               ".jpeg": "image/jpeg", ".webp": "image/webp"}
IMAGE_MAGIC = {".png": (b"\x89PNG\r\n\x1a\n",), ".jpg": (b"\xff\xd8\xff",),
               ".jpeg": (b"\xff\xd8\xff",), ".webp": (b"RIFF",)}
VIDEO_TYPES = {".mp4", ".webm"}
MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_VIDEO_BYTES = 500 * 1024 * 1024
#: SVG is a document that can carry script: only plain drawings are accepted
SVG_FORBIDDEN = re.compile(r"<script|<foreignObject|\son[a-z]+\s*=|javascript:|<!ENTITY|"
                           r"(?:xlink:)?href\s*=\s*[\"'](?!#)", re.IGNORECASE)
COURSE_KEYS = {"code", "track", "title", "summary", "class_hours", "serves", "prerequisites", "sources"}
LESSON_KEYS = {"title", "minutes", "video", "video_seconds"}
QUESTION_KEYS = {"key", "lesson", "kind", "stem", "options", "answer", "explanation", "tags"}
#: an exam bank's questions (lms/catalog/exam_bank.py): no lesson, no explanation to show
EXAM_QUESTION_KEYS = {"key", "kind", "stem", "options", "answer", "tags", "levels"}
LETTERS = "ABCDEF"


@dataclass
class Problem:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


@dataclass
class LessonData:
    slug: str
    position: int
    title: str
    minutes: int
    body: str
    video: Path | None = None
    video_seconds: int | None = None


@dataclass
class QuestionData:
    key: str
    lesson: str | None
    kind: str
    stem: str
    options: list[str]
    answer: list
    explanation: str
    tags: list[str]


@dataclass
class CourseData:
    folder: Path
    code: str = ""
    track: str = ""
    title: str = ""
    summary: str = ""
    class_hours: Decimal = Decimal(0)
    serves: list[str] = field(default_factory=list)
    prerequisites: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    lessons: list[LessonData] = field(default_factory=list)
    questions: list[QuestionData] = field(default_factory=list)
    #: path inside the folder -> (content type, bytes)
    images: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    content_hash: str = ""


class _Reader:
    def __init__(self, root: Path, known_qualifications: set[str]):
        self.root = root
        self.known_qualifications = known_qualifications
        self.problems: list[Problem] = []

    def problem(self, path: Path, line: int | None, message: str) -> None:
        try:
            shown = str(path.relative_to(self.root.parent))
        except ValueError:
            shown = str(path)
        self.problems.append(Problem(shown, line, message))

    # -- TOML --------------------------------------------------------------------------------

    def load_toml(self, path: Path, text: str, line_offset: int = 0) -> dict | None:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            match = re.search(r"line (\d+)", str(err))
            line = int(match.group(1)) + line_offset if match else None
            self.problem(path, line, _("not valid TOML: %(error)s", error=str(err)))
            return None

    @staticmethod
    def key_line(text: str, key: str, offset: int = 0) -> int | None:
        for number, line in enumerate(text.splitlines(), 1):
            if re.match(rf"\s*{re.escape(key)}\s*=", line):
                return number + offset
        return None

    # -- course.toml -------------------------------------------------------------------------

    def read_course(self, folder: Path) -> CourseData | None:
        course = CourseData(folder=folder)
        meta_path = folder / "course.toml"
        text = self.read_text(meta_path)
        if text is None:
            return None
        meta = self.load_toml(meta_path, text)
        if meta is None:
            return None
        before = len(self.problems)

        def bad(key, message):
            self.problem(meta_path, self.key_line(text, key), message)

        for key in sorted(set(meta) - COURSE_KEYS):
            bad(key, _("unknown key %(key)s", key=key))
        for key in ("code", "track", "title", "class_hours"):
            if key not in meta:
                self.problem(meta_path, None, _("%(key)s is missing", key=key))
        code = meta.get("code", "")
        if "code" in meta and (not isinstance(code, str) or not CODE_RE.match(code)):
            bad("code", _("code must look like YY-101 (2-4 capital letters, a hyphen, 3 digits)"))
        track = meta.get("track", "")
        if "track" in meta and track not in {t.value for t in Track}:
            bad("track", _("track must be one of %(tracks)s", tracks=", ".join(t.value for t in Track)))
        title = meta.get("title", "")
        if "title" in meta and (not isinstance(title, str) or not 0 < len(title.strip()) <= 120):
            bad("title", _("title must be text of 1 to 120 characters"))
        summary = meta.get("summary", "")
        if not isinstance(summary, str):
            bad("summary", _("summary must be text"))
        hours = meta.get("class_hours")
        if "class_hours" in meta and (isinstance(hours, bool) or not isinstance(hours, int | float)
                                      or hours <= 0):
            bad("class_hours", _("class_hours must be a positive number"))
        lists = {}
        for key in ("serves", "prerequisites", "sources"):
            value = meta.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                bad(key, _("%(key)s must be a list of texts", key=key))
                value = []
            lists[key] = value
        for code_ in lists["serves"]:
            if code_ not in self.known_qualifications:
                bad("serves", _("unknown qualification code %(code)s", code=code_))
        if len(self.problems) > before:
            return course
        course.code, course.track, course.title = code, track, title.strip()
        course.summary = summary.strip()
        course.class_hours = Decimal(str(hours))
        course.serves, course.prerequisites, course.sources = (
            lists["serves"], lists["prerequisites"], lists["sources"])
        self._class_hours_line = self.key_line(text, "class_hours")
        return course

    def read_text(self, path: Path) -> str | None:
        if not path.is_file():
            self.problem(path, None, _("file is missing"))
            return None
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            line = path.read_bytes()[:err.start].count(b"\n") + 1
            self.problem(path, line, _("not UTF-8 text"))
            return None

    # -- lessons -----------------------------------------------------------------------------

    def read_lessons(self, course: CourseData) -> None:
        lesson_dir = course.folder / "lessons"
        files = sorted(lesson_dir.glob("*.md")) if lesson_dir.is_dir() else []
        if not files:
            self.problem(lesson_dir, None, _("a course needs at least one lesson (lessons/*.md)"))
            return
        for position, path in enumerate(files, 1):
            lesson = self.read_lesson(course, path, position)
            if lesson is not None:
                course.lessons.append(lesson)
        total = sum(lesson.minutes for lesson in course.lessons)
        if course.lessons and len(course.lessons) == len(files) and course.class_hours:
            expected = Decimal(total) / FORMAT_MINUTES_PER_HOUR
            if expected != course.class_hours:
                self.problem(course.folder / "course.toml", getattr(self, "_class_hours_line", None),
                             _("class_hours is %(declared)s but the lessons add up to %(minutes)s "
                               "minutes, which is %(hours)s class hours of 45 minutes",
                               declared=course.class_hours, minutes=total,
                               hours=expected.quantize(Decimal("0.01"))))

    def read_lesson(self, course: CourseData, path: Path, position: int) -> LessonData | None:
        slug = path.stem
        if not SLUG_RE.match(slug):
            self.problem(path, None, _("lesson file names use lower-case letters, digits and hyphens"))
            return None
        text = self.read_text(path)
        if text is None:
            return None
        lines = text.split("\n")
        if not lines or lines[0].strip() != "+++":
            self.problem(path, 1, _("a lesson starts with a +++ header holding its title and minutes"))
            return None
        try:
            end = next(i for i in range(1, len(lines)) if lines[i].strip() == "+++")
        except StopIteration:
            self.problem(path, 1, _("the +++ header is not closed"))
            return None
        header_text = "\n".join(lines[1:end])
        header = self.load_toml(path, header_text, line_offset=1)
        if header is None:
            return None
        before = len(self.problems)

        def bad(key, message):
            self.problem(path, self.key_line(header_text, key, 1), message)

        for key in sorted(set(header) - LESSON_KEYS):
            bad(key, _("unknown key %(key)s", key=key))
        title = header.get("title")
        if not isinstance(title, str) or not 0 < len(title.strip()) <= 120:
            bad("title", _("title must be text of 1 to 120 characters"))
        minutes = header.get("minutes")
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not (
                LESSON_MINUTES[0] <= minutes <= LESSON_MINUTES[1]):
            bad("minutes", _("minutes must be a whole number from %(low)s to %(high)s",
                             low=LESSON_MINUTES[0], high=LESSON_MINUTES[1]))
        header_ok = len(self.problems) == before
        video, video_seconds = header.get("video"), header.get("video_seconds")
        video_path = None
        if video is not None:
            video_path = self.safe_path(course.folder, video)
            if video_path is None or not video.startswith("media/") or \
                    video_path.suffix.lower() not in VIDEO_TYPES or not video_path.is_file():
                bad("video", _("video must name an .mp4 or .webm file in this course's media/ folder"))
                video_path = None
            elif video_path.stat().st_size > MAX_VIDEO_BYTES:
                bad("video", _("the video is larger than 500 MB"))
            if isinstance(video_seconds, bool) or not isinstance(video_seconds, int) or video_seconds <= 0:
                bad("video_seconds", _("video_seconds (the video's length) must be a positive whole number"))
        elif video_seconds is not None:
            bad("video_seconds", _("video_seconds is given without a video"))
        body = "\n".join(lines[end + 1:]).strip("\n")
        if not body.strip():
            self.problem(path, end + 2, _("the lesson has no text"))
        body_offset = end + 1 + (len("\n".join(lines[end + 1:])) - len("\n".join(lines[end + 1:]).lstrip("\n")))
        for line, message in check_markdown(body, lambda src: self.image_ok(course, src)):
            self.problem(path, line + body_offset, message)
        if not header_ok:
            return None
        # a lesson whose text has problems still counts for the course-wide checks (its slug,
        # its minutes): those problems already stop the import
        return LessonData(slug=slug, position=position, title=title.strip(), minutes=minutes,
                          body=body, video=video_path, video_seconds=video_seconds)

    @staticmethod
    def safe_path(folder: Path, relative: str) -> Path | None:
        if not isinstance(relative, str) or relative.startswith("/") or "\\" in relative:
            return None
        candidate = (folder / relative).resolve()
        return candidate if candidate.is_relative_to(folder.resolve()) else None

    def image_ok(self, course: CourseData, src: str) -> str | None:
        """None when `src` names an acceptable image of the course, else why not."""
        if not src.startswith("images/"):
            return _("images must be files in this course's images/ folder: %(src)s", src=src)
        if src not in course.images:
            return _("image %(src)s is not in the images/ folder (or was refused)", src=src)
        return None

    # -- images ------------------------------------------------------------------------------

    def read_images(self, course: CourseData) -> None:
        image_dir = course.folder / "images"
        if not image_dir.is_dir():
            return
        for path in sorted(image_dir.iterdir()):
            if not path.is_file():
                continue
            relative = f"images/{path.name}"
            suffix = path.suffix.lower()
            if suffix not in IMAGE_TYPES:
                self.problem(path, None, _("images may be .svg, .png, .jpg or .webp files"))
                continue
            data = path.read_bytes()
            if len(data) > MAX_IMAGE_BYTES:
                self.problem(path, None, _("the image is larger than 2 MB"))
                continue
            if suffix == ".svg":
                text = data.decode("utf-8", errors="replace")
                match = SVG_FORBIDDEN.search(text)
                if match or "<svg" not in text:
                    line = text[:match.start()].count("\n") + 1 if match else None
                    self.problem(path, line, _("an SVG may hold only a drawing: no script, event "
                                               "handlers, entities or links to other files"))
                    continue
            elif not data.startswith(IMAGE_MAGIC[suffix]):
                self.problem(path, None, _("the file's content does not match its extension"))
                continue
            course.images[relative] = (IMAGE_TYPES[suffix], data)

    # -- questions ---------------------------------------------------------------------------

    def read_questions(self, course: CourseData) -> None:
        path = course.folder / "questions.toml"
        text = self.read_text(path)
        if text is None:
            return
        bank = self.load_toml(path, text)
        if bank is None:
            return
        header_lines = [n for n, line in enumerate(text.splitlines(), 1)
                        if line.strip().startswith("[[questions]]")]
        if set(bank) - {"questions"}:
            self.problem(path, None, _("only [[questions]] tables belong in questions.toml"))
        items = bank.get("questions", [])
        if not isinstance(items, list) or not items:
            self.problem(path, None, _("the bank has no [[questions]]"))
            return
        slugs = {lesson.slug for lesson in course.lessons}
        seen: set[str] = set()
        for index, item in enumerate(items):
            line = header_lines[index] if index < len(header_lines) else None
            question = self.read_question(path, line, item, slugs, seen)
            if question is not None:
                course.questions.append(question)
        per_lesson = {slug: 0 for slug in slugs}
        for question in course.questions:
            if question.lesson in per_lesson:
                per_lesson[question.lesson] += 1
        for slug, count in sorted(per_lesson.items()):
            if count < 3:
                self.problem(path, None, _("lesson %(slug)s has %(count)s self-check questions; it "
                                           "needs at least 3", slug=slug, count=count))

    def read_question(self, path, line, item, slugs, seen, *, exam: bool = False) -> QuestionData | None:
        """One [[questions]] table: a lesson's self-check question, or (`exam`) an exam bank's."""
        before = len(self.problems)

        def bad(message):
            self.problem(path, line, message)

        if not isinstance(item, dict):
            bad(_("each question is a [[questions]] table"))
            return None
        for key in sorted(set(item) - (EXAM_QUESTION_KEYS if exam else QUESTION_KEYS)):
            bad(_("unknown key %(key)s", key=key))
        key = item.get("key")
        if not isinstance(key, str) or not KEY_RE.match(key):
            bad(_("key must be 1-40 letters, digits, dots, hyphens or underscores"))
        elif key in seen:
            bad(_("key %(key)s is used twice", key=key))
        else:
            seen.add(key)
        lesson = None if exam else item.get("lesson")
        if not exam and lesson is None:
            # exams never draw from a course's questions (their answers are shown after a
            # self-check): exam questions live in an exam bank
            bad(_("lesson is missing: every question of a course is a lesson's self-check "
                  "question (exam questions belong in an exam bank)"))
        elif lesson is not None and lesson not in slugs:
            bad(_("lesson %(slug)s does not exist", slug=lesson))
        kind = item.get("kind")
        if kind not in {k.value for k in QuestionKind}:
            bad(_("kind must be single, multiple or truefalse"))
        stem = item.get("stem")
        if not isinstance(stem, str) or not stem.strip():
            bad(_("stem (the question) is missing"))
        explanation = "" if exam else item.get("explanation", "")
        if not isinstance(explanation, str):
            bad(_("explanation must be text"))
        tags = item.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            bad(_("tags must be a list of texts"))
        options = item.get("options")
        answer = item.get("answer")
        parsed_answer: list = []
        if kind == QuestionKind.TRUEFALSE:
            if options is not None:
                bad(_("a true/false question has no options"))
            if not isinstance(answer, bool):
                bad(_("the answer to a true/false question is true or false"))
            else:
                parsed_answer = [answer]
            options = []
        elif kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            if (not isinstance(options, list) or not 2 <= len(options) <= 6
                    or not all(isinstance(o, str) and o.strip() for o in options)):
                bad(_("options must be a list of 2 to 6 texts"))
                options = []
            elif len({o.strip() for o in options}) != len(options):
                bad(_("two options are the same"))
            letters = answer if isinstance(answer, str) else ""
            valid = LETTERS[:len(options)]
            if (not letters or any(ch not in valid for ch in letters)
                    or len(set(letters)) != len(letters) or list(letters) != sorted(letters)):
                bad(_("answer must be letters from %(valid)s, each once, in order", valid=valid or "A-F"))
            elif kind == QuestionKind.SINGLE and len(letters) != 1:
                bad(_("a single-choice question has exactly one answer letter"))
            elif kind == QuestionKind.MULTIPLE and len(letters) < 2:
                bad(_("a multiple-choice question has two or more answer letters"))
            else:
                parsed_answer = [LETTERS.index(ch) for ch in letters]
        if len(self.problems) > before:
            return None
        return QuestionData(key=key, lesson=lesson, kind=kind, stem=stem.strip(),
                            options=[o.strip() for o in options], answer=parsed_answer,
                            explanation=explanation.strip(), tags=[t.strip() for t in tags])


def content_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_courses(root: Path, known_qualifications: set[str],
                 existing_codes: set[str] | None = None) -> tuple[list[CourseData], list[Problem]]:
    """Every course folder under `root` (or `root` itself if it is one), checked."""
    root = root.resolve()
    reader = _Reader(root, known_qualifications)
    if (root / "course.toml").is_file():
        folders = [root]
        reader.root = root.parent
    else:
        folders = sorted(p.parent for p in root.glob("*/course.toml"))
    if not folders:
        reader.problem(root, None, _("no course folders (with a course.toml) here"))
    courses: list[CourseData] = []
    by_code: dict[str, CourseData] = {}
    for folder in folders:
        course = reader.read_course(folder)
        if course is None or not course.code:
            continue
        if course.code in by_code:
            reader.problem(folder / "course.toml", reader.key_line(
                (folder / "course.toml").read_text(encoding="utf-8"), "code"),
                _("course code %(code)s is also used by %(other)s", code=course.code,
                  other=by_code[course.code].folder.name))
            continue
        by_code[course.code] = course
        reader.read_images(course)
        reader.read_lessons(course)
        reader.read_questions(course)
        course.content_hash = content_hash(folder)
        courses.append(course)
    known = set(by_code) | set(existing_codes or ())
    for course in courses:
        for code in course.prerequisites:
            if code == course.code or code not in known:
                reader.problem(course.folder / "course.toml", None,
                               _("prerequisite %(code)s is not a known course", code=code))
    # prerequisites must not go round in a circle
    graph = {c.code: set(c.prerequisites) for c in courses}
    for course in courses:
        stack, visited = list(graph[course.code]), set()
        while stack:
            code = stack.pop()
            if code == course.code:
                reader.problem(course.folder / "course.toml", None,
                               _("the prerequisites of %(code)s lead back to it", code=course.code))
                break
            if code not in visited:
                visited.add(code)
                stack.extend(graph.get(code, ()))
    return courses, reader.problems
