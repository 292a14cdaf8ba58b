"""Online study: enrolment, the server-side study clock, crediting lessons, self-checks.

The server decides what is credited. A lesson page sends a heartbeat every few seconds
while it is visible and the learner active; each accepted heartbeat credits the real time
since the last one (server clock), never more than the gap a live page can have, never past
the lesson's minutes or the daily cap. A heartbeat is accepted once: it must carry the page's
current token and a sequence number above the last accepted one, and the clock row is
updated with a compare-and-set on that number, so a replayed, inflated, out-of-order or
concurrent duplicate heartbeat gains nothing. A second tab or device takes the token over.
Every so often, and whenever the page reports the learner idle, the clock stops until the
learner answers a question about the lesson being studied (one of its self-check questions, or
drawn from its text), checked on the server; how long the answer took is kept as evidence.

Every study front door passes through `study_access` (the lesson is offered, the person is
enrolled and not banned): the study page, starting the clock and the self-check. The clock's
own endpoints (heartbeat, idle, answer) need the token only `start_study` hands out.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from lms.catalog.models import Course, Lesson, Question
from lms.catalog.service import grade, lesson_questions
from lms.core import audit, settings
from lms.core.actors import system_actor
from lms.core.clock import local_today, utc_now, zone
from lms.core.errors import DomainError
from lms.core.permissions import authorize
from lms.extensions import db
from lms.learning.models import (
    Enrolment,
    LessonProgress,
    PresenceCheck,
    SelfCheckAttempt,
    StudyClock,
    StudySegment,
)
from lms.learning.permissions import can_study_as
from lms.ledger import service as ledger
from lms.ledger.models import SourceType
from lms.registry.models import Person
from lms.registry.permissions import can_apply_ban_effects
from lms.registry.service import check_not_banned

#: The crediting rules below, named; recorded on every study segment. Change the version
#: whenever the rules change: hours already credited stay as they were.
RULE_VERSION = "2026.11-1"
#: a gap longer than this many heartbeat intervals is a pause (page hidden, offline): not credited
MAX_GAP_INTERVALS = 2
#: seconds a video position may run ahead of the time that passed (buffering, rounding)
VIDEO_SLACK_SECONDS = 3
#: the end of a video counts as reached this close to its length
VIDEO_END_SLACK_SECONDS = 2
SELF_CHECK_QUESTIONS = 5
CHALLENGE_TRIES = 3
#: who credits a studied lesson to the ledger: the study clock itself (the caregiver's own
#: heartbeat was authorised; a caregiver may not write the ledger directly)
STUDY_CLOCK = system_actor("online_study")

settings.define("learning.daily_online_hours_cap", _l("Daily cap on online study"), "int", 8, 1, 24,
                _l("class hours"))
settings.define("learning.idle_minutes", _l("Minutes without activity before the study page asks "
                                             "\"are you still there?\""), "int", 5, 1, 60, _l("minutes"))
settings.define("learning.check_minutes", _l("Minutes of credited study between presence checks"),
                "int", 20, 5, 240, _l("minutes"))
settings.define("learning.self_check_pass_percent", _l("Share of self-check answers needed to pass"),
                "percent", 60, 0, 100, "%")


class NotEnrolled(DomainError):
    pass


class LessonUnavailable(DomainError):
    pass


class Superseded(DomainError):
    """The page's token is no longer the person's current one (another tab or device)."""


class WrongAnswer(DomainError):
    def __init__(self, message, question: dict):
        super().__init__(message)
        #: the question now asked (a new one after too many wrong answers)
        self.question = question


def _now() -> datetime:
    return utc_now()


# --- enrolment ------------------------------------------------------------------------------------


def enrolment_for(person: Person, course: Course) -> Enrolment | None:
    return db.session.scalar(select(Enrolment).where(Enrolment.person_id == person.id,
                                                     Enrolment.course_id == course.id))


def missing_prerequisites(person: Person, course: Course) -> list[Course]:
    """Prerequisite courses the person has not completed."""
    if not course.prerequisites:
        return []
    required = list(db.session.scalars(select(Course).where(Course.code.in_(course.prerequisites))))
    done = set(db.session.scalars(select(Enrolment.course_id).where(
        Enrolment.person_id == person.id, Enrolment.completed_at.is_not(None))))
    return [c for c in required if c.id not in done]


def enrol(actor, person: Person, course: Course) -> Enrolment:
    """Enrol a person in a course (the ban gate applies); enrolling twice changes nothing."""
    authorize(actor, can_study_as, person=person, message=_l("Caregivers enrol themselves."))
    check_not_banned(person.id_number)
    if not course.is_active:
        raise DomainError(_l("This course is no longer offered."))
    existing = enrolment_for(person, course)
    if existing is not None:
        if existing.cancelled_at is not None:  # cancelled by a ban that no longer holds
            existing.cancelled_at, existing.cancel_reason = None, ""
            db.session.flush()
            audit.record(actor, "learning.enrolment_reopened", existing, course=course.code,
                         person_id=person.id)
        return existing
    missing = missing_prerequisites(person, course)
    if missing:
        raise DomainError(_l("Complete these courses first: %(courses)s",
                             courses="、".join(f"{c.code} {c.title}" for c in missing)))
    enrolment = Enrolment(person_id=person.id, course_id=course.id)
    try:
        with db.session.begin_nested():
            db.session.add(enrolment)
            db.session.flush()
    except IntegrityError:  # the same person enrolling from two pages at once
        return enrolment_for(person, course)
    audit.record(actor, "learning.enrolled", enrolment, course=course.code, person_id=person.id)
    return enrolment


def progress_for(person: Person, lessons: list[Lesson]) -> dict[int, LessonProgress]:
    """Progress per lesson, `seconds` including the study clock's open segment."""
    if not lessons:
        return {}
    rows = {row.lesson_id: row for row in db.session.scalars(select(LessonProgress).where(
        LessonProgress.person_id == person.id,
        LessonProgress.lesson_id.in_([lesson.id for lesson in lessons])))}
    clock = _clock_row(person.id)
    if clock is not None and clock.lesson_id in rows:
        rows[clock.lesson_id].pending_seconds = clock.segment_seconds
    return rows


