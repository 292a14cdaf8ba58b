"""Exams: planning sittings, eligibility and registration, the timed theory paper, practical
scores and results.

The theory paper is drawn at random from the certificate's exam bank (questions reserved for
exams, lms.catalog.exam_bank; never the lessons' self-check questions, whose answers caregivers
see), by the sitting's blueprint (how many questions of each kind), with every question's
options shuffled per candidate. The page carries stems and options, never the answers. The
server keeps the time: answers are saved as the candidate goes and refused after the deadline,
and an attempt still open at its deadline is handed in by the server's clock (whenever anyone
next looks at it), so a dropped connection loses nothing.

Registrations and attempts move only through their state machines (REGISTRATION, ATTEMPT):
every service here authorises its actor with the predicates the views declare.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lms.auth.models import Role, User
from lms.catalog.exam_bank import exam_questions, types_with_exam_questions
from lms.catalog.models import Course, ExamQuestion, QuestionKind
from lms.catalog.service import grade
from lms.core import audit, settings
from lms.core.actors import system_actor
from lms.core.clock import local_today, to_utc, utc_now
from lms.core.errors import DomainError, PermissionDenied
from lms.core.permissions import authorize
from lms.core.states import InvalidTransition, StateMachine
from lms.exams.models import (
    LEVEL_TITLES,
    Attempt,
    AttemptAction,
    AttemptItem,
    AttemptState,
    ExamSitting,
    Registration,
    RegistrationAction,
    RegistrationState,
    Result,
    SittingExaminer,
)
from lms.exams.permissions import (
    can_run_sitting,
    owns_attempt,
    owns_item,
    owns_registration,
)
from lms.extensions import db
from lms.learning import service as learning
from lms.registry import service as registry
from lms.registry import venues
from lms.registry.models import Organisation, Person, Qualification, QualificationType, VenueUse
from lms.registry.permissions import can_apply_ban_effects, can_run_base

#: what a candidate already holding the sitting's level (or a higher one) meets at registration
LOWER_LEVEL_CONFIRM, LOWER_LEVEL_REFUSE = "confirm", "refuse"
settings.define(
    "exams.lower_level_policy",
    _l("Registering someone who already holds the sitting's level or a higher one"), "choice",
    LOWER_LEVEL_CONFIRM, 0, 0,
    choices={LOWER_LEVEL_CONFIRM: _l("explain, and register only when the base confirms"),
             LOWER_LEVEL_REFUSE: _l("refuse the registration")})

#: the paper's clock turns red and is announced to screen readers from here on
TIMER_WARNING_SECONDS = 5 * 60
#: and is announced once more at the last minute
TIMER_LAST_SECONDS = 60

#: the server's clock: hands in papers whose time ran out, records the absent
CLOCK = system_actor("exams:clock")

settings.define("exams.theory_pass_mark", _l("Theory exam pass mark"), "int", 60, 0, 100)
settings.define("exams.practical_pass_mark", _l("Practical exam pass mark"), "int", 60, 0, 100)


def _check_base_staff(actor, org: Organisation) -> None:
    authorize(actor, can_run_base, org=org, message=_l("Only this training base's staff may do that."))


# --- the state machines ----------------------------------------------------------------------------

RS, RA = RegistrationState, RegistrationAction
AS, AA = AttemptState, AttemptAction

#: (state, action) -> next state. Nothing else moves a registration.
REGISTRATION_TRANSITIONS = {
    (RS.REGISTERED, RA.START): RS.STARTED,
    (RS.REGISTERED, RA.WITHDRAW): RS.WITHDRAWN,
    (RS.REGISTERED, RA.MISS): RS.ABSENT,
}

#: (state, action) -> next state. Nothing else moves an attempt. Answering keeps it open (and
#: is checked against the table, but records no event: a paper has dozens of answers).
ATTEMPT_TRANSITIONS = {
    (AS.OPEN, AA.ANSWER): AS.OPEN,
    (AS.OPEN, AA.HAND_IN): AS.HANDED_IN,
    (AS.OPEN, AA.TIME_UP): AS.TIMED_OUT,
}


def may_registration(user, registration: Registration, action) -> bool:
    """Role and scope: the candidate starts their own paper; the base withdraws; only the
    server's clock records an absence."""
    if action == RA.START:
        return owns_registration(user, registration=registration)
    if action == RA.WITHDRAW:
        return can_run_sitting(user, sitting=registration.sitting)
    return False


