"""Exams: planning sittings, eligibility and registration, the timed theory paper, practical
scores and results.

The theory paper is drawn at random from the question banks of the courses that prepare for
the certificate, by the sitting's blueprint (how many questions of each kind), with every
question's options shuffled per candidate. The page carries stems and options, never the
answers. The server keeps the time: answers are saved as the candidate goes and refused
after the deadline, and an attempt still open at its deadline is submitted by the server
(whenever anyone next looks at it), so a dropped connection loses nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lms.auth.models import Role, User
from lms.catalog.models import Course, Question, QuestionKind
from lms.catalog.service import grade
from lms.core import audit, settings
from lms.core.clock import local_today, to_utc, utc_now
from lms.core.errors import DomainError, PermissionDenied
from lms.exams.models import (
    Attempt,
    AttemptItem,
    ExamSitting,
    Registration,
    Result,
    SittingExaminer,
)
from lms.extensions import db
from lms.learning.models import Enrolment
from lms.registry import service as registry
from lms.registry.models import Organisation, Person, Qualification, QualificationType
from lms.registry.service import check_runs_base


def _check_base_staff(actor, org: Organisation) -> None:
    check_runs_base(actor, org, _l("Only a training base plans exams."))


# --- the question pool -----------------------------------------------------------------------------


def pool(qualification_type: QualificationType) -> list[Question]:
    """Active questions of the active courses that prepare for this certificate."""
    courses = [c for c in db.session.scalars(select(Course).where(Course.is_active.is_(True)))
               if qualification_type.code in (c.serves or [])]
    if not courses:
        return []
    return list(db.session.scalars(select(Question).where(
        Question.course_id.in_([c.id for c in courses]), Question.is_active.is_(True))
        .order_by(Question.id)))


def pool_counts(qualification_type: QualificationType) -> dict[str, int]:
    counts = {k.value: 0 for k in QuestionKind}
    for question in pool(qualification_type):
        counts[question.kind] += 1
    return counts


# --- planning --------------------------------------------------------------------------------------


@dataclass
class SittingPlan:
    qualification_type: QualificationType
    level: int | None
    starts_at: datetime  # local wall-clock time
    duration_minutes: int
    venue: str
    examiners: list[User]
    blueprint: dict[str, int]


def plan_sitting(actor, org: Organisation, plan: SittingPlan, *, now: datetime | None = None
                 ) -> ExamSitting:
    """A sitting for one certificate (and level), its examiners and its paper's blueprint."""
    _check_base_staff(actor, org)
    now = now or utc_now()
    qtype = plan.qualification_type
    if qtype.has_levels and plan.level not in (qtype.level_list or [1, 2, 3, 4, 5]):
        raise DomainError(_l("Choose one of the levels %(type)s has: %(levels)s.", type=qtype.name_zh,
                             levels=qtype.levels or "5,4,3,2,1"), field="level")
    level = plan.level if qtype.has_levels else None
    starts = to_utc(plan.starts_at)
    if starts <= now:
        raise DomainError(_l("A new sitting starts in the future."), field="starts_at")
    if not 10 <= int(plan.duration_minutes) <= 240:
        raise DomainError(_l("The theory paper lasts 10 to 240 minutes."), field="duration_minutes")
    venue = (plan.venue or "").strip()
    if not venue:
        raise DomainError(_l("Give the venue."), field="venue")
    examiners = [u for u in plan.examiners if u.role == Role.BASE_STAFF and u.organisation_id == org.id]
    if not examiners or len(examiners) != len(plan.examiners):
        raise DomainError(_l("Choose one or more examiners from this base's staff."), field="examiners")
    blueprint = {k: int(v) for k, v in plan.blueprint.items() if int(v or 0) > 0}
    if not blueprint or any(k not in {q.value for q in QuestionKind} for k in blueprint):
        raise DomainError(_l("The paper needs at least one question."), field="blueprint")
    available = pool_counts(qtype)
    short = [k for k, v in blueprint.items() if available[k] < v]
    if short:
        raise DomainError(_l("The question banks for %(type)s hold %(have)s; the blueprint asks for "
                             "%(want)s.", type=qtype.name_zh,
                             have="、".join(f"{QuestionKind(k).title} {available[k]}" for k in short),
                             want="、".join(f"{QuestionKind(k).title} {blueprint[k]}" for k in short)),
                          field="blueprint")
    today = local_today(now)
    sitting = ExamSitting(
        organisation_id=org.id, qualification_type_id=qtype.id, level=level, starts_at=starts,
        duration_minutes=int(plan.duration_minutes), venue=venue[:200], blueprint=blueprint,
        theory_pass=settings.get_setting("exams.theory_pass_mark", org.district_id, today),
        practical_pass=settings.get_setting("exams.practical_pass_mark", org.district_id, today),
        created_by_id=getattr(actor, "id", None))
    sitting.examiners = [SittingExaminer(user_id=u.id) for u in examiners]
    db.session.add(sitting)
    db.session.flush()
    audit.record(actor, "exams.sitting_planned", sitting, type=qtype.code, level=level)
    return sitting