def lesson_seconds(person: Person, lesson: Lesson) -> int:
    """All credited study time of a lesson (closed segments and the open one)."""
    row = progress_for(person, [lesson]).get(lesson.id)
    return row.seconds if row else 0


def _progress(person: Person, lesson: Lesson) -> LessonProgress:
    row = db.session.scalar(select(LessonProgress).where(
        LessonProgress.person_id == person.id, LessonProgress.lesson_id == lesson.id))
    if row is not None:
        return row
    row = LessonProgress(person_id=person.id, lesson_id=lesson.id, credited_seconds=0,
                         video_furthest=0)
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        return db.session.scalar(select(LessonProgress).where(
            LessonProgress.person_id == person.id, LessonProgress.lesson_id == lesson.id))
    return row


@dataclass
class CourseProgress:
    """The one definition of a course's progress and completion, for every page and for exam
    eligibility. A course is completed when every lesson was done (its time credited and its
    self-check passed): the enrolment's `completed_at`, set once at that moment and kept
    (a lesson added later does not take a completion away). Progress is the share of the
    lessons' study time credited, and is 100% exactly when the course is completed."""

    lessons: int
    done: int
    credited_seconds: int
    required_seconds: int
    completed_at: datetime | None = None

    @property
    def completed(self) -> bool:
        return self.completed_at is not None

    @property
    def percent(self) -> int:
        if self.completed:
            return 100
        if not self.required_seconds:
            return 0
        # all the time credited but a self-check still to pass: not complete, so not 100%
        return min(99, int(self.credited_seconds * 100 / self.required_seconds))