def registration_guard(registration: Registration, action, now: datetime | None = None):
    """Why the table's action cannot be taken now (the sitting's times decide)."""
    now = now or utc_now()
    sitting = registration.sitting
    if action == RA.START:
        if now < sitting.starts_at:
            return _l("The paper opens at the start of the sitting.")
        if now >= ends_at(sitting):
            return _l("The time for this paper is over.")
    elif action == RA.WITHDRAW and now >= sitting.starts_at:
        return _l("A registration can be withdrawn only until the sitting starts.")
    elif action == RA.MISS and now < ends_at(sitting):
        return _l("The paper is still open.")
    return None


def may_attempt(user, attempt: Attempt, action) -> bool:
    """The candidate answers and hands in their own paper; only the server's clock times it out."""
    if action in (AA.ANSWER, AA.HAND_IN):
        return owns_attempt(user, attempt=attempt)
    return False


def attempt_guard(attempt: Attempt, action, now: datetime | None = None):
    now = now or utc_now()
    if action in (AA.ANSWER, AA.HAND_IN) and now >= attempt.deadline_at:
        return _l("The time for this paper is over.")
    if action == AA.TIME_UP and now < attempt.deadline_at:
        return _l("The paper's time is not over yet.")
    return None


REGISTRATION = StateMachine(Registration, RS, RA, REGISTRATION_TRANSITIONS, may=may_registration,
                            guard=registration_guard, audit_prefix="exams.registration")
ATTEMPT = StateMachine(Attempt, AS, AA, ATTEMPT_TRANSITIONS, may=may_attempt, guard=attempt_guard,
                       audit_prefix="exams.attempt")


def allowed_actions(obj, user) -> list:
    """What pages offer: the actions this user may take on a registration or attempt now."""
    machine = REGISTRATION if isinstance(obj, Registration) else ATTEMPT
    return machine.allowed_actions(obj, user)


def why_not(registration: Registration, action=RA.START) -> str:
    """Why an action is not possible now (for a page that offers nothing), or ""."""
    reason = registration_guard(registration, action)
    if reason is None and REGISTRATION.transitions.get((REGISTRATION.state_of(registration),
                                                        RegistrationAction(action))) is None:
        return registration.state_title
    return str(reason or "")


# --- the question pool -----------------------------------------------------------------------------


def pool(qualification_type: QualificationType, level: int | None = None) -> list[ExamQuestion]:
    """The exam bank's active questions for this certificate (and level): never a self-check's."""
    return exam_questions(qualification_type, level)


def pool_counts(qualification_type: QualificationType, level: int | None = None) -> dict[str, int]:
    counts = {k.value: 0 for k in QuestionKind}
    for question in pool(qualification_type, level):
        counts[question.kind] += 1
    return counts


# --- planning --------------------------------------------------------------------------------------


@dataclass
class SittingPlan:
    qualification_type: QualificationType
    level: int | None
    starts_at: datetime  # local wall-clock time
    duration_minutes: int
    #: one of the base's venues (a Venue, its id or its name)
    venue: object
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
    venue = venues.venue_of(org, plan.venue)
    examiners = [u for u in plan.examiners if u.role == Role.BASE_STAFF and u.organisation_id == org.id]
    if not examiners or len(examiners) != len(plan.examiners):
        raise DomainError(_l("Choose one or more examiners from this base's staff."), field="examiners")
    blueprint = {k: int(v) for k, v in plan.blueprint.items() if int(v or 0) > 0}
    if not blueprint or any(k not in {q.value for q in QuestionKind} for k in blueprint):
        raise DomainError(_l("The paper needs at least one question."), field="blueprint")
    available = pool_counts(qtype, level)
    short = [k for k, v in blueprint.items() if available[k] < v]
    if short:
        raise DomainError(_l("The exam bank for %(type)s holds %(have)s; the blueprint asks for "
                             "%(want)s.", type=qtype.name_zh,
                             have="、".join(f"{QuestionKind(k).title} {available[k]}" for k in short),
                             want="、".join(f"{QuestionKind(k).title} {blueprint[k]}" for k in short)),
                          field="blueprint")
    today = local_today(now)
    sitting = ExamSitting(
        organisation_id=org.id, qualification_type_id=qtype.id, level=level, starts_at=starts,
        duration_minutes=int(plan.duration_minutes), venue_id=venue.id, blueprint=blueprint,
        theory_pass=settings.get_setting("exams.theory_pass_mark", org.district_id, today),
        practical_pass=settings.get_setting("exams.practical_pass_mark", org.district_id, today),
        created_by_id=getattr(actor, "id", None))
    sitting.examiners = [SittingExaminer(user_id=u.id) for u in examiners]
    db.session.add(sitting)
    db.session.flush()
    venues.reserve_venue(actor, venue, sitting.starts_at, ends_at(sitting), use=VenueUse.EXAM,
                         holder_id=sitting.id, title=qtype.name_zh)
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
        if not learning.has_completed(person, courses):  # learning's one definition of completion
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