def sittings_of(org: Organisation) -> list[ExamSitting]:
    return list(db.session.scalars(select(ExamSitting).where(ExamSitting.organisation_id == org.id)
                                   .order_by(ExamSitting.starts_at.desc())))


def is_examiner(user, sitting: ExamSitting) -> bool:
    return any(e.user_id == getattr(user, "id", None) for e in sitting.examiners)


# --- eligibility and registration ------------------------------------------------------------------


def eligibility(person: Person, sitting: ExamSitting, on: date | None = None) -> list[str]:
    """Why the person may not sit this exam; an empty list means eligible."""
    on = on or local_today()
    reasons = []
    if registry.is_banned(person, on):
        reasons.append(str(_l("The person is banned from working in childcare.")))
    qtype = sitting.qualification_type
    courses = [c for c in db.session.scalars(select(Course).where(Course.is_active.is_(True)))
               if qtype.code in (c.serves or [])]
    if courses:
        done = db.session.scalar(select(Enrolment.id).where(
            Enrolment.person_id == person.id, Enrolment.completed_at.is_not(None),
            Enrolment.course_id.in_([c.id for c in courses])).limit(1))
        if done is None:
            reasons.append(str(_l("Complete one of these courses first: %(courses)s",
                                  courses="、".join(f"{c.code} {c.title}" for c in courses))))
    if qtype.required_hours:
        from lms.ledger.service import totals_for

        this_year = on.year
        had = sum(totals_for([person.id], y)[person.id].get("skills", 0) for y in (this_year - 1, this_year))
        if had < qtype.required_hours:
            reasons.append(str(_l("%(type)s needs %(need)s skills-training class hours (this year and "
                                  "last); the ledger has %(have)s.", type=qtype.name_zh,
                                  need=qtype.required_hours, have=had)))
    if sitting.level is not None and sitting.level < 5:
        below = sitting.level + 1
        held = db.session.scalar(select(Qualification.id).where(
            Qualification.person_id == person.id, Qualification.qualification_type_id == qtype.id,
            Qualification.revoked_at.is_(None), Qualification.level.is_not(None),
            Qualification.level <= below,
            (Qualification.expires_on.is_(None)) | (Qualification.expires_on >= on)).limit(1))
        if held is None:
            reasons.append(str(_l("Level %(level)s needs a valid %(type)s certificate of level %(below)s "
                                  "or higher first.", level=sitting.level, type=qtype.name_zh,
                                  below=below)))
    return reasons


def register(actor, sitting: ExamSitting, person: Person, *, now: datetime | None = None) -> Registration:
    """Register a candidate; refused, with every reason, when they are not eligible."""
    _check_base_staff(actor, sitting.organisation)
    now = now or utc_now()
    if now >= sitting.starts_at:
        raise DomainError(_l("Registration closes when the sitting starts."))
    reasons = eligibility(person, sitting, local_today(now))
    if reasons:
        raise DomainError(_l("%(name)s cannot sit this exam: %(reasons)s", name=person.name,
                             reasons="；".join(reasons)), field="id_number")
    existing = registration_of(person, sitting)
    if existing is not None:
        return existing
    registration = Registration(sitting_id=sitting.id, person_id=person.id,
                                registered_by_id=getattr(actor, "id", None), result=Result.PENDING.value)
    try:
        with db.session.begin_nested():
            db.session.add(registration)
            db.session.flush()
    except IntegrityError:
        return registration_of(person, sitting)
    audit.record(actor, "exams.registered", registration, sitting_id=sitting.id, person_id=person.id)
    return registration