def course_progress(person: Person, course: Course, enrolment: Enrolment | None = None) -> CourseProgress:
    """How far the person is through the course (see CourseProgress)."""
    enrolment = enrolment or enrolment_for(person, course)
    lessons = course.lessons
    rows = progress_for(person, lessons)
    credited = sum(min(rows[lesson.id].seconds, lesson.minutes * 60)
                   if lesson.id in rows else 0 for lesson in lessons)
    return CourseProgress(len(lessons), sum(1 for lesson in lessons
                                            if lesson.id in rows and rows[lesson.id].is_done),
                          credited, sum(lesson.minutes * 60 for lesson in lessons),
                          enrolment.completed_at if enrolment is not None else None)


def my_enrolments(person: Person) -> list[Enrolment]:
    return list(db.session.scalars(select(Enrolment).where(Enrolment.person_id == person.id,
                                                           Enrolment.cancelled_at.is_(None))
                                   .order_by(Enrolment.enrolled_at.desc())))


# --- the study clock ------------------------------------------------------------------------------


def _day_start_utc(now: datetime) -> datetime:
    local = now.replace(tzinfo=UTC).astimezone(zone())
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(UTC).replace(tzinfo=None)


def seconds_studied_today(person: Person, now: datetime) -> int:
    """Credited study today (local time): closed segments plus the clock's open one."""
    since = _day_start_utc(now)
    closed = int(db.session.scalar(select(func.coalesce(func.sum(StudySegment.seconds), 0)).where(
        StudySegment.person_id == person.id, StudySegment.started_at >= since)) or 0)
    clock = _clock_row(person.id)
    open_seconds = clock.segment_seconds if clock is not None and clock.segment_started_at \
        and clock.segment_started_at >= since else 0
    return closed + open_seconds


def study_access(person: Person, lesson: Lesson) -> Enrolment:
    """The study pages' one gate: the lesson and its course are offered, the person is enrolled
    in the course and not banned. Returns the enrolment; raises a DomainError saying why not."""
    if not lesson.is_active or not lesson.course.is_active:
        raise LessonUnavailable(_l("This lesson is no longer offered."))
    enrolment = enrolment_for(person, lesson.course)
    if enrolment is None or enrolment.cancelled_at is not None:
        raise NotEnrolled(_l("Enrol in the course to study its lessons."))
    check_not_banned(person.id_number)
    return enrolment


def cancel_enrolments_for_ban(actor, person_id: int, reason: str) -> list[Enrolment]:
    """A ban cancels the person's unfinished enrolments at once (finished courses stay as
    history)."""
    authorize(actor, can_apply_ban_effects)
    reason = (reason or "").strip()[:200]
    now = utc_now()
    cancelled = list(db.session.scalars(select(Enrolment).where(
        Enrolment.person_id == person_id, Enrolment.completed_at.is_(None),
        Enrolment.cancelled_at.is_(None)).order_by(Enrolment.id)))
    for enrolment in cancelled:
        enrolment.cancelled_at, enrolment.cancel_reason = now, reason
        audit.record(actor, "learning.enrolment_cancelled", enrolment, person_id=person_id,
                     reason=reason)
    db.session.flush()
    return cancelled