class ConfirmationNeeded(DomainError):
    """The candidate already holds this level or a higher one: the base must confirm."""

    default_field = "confirm_lower_level"


def level_held(person: Person, sitting: ExamSitting, on: date | None = None) -> Qualification | None:
    """A valid certificate of the sitting's type at its level or a higher one (三级 is higher than
    五级), which passing this sitting would add nothing to; the highest such one."""
    if sitting.level is None:
        return None
    on = on or local_today()
    return db.session.scalar(select(Qualification).where(
        Qualification.person_id == person.id,
        Qualification.qualification_type_id == sitting.qualification_type_id,
        Qualification.revoked_at.is_(None), Qualification.level.is_not(None),
        Qualification.level <= sitting.level,
        (Qualification.expires_on.is_(None)) | (Qualification.expires_on >= on))
        .order_by(Qualification.level, Qualification.id).limit(1))


def register(actor, sitting: ExamSitting, person: Person, *, now: datetime | None = None,
             confirm_lower_level: bool = False) -> Registration:
    """Register a candidate; refused, with every reason, when they are not eligible. Someone who
    already holds the sitting's level or a higher one is told so, and registered only when the
    base confirms (or never, by the `exams.lower_level_policy` setting)."""
    authorize(actor, can_run_sitting, sitting=sitting,
              message=_l("Only this training base's staff may do that."))
    now = now or utc_now()
    if now >= sitting.starts_at:
        raise DomainError(_l("Registration closes when the sitting starts."))
    today = local_today(now)
    reasons = eligibility(person, sitting, today)
    if reasons:
        raise DomainError(_l("%(name)s cannot sit this exam: %(reasons)s", name=person.name,
                             reasons="；".join(reasons)), field="id_number")
    existing = registration_of(person, sitting)
    if existing is not None:
        if existing.state == RS.WITHDRAWN:
            raise DomainError(_l("%(name)s was withdrawn from this sitting.", name=person.name),
                              field="id_number")
        return existing
    held = level_held(person, sitting, today)
    if held is not None:
        explained = _l("%(name)s already holds %(type)s %(held)s (certificate %(number)s), this "
                       "sitting's level or a higher one: passing %(level)s adds no qualification and "
                       "no subsidy.", name=person.name, type=sitting.qualification_type.name_zh,
                       held=LEVEL_TITLES[held.level], number=held.certificate_no or "—",
                       level=sitting.level_title)
        policy = settings.get_setting("exams.lower_level_policy", sitting.organisation.district_id, today)
        if policy == LOWER_LEVEL_REFUSE:
            raise DomainError(_l("%(explained)s So they cannot be registered for it.",
                                 explained=explained), field="id_number")
        if not confirm_lower_level:
            raise ConfirmationNeeded(_l("%(explained)s Confirm to register them anyway.",
                                        explained=explained))
    registration = Registration(sitting_id=sitting.id, person_id=person.id,
                                registered_by_id=getattr(actor, "id", None), result=Result.PENDING.value,
                                state=RS.REGISTERED.value)
    try:
        with db.session.begin_nested():
            db.session.add(registration)
            db.session.flush()
    except IntegrityError:
        return registration_of(person, sitting)
    REGISTRATION.record_start(actor, registration)
    audit.record(actor, "exams.registered", registration, sitting_id=sitting.id, person_id=person.id,
                 **({"held_level": held.level, "confirmed": True} if held is not None else {}))
    return registration