def registration_of(person: Person, sitting: ExamSitting) -> Registration | None:
    return db.session.scalar(select(Registration).where(Registration.sitting_id == sitting.id,
                                                        Registration.person_id == person.id))


def registrations(sitting: ExamSitting) -> list[Registration]:
    return list(db.session.scalars(select(Registration).where(Registration.sitting_id == sitting.id)
                                   .order_by(Registration.id)))


def my_registrations(person: Person) -> list[Registration]:
    return list(db.session.scalars(select(Registration).where(Registration.person_id == person.id)
                                   .order_by(Registration.id.desc())))


# --- the theory paper ------------------------------------------------------------------------------


def ends_at(sitting: ExamSitting) -> datetime:
    return sitting.starts_at + timedelta(minutes=sitting.duration_minutes)


def paper_open(registration: Registration, now: datetime | None = None) -> bool:
    """Whether the candidate can take (or go back to) the theory paper now."""
    now = now or utc_now()
    sitting = registration.sitting
    return sitting.starts_at <= now < ends_at(sitting) and registration.theory_score is None


def start_attempt(person: Person, sitting: ExamSitting, *, now: datetime | None = None) -> Attempt:
    """Open the candidate's paper (or return it, to resume after a dropped connection)."""
    now = now or utc_now()
    registration = registration_of(person, sitting)
    if registration is None:
        raise DomainError(_l("You are not registered for this exam."))
    attempt = db.session.scalar(select(Attempt).where(Attempt.registration_id == registration.id))
    if attempt is not None:
        expire(attempt, now)
        return attempt
    if now < sitting.starts_at:
        raise DomainError(_l("The paper opens at the start of the sitting."))
    if now >= ends_at(sitting):
        raise DomainError(_l("The time for this paper is over."))
    rng = random.SystemRandom()
    bank = pool(sitting.qualification_type)
    drawn: list[Question] = []
    for kind, count in sitting.blueprint.items():
        of_kind = [q for q in bank if q.kind == kind]
        if len(of_kind) < int(count):
            raise DomainError(_l("The question banks no longer hold enough questions for this paper; "
                                 "ask the training base."))
        drawn.extend(rng.sample(of_kind, int(count)))
    rng.shuffle(drawn)
    attempt = Attempt(registration_id=registration.id, started_at=now, deadline_at=ends_at(sitting))
    for position, question in enumerate(drawn, 1):
        order = list(range(len(question.options)))
        rng.shuffle(order)
        attempt.items.append(AttemptItem(position=position, question_id=question.id, option_order=order))
    try:
        with db.session.begin_nested():
            db.session.add(attempt)
            db.session.flush()
    except IntegrityError:  # the same candidate opening the paper twice at once
        return db.session.scalar(select(Attempt).where(Attempt.registration_id == registration.id))
    return attempt


def save_answer(person: Person, item: AttemptItem, shown: list, *, now: datetime | None = None) -> None:
    """Keep an answer as the candidate gives it: `shown` are the positions of the chosen options
    as displayed (or [true]/[false]). Refused after the deadline."""
    now = now or utc_now()
    attempt = db.session.get(Attempt, item.attempt_id)
    if attempt.registration.person_id != person.id:
        raise PermissionDenied(_l("This is not your paper."))
    expire(attempt, now)
    if attempt.submitted_at is not None:
        raise DomainError(_l("The paper has been submitted; answers can no longer change."))
    question = item.question
    if question.kind == QuestionKind.TRUEFALSE:
        answer = [bool(shown[0])] if shown else []
    else:
        positions = sorted({int(p) for p in shown if str(p).isdigit() and int(p) < len(item.option_order)})
        if question.kind == QuestionKind.SINGLE and len(positions) > 1:
            raise DomainError(_l("Choose one answer."))
        answer = sorted(item.option_order[p] for p in positions)
    item.answer, item.saved_at = answer, now
    db.session.flush()