def start_study(actor, person: Person, lesson: Lesson, *, device: str = "",
                heartbeat_seconds: int = 15, now: datetime | None = None) -> StudyClock:
    """Make `lesson` the one lesson the person is credited for; returns the clock (new token).

    Any other page of the same person stops counting from here on."""
    authorize(actor, can_study_as, person=person)
    now = now or _now()
    study_access(person, lesson)
    district_id = ledger.person_district_id(person)
    today = local_today(now)
    progress = _progress(person, lesson)
    minutes_per_hour = settings.get_setting("ledger.minutes_per_class_hour", district_id, today)
    cap = settings.get_setting("learning.daily_online_hours_cap", district_id, today)
    check_every = settings.get_setting("learning.check_minutes", district_id, today)
    values = dict(
        lesson_id=lesson.id, progress_id=progress.id, token=secrets.token_urlsafe(18)[:24], seq=0,
        device=(device or "")[:200], started_at=now, last_beat_at=now, segment_started_at=None,
        segment_seconds=0,
        required_seconds=lesson.minutes * 60, video_seconds=lesson.video_seconds, day=today,
        day_seconds=seconds_studied_today(person, now), cap_seconds=cap * minutes_per_hour * 60,
        check_every_seconds=check_every * 60, rule_version=RULE_VERSION,
        max_gap_seconds=heartbeat_seconds * MAX_GAP_INTERVALS + 5)
    clock = db.session.get(StudyClock, person.id, with_for_update=True, populate_existing=True)
    if clock is None:
        clock = StudyClock(person_id=person.id, since_check_seconds=0, challenge_tries=0, **values)
        try:
            with db.session.begin_nested():
                db.session.add(clock)
                db.session.flush()
            return clock
        except IntegrityError:  # two pages starting at the same moment: the later one wins
            clock = db.session.get(StudyClock, person.id, with_for_update=True, populate_existing=True)
    _close_segment(clock)  # the page that loses the clock keeps the evidence of its study
    for key, value in values.items():
        setattr(clock, key, value)
    db.session.flush()
    return clock


@dataclass
class _Progress:
    credited_seconds: int
    video_furthest: int
    credited_at: datetime | None


@dataclass
class BeatResult:
    """What the page is told after a heartbeat."""

    state: str  # running | paused | challenge | capped | complete | replayed
    lesson_seconds: int
    required_seconds: int
    credited_now: int = 0
    lesson_credited: bool = False
    #: the presence question as the page shows it: {"stem", "kind", "options"}
    challenge: dict | None = None
    video_furthest: int = 0

    def as_json(self) -> dict:
        return {"state": self.state, "lesson_seconds": self.lesson_seconds,
                "required_seconds": self.required_seconds, "credited_now": self.credited_now,
                "lesson_credited": self.lesson_credited, "challenge": self.challenge,
                "video_furthest": self.video_furthest}


# The heartbeat is the busiest request in the system: its statements are built once, run on
# the session's connection (no ORM unit of work) and served from SQLAlchemy's compiled cache.
_CLOCKS, _PROGRESS = StudyClock.__table__, LessonProgress.__table__
_READ_CLOCK = (
    select(_CLOCKS, _PROGRESS.c.credited_seconds.label("p_seconds"),
           _PROGRESS.c.video_furthest.label("p_furthest"), _PROGRESS.c.credited_at.label("p_credited_at"))
    .join_from(_CLOCKS, _PROGRESS, _PROGRESS.c.id == _CLOCKS.c.progress_id)
    .where(_CLOCKS.c.person_id == bindparam("w_person")))
_CAS_CLOCK = update(_CLOCKS).where(
    _CLOCKS.c.person_id == bindparam("w_person"), _CLOCKS.c.token == bindparam("w_token"),
    _CLOCKS.c.seq == bindparam("w_seq"))
_ADD_PROGRESS = update(_PROGRESS).where(_PROGRESS.c.id == bindparam("w_id")).values(
    credited_seconds=_PROGRESS.c.credited_seconds + bindparam("add", type_=Integer))
_SET_FURTHEST = update(_PROGRESS).where(_PROGRESS.c.id == bindparam("w_id")).values(
    video_furthest=bindparam("furthest", type_=Integer))


def _clock_row(person_id: int):
    return db.session.connection().execute(_READ_CLOCK, {"w_person": person_id}).one_or_none()