def withdraw(actor, registration: Registration, reason: str = "") -> Registration:
    """The base takes a candidate off the sitting before it starts."""
    return REGISTRATION.apply(actor, registration, RA.WITHDRAW, reason=reason)


def withdraw_for_ban(actor, person_id: int, reason: str) -> list[Registration]:
    """A ban takes the person off every sitting they are registered for and that has not
    started (a paper already open is closed by its clock; no certificate is issued to a banned
    person)."""
    authorize(actor, can_apply_ban_effects)
    withdrawn = []
    for registration in db.session.scalars(select(Registration).where(
            Registration.person_id == person_id, Registration.state == RS.REGISTERED.value)
            .order_by(Registration.id)):
        if registration_guard(registration, RA.WITHDRAW):
            continue  # the sitting has begun: the table's clock records the absence
        REGISTRATION.apply(registry.BAN_EFFECTS, registration, RA.WITHDRAW, reason=reason)
        withdrawn.append(registration)
    return withdrawn


def registration_of(person: Person, sitting: ExamSitting) -> Registration | None:
    return db.session.scalar(select(Registration).where(Registration.sitting_id == sitting.id,
                                                        Registration.person_id == person.id))


def registrations(sitting: ExamSitting) -> list[Registration]:
    return list(db.session.scalars(select(Registration).where(Registration.sitting_id == sitting.id)
                                   .order_by(Registration.id)))


def my_registrations(person: Person) -> list[Registration]:
    return list(db.session.scalars(select(Registration).where(Registration.person_id == person.id)
                                   .order_by(Registration.id.desc())))


def registration_for(user, sitting: ExamSitting) -> Registration | None:
    """The signed-in candidate's registration for a sitting."""
    if not getattr(user, "person_id", None):
        return None
    return db.session.scalar(select(Registration).where(Registration.sitting_id == sitting.id,
                                                        Registration.person_id == user.person_id))


# --- the theory paper ------------------------------------------------------------------------------


def ends_at(sitting: ExamSitting) -> datetime:
    return sitting.starts_at + timedelta(minutes=sitting.duration_minutes)


def remaining_seconds(attempt: Attempt, now: datetime | None = None) -> int:
    """Whole seconds left on the paper by the server's clock (the page counts down from this)."""
    now = now or utc_now()
    return max(0, math.ceil((attempt.deadline_at - now).total_seconds()))


def _draw(sitting: ExamSitting) -> list[ExamQuestion]:
    rng = random.SystemRandom()
    bank = pool(sitting.qualification_type, sitting.level)
    drawn: list[ExamQuestion] = []
    for kind, count in sitting.blueprint.items():
        of_kind = [q for q in bank if q.kind == kind]
        if len(of_kind) < int(count):
            raise DomainError(_l("The exam bank no longer holds enough questions for this paper; "
                                 "ask the training base."))
        drawn.extend(rng.sample(of_kind, int(count)))
    rng.shuffle(drawn)
    return drawn


def start_attempt(actor, registration: Registration) -> Attempt:
    """The candidate starts their paper (a POST); starting again returns the same paper, to
    resume after a dropped connection."""
    authorize(actor, owns_registration, registration=registration,
              message=_l("This is not your registration."))
    attempt = attempt_of(registration)
    if attempt is not None:
        expire(attempt)
        return attempt
    drawn = _draw(registration.sitting)
    try:
        REGISTRATION.apply(actor, registration, RA.START)
    except InvalidTransition:
        attempt = attempt_of(registration)  # the same candidate starting twice at once
        if attempt is None:
            raise
        return attempt
    now = utc_now()
    attempt = Attempt(registration_id=registration.id, started_at=now,
                      deadline_at=ends_at(registration.sitting), state=AS.OPEN.value)
    rng = random.SystemRandom()
    for position, question in enumerate(drawn, 1):
        order = list(range(len(question.options)))
        rng.shuffle(order)
        attempt.items.append(AttemptItem(position=position, question_id=question.id, option_order=order))
    db.session.add(attempt)
    db.session.flush()
    ATTEMPT.record_start(actor, attempt)
    audit.record(actor, "exams.paper_started", attempt, registration_id=registration.id,
                 questions=len(drawn))
    return attempt