def submit(attempt: Attempt, *, now: datetime | None = None, auto: bool = False) -> Attempt:
    """Grade the paper once; the theory score is the share of questions answered right."""
    now = now or utc_now()
    if attempt.submitted_at is not None:
        return attempt
    correct = sum(1 for item in attempt.items if item.answer is not None and grade(item.question, item.answer))
    attempt.correct = correct
    attempt.submitted_at = min(now, attempt.deadline_at)
    attempt.auto_submitted = auto
    registration = attempt.registration
    total = len(attempt.items)
    registration.theory_score = (Decimal(100 * correct) / Decimal(total)).quantize(
        Decimal("0.1"), ROUND_HALF_UP) if total else Decimal(0)
    _decide(registration)
    db.session.flush()
    return attempt


def expire(attempt: Attempt, now: datetime | None = None) -> None:
    """Submit an attempt whose time ran out (the server's clock decides)."""
    now = now or utc_now()
    if attempt.submitted_at is None and now >= attempt.deadline_at:
        submit(attempt, now=now, auto=True)


def expire_sitting(sitting: ExamSitting, now: datetime | None = None) -> None:
    """After the paper's end: open attempts are submitted, absent candidates score 0."""
    now = now or utc_now()
    if now < ends_at(sitting):
        return
    for registration in registrations(sitting):
        attempt = db.session.scalar(select(Attempt).where(Attempt.registration_id == registration.id))
        if attempt is not None:
            expire(attempt, now)
        elif registration.theory_score is None:
            registration.theory_score = Decimal(0)
            _decide(registration)
    db.session.flush()


def attempt_of(registration: Registration) -> Attempt | None:
    return db.session.scalar(select(Attempt).where(Attempt.registration_id == registration.id))


# --- practical scores and results ------------------------------------------------------------------


def parse_score(raw) -> Decimal:
    try:
        score = Decimal(str(raw).strip())
    except ArithmeticError:
        raise DomainError(_l("A score is a number from 0 to 100."), field="score") from None
    if not score.is_finite() or not 0 <= score <= 100 or score != score.quantize(Decimal("0.1")):
        raise DomainError(_l("A score is a number from 0 to 100, with at most one decimal place."),
                          field="score")
    return score


def enter_practical(examiner, registration: Registration, raw_score, *,
                    now: datetime | None = None) -> Registration:
    """An examiner of this sitting records the practical (技能操作) score."""
    sitting = registration.sitting
    if not is_examiner(examiner, sitting):
        raise PermissionDenied(_l("Only this sitting's examiners enter its scores."))
    if registration.certified_at is not None:
        raise DomainError(_l("A certificate was issued for this result: its scores change only "
                             "through a re-grade on the certificate's page."), field="score")
    now = now or utc_now()
    if now < sitting.starts_at:
        raise DomainError(_l("Scores are entered once the sitting has started."))
    score = parse_score(raw_score)
    registration.practical_score, registration.practical_by_id = score, examiner.id
    registration.practical_at = now
    _decide(registration)
    db.session.flush()
    audit.record(examiner, "exams.practical_scored", registration, score=str(score))
    return registration


def decide_result(registration: Registration) -> None:
    """Set the result from the scores (a re-grade in lms.certificates asks this too)."""
    _decide(registration)


def _decide(registration: Registration) -> None:
    sitting = registration.sitting
    if registration.theory_score is None or registration.practical_score is None:
        registration.result = Result.PENDING.value
    elif registration.theory_score >= sitting.theory_pass and \
            registration.practical_score >= sitting.practical_pass:
        registration.result = Result.PASSED.value
    else:
        registration.result = Result.FAILED.value


def examiner_choices(org: Organisation) -> list[User]:
    return list(db.session.scalars(select(User).where(User.organisation_id == org.id,
                                                      User.role == Role.BASE_STAFF.value,
                                                      User.is_enabled.is_(True))
                                   .order_by(User.display_name)))


def certificate_types() -> list[QualificationType]:
    """The certificates a training base can examine for: those some course prepares for."""
    served = {code for c in db.session.scalars(select(Course).where(Course.is_active.is_(True)))
              for code in (c.serves or [])}
    return [q for q in db.session.scalars(select(QualificationType).order_by(QualificationType.id))
            if q.code in served]