def heartbeat(actor, person_id: int, token: str, seq: int, *, active: bool = True,
              position: float | None = None, now: datetime | None = None) -> BeatResult:
    """Account for the study time since the last accepted heartbeat (see the module text)."""
    authorize(actor, can_study_as, person_id=person_id)
    now = now or _now()
    clock = _clock_row(person_id)
    if clock is None or not secrets.compare_digest(clock.token, str(token or "")):
        raise Superseded(_l("This lesson is now being studied in another window or device."))
    progress = _Progress(clock.p_seconds + clock.segment_seconds, clock.p_furthest, clock.p_credited_at)

    def result(state, credited=0, seconds=None, furthest=None, lesson_credited=None, asked=None):
        return BeatResult(state, seconds if seconds is not None else progress.credited_seconds,
                          clock.required_seconds, credited,
                          lesson_credited if lesson_credited is not None else progress.credited_at is not None,
                          asked or clock.challenge,
                          furthest if furthest is not None else progress.video_furthest)

    if not isinstance(seq, int) or seq <= clock.seq:
        return result("replayed")
    if clock.challenge is not None:
        _cas(clock, seq=seq, last_beat_at=now)
        return result("challenge")
    elapsed = (now - clock.last_beat_at).total_seconds()
    whole = int(elapsed) if elapsed > 0 else 0
    if not active or elapsed > clock.max_gap_seconds:
        # the page was hidden, the learner away or the connection down: a pause, not study
        if _cas(clock, seq=seq, last_beat_at=now, segment_started_at=None, segment_seconds=0):
            _close_segment(clock)
        return result("paused")

    today = local_today(now)
    day_seconds = clock.day_seconds if clock.day == today else 0
    remaining_lesson = max(0, clock.required_seconds - progress.credited_seconds)
    remaining_day = max(0, clock.cap_seconds - day_seconds)
    credit = min(whole, remaining_lesson, remaining_day)
    accounted_to = clock.last_beat_at + timedelta(seconds=whole)  # the fraction carries over

    furthest = progress.video_furthest
    if clock.video_seconds and position is not None:
        try:
            position = float(position)
        except (TypeError, ValueError):
            position = None
        # a position further than the time that passed allows is a skip: ignored
        if position is not None and 0 <= position <= furthest + whole + VIDEO_SLACK_SECONDS:
            furthest = max(furthest, min(int(position), clock.video_seconds))

    since_check = clock.since_check_seconds + credit
    challenge = None
    if credit and since_check >= clock.check_every_seconds:
        challenge = _presence_question(clock.lesson_id)
    seconds = progress.credited_seconds + credit
    lesson_credited = progress.credited_at is not None
    credits_lesson = not lesson_credited and seconds >= clock.required_seconds and (
        not clock.video_seconds or furthest >= clock.video_seconds - VIDEO_END_SLACK_SECONDS)
    changes = dict(seq=seq, last_beat_at=accounted_to, day=today, day_seconds=day_seconds + credit,
                   since_check_seconds=0 if challenge else since_check)
    if challenge:
        changes.update(_challenge_values(challenge, "periodic", now))
    # the open segment grows on the clock row itself (one write per heartbeat); when it closes
    # (a presence check, the lesson credited, a pause, another page) it is written out as
    # evidence and its seconds are added to the lesson's progress
    segment_start = clock.segment_started_at or clock.last_beat_at
    segment_seconds = clock.segment_seconds + credit
    closes = bool(segment_seconds) and bool(challenge or credits_lesson)
    if closes:
        changes.update(segment_started_at=None, segment_seconds=0)
    elif credit:
        changes.update(segment_started_at=segment_start, segment_seconds=segment_seconds)
    if not _cas(clock, **changes):
        return result("replayed")  # a concurrent copy of this heartbeat won
    if closes:
        _write_segment(clock, segment_start, accounted_to, segment_seconds)
    if furthest != progress.video_furthest:
        db.session.connection().execute(_SET_FURTHEST, {"w_id": clock.progress_id, "furthest": furthest})
    if credits_lesson:
        lesson_credited = _credit_lesson(clock.progress_id, now)
    if challenge:
        state = "challenge"
    elif seconds >= clock.required_seconds:
        state = "complete"
    elif credit < whole and remaining_day <= credit:
        state = "capped"
    else:
        state = "running"
    return result(state, credit, seconds, furthest, lesson_credited, challenge and challenge[0])