def save_answer(actor, item: AttemptItem, shown: list) -> None:
    """Keep an answer as the candidate gives it: `shown` are the positions of the chosen options
    as displayed (or [true]/[false]). Refused after the deadline."""
    authorize(actor, owns_item, item=item, message=_l("This is not your paper."))
    attempt = db.session.get(Attempt, item.attempt_id)
    expire(attempt)
    if attempt.state != AS.OPEN:
        raise DomainError(_l("The paper has been submitted; answers can no longer change."))
    ATTEMPT.next_state(attempt, AA.ANSWER)  # the table allows answering only while open
    question = item.question
    if question.kind == QuestionKind.TRUEFALSE:
        answer = [bool(shown[0])] if shown else []
    else:
        positions = sorted({int(p) for p in shown if str(p).isdigit() and int(p) < len(item.option_order)})
        if question.kind == QuestionKind.SINGLE and len(positions) > 1:
            raise DomainError(_l("Choose one answer."))
        answer = sorted(item.option_order[p] for p in positions)
    item.answer, item.saved_at = answer, utc_now()
    db.session.flush()


def _close(actor, attempt: Attempt, action) -> Attempt:
    """Grade the paper once, as it is handed in or timed out; the theory score is the share of
    questions answered right."""
    correct = sum(1 for item in attempt.items if item.answer is not None and grade(item.question, item.answer))
    now = utc_now()
    try:
        ATTEMPT.apply(actor, attempt, action, values={
            "correct": correct, "submitted_at": min(now, attempt.deadline_at),
            "auto_submitted": action == AA.TIME_UP})
    except InvalidTransition:
        db.session.refresh(attempt)
        if attempt.state == AS.OPEN:
            raise
        return attempt  # handed in a moment ago (by the candidate or the clock)
    registration = attempt.registration
    total = len(attempt.items)
    registration.theory_score = (Decimal(100 * correct) / Decimal(total)).quantize(
        Decimal("0.1"), ROUND_HALF_UP) if total else Decimal(0)
    _decide(registration)
    db.session.flush()
    return attempt


def hand_in(actor, attempt: Attempt) -> Attempt:
    """The candidate hands the paper in (or finds it already handed in by the clock)."""
    authorize(actor, owns_attempt, attempt=attempt, message=_l("This is not your paper."))
    expire(attempt)
    if attempt.state != AS.OPEN:
        return attempt
    return _close(actor, attempt, AA.HAND_IN)


def expire(attempt: Attempt) -> None:
    """Hand in an attempt whose time ran out (the server's clock decides)."""
    if attempt.state == AS.OPEN and utc_now() >= attempt.deadline_at:
        _close(CLOCK, attempt, AA.TIME_UP)


def expire_sitting(sitting: ExamSitting) -> None:
    """After the paper's end: open attempts are handed in, absent candidates score 0."""
    if utc_now() < ends_at(sitting):
        return
    for registration in registrations(sitting):
        attempt = attempt_of(registration)
        if attempt is not None:
            expire(attempt)
        elif registration.state == RS.REGISTERED:
            REGISTRATION.apply(CLOCK, registration, RA.MISS, values={"theory_score": Decimal(0)})
            _decide(registration)
    db.session.flush()


def attempt_of(registration: Registration) -> Attempt | None:
    return db.session.scalar(select(Attempt).where(Attempt.registration_id == registration.id))


def attempts_of(registrations: list[Registration]) -> dict[int, Attempt | None]:
    """Each registration's attempt (or None), in one query for a whole list page."""
    ids = [r.id for r in registrations]
    found = {a.registration_id: a for a in db.session.scalars(
        select(Attempt).where(Attempt.registration_id.in_(ids)))} if ids else {}
    return {i: found.get(i) for i in ids}


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
    """The certificates a training base can examine for: those an exam bank holds questions for."""
    banked = types_with_exam_questions()
    return [q for q in db.session.scalars(select(QualificationType).order_by(QualificationType.id))
            if q.id in banked]