def _write_segment(clock, started_at: datetime, ended_at: datetime, seconds: int) -> None:
    """A closed segment: the evidence row, and its seconds added to the lesson's progress."""
    db.session.add(StudySegment(person_id=clock.person_id, lesson_id=clock.lesson_id,
                                started_at=started_at, ended_at=ended_at, seconds=seconds,
                                device=clock.device, rule_version=clock.rule_version,
                                token=clock.token))
    db.session.flush()
    db.session.connection().execute(_ADD_PROGRESS, {"w_id": clock.progress_id, "add": seconds})


def _close_segment(clock) -> None:
    """Write the clock's open segment (if it credited anything) as a study_segments row."""
    if clock.segment_started_at is not None and clock.segment_seconds:
        _write_segment(clock, clock.segment_started_at, clock.last_beat_at, clock.segment_seconds)


def _cas(clock, **values) -> bool:
    """Update the clock only if no other heartbeat got there first (same token, same seq)."""
    outcome = db.session.connection().execute(
        _CAS_CLOCK, {"w_person": clock.person_id, "w_token": clock.token, "w_seq": clock.seq, **values})
    return outcome.rowcount == 1


def _presence_question(lesson_id: int) -> tuple[dict, list, int | None]:
    """A question about the lesson being studied: (as shown, the right option indexes, the
    self-check question's id). One of the lesson's self-check questions when it has any,
    otherwise which of some headings belongs to this lesson's text."""
    rng = random.SystemRandom()
    lesson = db.session.get(Lesson, lesson_id)
    questions = lesson_questions(lesson)
    if questions:
        question = rng.choice(questions)
        if question.kind == "truefalse":  # options shown as true / false, in that order
            return ({"stem": question.stem, "kind": "truefalse", "options": []},
                    [0 if question.answer == [True] else 1], question.id)
        return ({"stem": question.stem, "kind": question.kind, "options": list(question.options)},
                sorted(int(i) for i in question.answer), question.id)
    return _question_from_text(lesson, rng)


def _headings(body: str) -> list[str]:
    return [line.lstrip("#").strip() for line in (body or "").splitlines()
            if line.startswith("#") and line.lstrip("#").strip()]


def _question_from_text(lesson: Lesson, rng) -> tuple[dict, list, None]:
    """Which of these is a section of the lesson you are studying? (a lesson without a
    self-check): one of its headings among headings (or titles) of other lessons."""
    mine = _headings(lesson.body) or [lesson.title]
    right = rng.choice(mine)
    others = db.session.scalars(select(Lesson).where(
        Lesson.id != lesson.id, Lesson.is_active.is_(True)).limit(200)).all()
    pool = sorted({h for other in others for h in (_headings(other.body) or [other.title])} - set(mine))
    options = rng.sample(pool, min(3, len(pool))) + [right]
    rng.shuffle(options)
    return ({"stem": str(_l("Which of these is a section of the lesson you are studying?")),
             "kind": "single", "options": options}, [options.index(right)], None)


def _challenge_values(challenge: tuple[dict, list, int | None], reason: str, now: datetime) -> dict:
    shown, key, question_id = challenge
    return dict(challenge=shown, challenge_key=key, challenge_question_id=question_id,
                challenge_asked_at=now, challenge_reason=reason, challenge_tries=0)


def _credit_lesson(progress_id: int, now: datetime) -> bool:
    """Write the lesson's hours to the ledger, once (the ledger's unique source decides)."""
    progress = db.session.get(LessonProgress, progress_id)
    db.session.refresh(progress)
    if progress.credited_at is not None:
        return True
    lesson = progress.lesson
    person = db.session.get(Person, progress.person_id)
    district_id = ledger.person_district_id(person)
    hours = ledger.minutes_to_hours(lesson.minutes, district_id, local_today(now))
    entry, _created = ledger.credit(
        STUDY_CLOCK, person, year=local_today(now).year, category=lesson.course.category.value,
        hours=hours, source_type=SourceType.LESSON.value, source_ref=str(lesson.id),
        description=f"{lesson.course.code} {lesson.title}"[:200], at=now)
    progress.credited_at = now
    progress.ledger_entry_id = entry.id
    db.session.flush()
    _maybe_complete_course(person, lesson.course, now)
    return True


def report_idle(actor, person_id: int, token: str, now: datetime | None = None) -> dict:
    """The page saw no activity for a while: stop the clock until a question is answered."""
    authorize(actor, can_study_as, person_id=person_id)
    now = now or _now()
    clock = db.session.get(StudyClock, person_id, with_for_update=True, populate_existing=True)
    if clock is None or not secrets.compare_digest(clock.token, str(token or "")):
        raise Superseded(_l("This lesson is now being studied in another window or device."))
    if clock.challenge is not None:
        return clock.challenge
    _close_segment(clock)
    for key, value in _challenge_values(_presence_question(clock.lesson_id), "idle", now).items():
        setattr(clock, key, value)
    clock.segment_started_at, clock.segment_seconds, clock.last_beat_at = None, 0, now
    db.session.flush()
    return clock.challenge


def _chosen(answer, challenge: dict) -> list[int] | None:
    """The option indexes the page sent, or None when it is not a possible answer."""
    raw = answer if isinstance(answer, list) else [answer]
    count = 2 if challenge.get("kind") == "truefalse" else len(challenge.get("options") or [])
    try:
        chosen = sorted({int(str(item).strip()) for item in raw})
    except (TypeError, ValueError):
        return None
    if not chosen or any(not 0 <= i < count for i in chosen):
        return None
    return chosen


def answer_challenge(actor, person_id: int, token: str, answer, now: datetime | None = None) -> dict | None:
    """Check the answer (option indexes) on the server; on success the clock runs again from
    now and the time the answer took is kept. After too many wrong answers a new question is
    asked. Returns None when answered (or nothing was asked)."""
    authorize(actor, can_study_as, person_id=person_id)
    now = now or _now()
    clock = db.session.get(StudyClock, person_id, with_for_update=True, populate_existing=True)
    if clock is None or not secrets.compare_digest(clock.token, str(token or "")):
        raise Superseded(_l("This lesson is now being studied in another window or device."))
    if clock.challenge is None:
        return None
    if _chosen(answer, clock.challenge) == sorted(clock.challenge_key or []):
        _close_check(clock, now, "answered")
        clock.challenge = clock.challenge_key = clock.challenge_question_id = None
        clock.challenge_asked_at = clock.challenge_reason = None
        clock.challenge_tries = 0
        clock.since_check_seconds = 0
        _close_segment(clock)
        clock.last_beat_at = now
        clock.segment_started_at, clock.segment_seconds = None, 0
        db.session.flush()
        return None
    clock.challenge_tries += 1
    if clock.challenge_tries >= CHALLENGE_TRIES:
        _close_check(clock, now, "replaced")
        for key, value in _challenge_values(_presence_question(clock.lesson_id),
                                            clock.challenge_reason or "idle", now).items():
            setattr(clock, key, value)
    db.session.flush()
    raise WrongAnswer(_l("That is not the answer. Look at the lesson again and choose again."),
                      clock.challenge)


def _close_check(clock: StudyClock, now: datetime, outcome: str) -> None:
    """Keep the question's record: when it was asked, how long the answer took, wrong tries."""
    asked = clock.challenge_asked_at or now
    db.session.add(PresenceCheck(
        person_id=clock.person_id, lesson_id=clock.lesson_id, question_id=clock.challenge_question_id,
        reason=clock.challenge_reason or "idle", asked_at=asked, closed_at=now,
        answer_seconds=max(0, int((now - asked).total_seconds())),
        wrong_answers=clock.challenge_tries, outcome=outcome))


def presence_checks_for(person: Person, lesson: Lesson) -> list[PresenceCheck]:
    """The presence questions asked while the person studied the lesson, oldest first."""
    return list(db.session.scalars(select(PresenceCheck).where(
        PresenceCheck.person_id == person.id, PresenceCheck.lesson_id == lesson.id)
        .order_by(PresenceCheck.asked_at, PresenceCheck.id)))


def segments_for(person: Person, lesson: Lesson) -> list[StudySegment]:
    """The evidence behind a lesson's credited time: closed segments, and the open one."""
    segments = list(db.session.scalars(select(StudySegment).where(
        StudySegment.person_id == person.id, StudySegment.lesson_id == lesson.id)
        .order_by(StudySegment.started_at)))
    clock = _clock_row(person.id)
    if clock is not None and clock.lesson_id == lesson.id and clock.segment_seconds:
        segments.append(StudySegment(person_id=person.id, lesson_id=lesson.id,
                                     started_at=clock.segment_started_at, ended_at=clock.last_beat_at,
                                     seconds=clock.segment_seconds, device=clock.device,
                                     rule_version=clock.rule_version, token=clock.token))
    return segments


# --- self-check and completion --------------------------------------------------------------------


def _attempts(person: Person, lesson: Lesson) -> int:
    return db.session.scalar(select(func.count()).select_from(SelfCheckAttempt).where(
        SelfCheckAttempt.person_id == person.id, SelfCheckAttempt.lesson_id == lesson.id)) or 0


def self_check_questions(person: Person, lesson: Lesson) -> list[Question]:
    """The questions of the person's next self-check: drawn from the lesson's bank, the same
    set until it is submitted (so a reload cannot be used to pick easier questions)."""
    bank = lesson_questions(lesson)
    rng = random.Random(f"{person.id}:{lesson.id}:{_attempts(person, lesson)}")  # noqa: S311
    return rng.sample(bank, min(SELF_CHECK_QUESTIONS, len(bank)))


def submit_self_check(actor, person: Person, lesson: Lesson, answers: dict[int, list],
                      now: datetime | None = None) -> SelfCheckAttempt:
    """Grade the self-check; passing marks the lesson's check done."""
    authorize(actor, can_study_as, person=person)
    now = now or _now()
    study_access(person, lesson)
    questions = self_check_questions(person, lesson)
    if not questions:
        raise DomainError(_l("This lesson has no self-check."))
    correct = sum(1 for q in questions if grade(q, answers.get(q.id, [])))
    needed = settings.get_setting("learning.self_check_pass_percent", None, local_today(now))
    passed = correct * 100 >= needed * len(questions)
    attempt = SelfCheckAttempt(person_id=person.id, lesson_id=lesson.id, correct=correct,
                               total=len(questions), passed=passed,
                               answers={str(q.id): answers.get(q.id, []) for q in questions})
    db.session.add(attempt)
    if passed:
        progress = _progress(person, lesson)
        if progress.self_check_passed_at is None:
            progress.self_check_passed_at = now
        db.session.flush()
        _maybe_complete_course(person, lesson.course, now)
    db.session.flush()
    return attempt


def _maybe_complete_course(person: Person, course: Course, now: datetime) -> None:
    enrolment = enrolment_for(person, course)
    if enrolment is None or enrolment.completed_at is not None:
        return
    rows = progress_for(person, course.lessons)
    if course.lessons and all(lesson.id in rows and rows[lesson.id].is_done for lesson in course.lessons):
        enrolment.completed_at = now
        audit.record(STUDY_CLOCK, "learning.course_completed", enrolment, course=course.code,
                     person_id=person.id)


def has_completed(person: Person, courses: list[Course]) -> bool:
    """Whether the person completed one of these courses: what exam eligibility asks, by the
    same definition every page shows (CourseProgress.completed)."""
    if not courses:
        return False
    return db.session.scalar(select(Enrolment.id).where(
        Enrolment.person_id == person.id, Enrolment.completed_at.is_not(None),
        Enrolment.course_id.in_([c.id for c in courses])).limit(1)) is not None
