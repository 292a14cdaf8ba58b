"""Bans, the regulator's side: imposing a ban (with the direct managers for child abuse) and its
effects at once, lifting or annulling with four eyes, term expiry, and re-screening every
employed person against the ban list.

The ban row and the gate live in the registry (`registry.record_ban`, `registry.ban_gate`);
this package decides and acts, and calls down into each package's own service for the effects
(DESIGN: enforcement sits above them all and none of them imports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select, update

from lms.auth.models import Role, User
from lms.certificates import service as certificates
from lms.core import audit, security
from lms.core.actors import is_system
from lms.core.clock import local_today, utc_now
from lms.core.errors import DomainError
from lms.core.idnumber import mask_id_number, normalise_name, parse_id_number
from lms.core.notifications import message, notify
from lms.core.permissions import authorize
from lms.core.states import StateMachine
from lms.core.uploads import document_type
from lms.enforcement import permissions as rules
from lms.enforcement.models import BanAlert
from lms.exams import service as exams
from lms.extensions import db
from lms.learning import service as learning
from lms.registry import service as registry
from lms.registry.models import (
    Ban,
    BanAction,
    BanCategory,
    BanEvidence,
    BanKind,
    BanLiftRequest,
    BanState,
    Employment,
    LiftRequestAction,
    LiftRequestState,
    Organisation,
    Person,
    Post,
)
from lms.scheduling import service as scheduling
from lms.subsidies import service as subsidies

message("enforcement.ban_imposed", _l(
    "%(name)s, employed at %(org)s, is banned from childcare work (decision %(ref)s): the "
    "employment has ended and the certificates are suspended."))
message("enforcement.lift_requested", _l(
    "A regulator asks to %(action)s the ban on %(name)s: a second regulator must decide."))
message("enforcement.lift_decided", _l("Your request to %(action)s the ban on %(name)s was %(outcome)s."))

#: evidence files: the decision's scan or the case file (PDF, JPEG or PNG)
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
#: employments read per batch by a re-screen (each batch asks the gate once)
RESCREEN_BATCH = 2000


class FourEyesViolation(DomainError):
    """The regulator who asked for a lift cannot also decide it."""


# --- the ban's transition table -------------------------------------------------------------------

B, BA = BanState, BanAction
BAN_TRANSITIONS: dict[tuple[BanState, BanAction], BanState] = {
    (B.IN_FORCE, BA.LIFT): B.LIFTED,
    (B.IN_FORCE, BA.ANNUL): B.ANNULLED,
    (B.IN_FORCE, BA.EXPIRE): B.EXPIRED,
    # a ban recorded in error is removed from the record even after its term ran out
    (B.EXPIRED, BA.ANNUL): B.ANNULLED,
}


def _may_ban(user, ban: Ban, action) -> bool:
    # expiry is the clock's (a system actor's); lifting and annulling a regulator's in scope,
    # and only through an approved request (decide_lift)
    return action != BA.EXPIRE and rules.acts_on_ban(user, ban)


def _ban_guard(ban: Ban, action):
    if action == BA.EXPIRE:
        if ban.kind != BanKind.TERM:
            return _l("A lifetime ban never expires.")
        if ban.ends_on is None or ban.ends_on > local_today():
            return _l("The ban's term has not ended yet.")
    return None


BAN = StateMachine(Ban, BanState, BanAction, BAN_TRANSITIONS, may=_may_ban, guard=_ban_guard,
                   audit_prefix="enforcement.ban")

R, RA = LiftRequestState, LiftRequestAction
REQUEST_TRANSITIONS: dict[tuple[LiftRequestState, LiftRequestAction], LiftRequestState] = {
    (R.PENDING, RA.APPROVE): R.APPROVED,
    (R.PENDING, RA.REFUSE): R.REFUSED,
}


def _may_decide(user, request: BanLiftRequest, action) -> bool:
    """A regulator in the ban's scope, other than the one who asked (four eyes)."""
    return rules.acts_on_ban(user, request.ban) and getattr(user, "id", None) != request.requested_by_id


LIFT_REQUEST = StateMachine(BanLiftRequest, LiftRequestState, LiftRequestAction, REQUEST_TRANSITIONS,
                            may=_may_decide, audit_prefix="enforcement.lift_request")


def ban_actions(ban: Ban, user) -> list[BanAction]:
    """What the ban's page offers this user to ask for (lift, annul): none while a request waits."""
    if pending_request(ban) is not None:
        return []
    return [a for a in BAN.allowed_actions(ban, user) if a != BA.EXPIRE]


def request_actions(request: BanLiftRequest, user) -> list[LiftRequestAction]:
    """What the request offers this user (approve, refuse): never to the one who asked."""
    return LIFT_REQUEST.allowed_actions(request, user)


# --- looking a person up for a ban ----------------------------------------------------------------


@dataclass
class Manager:
    """A direct manager at the time of the incident: the person and the employments that make
    them one (专职负责人, or recorded as the direct manager of one of the person's employments)."""

    person: Person
    employments: list[Employment]

    @property
    def posts(self) -> str:
        return "、".join(e.post_title for e in self.employments)

    @property
    def organisations(self) -> str:
        return "、".join(dict.fromkeys(e.organisation.name for e in self.employments))


@dataclass
class BanCandidate:
    """What the impose form shows after the lookup step."""

    id_number: str
    person: Person | None
    #: employments current today (they end with the ban)
    current: list[Employment] = field(default_factory=list)
    managers: list[Manager] = field(default_factory=list)
    #: bans already recorded against the number
    bans: list[Ban] = field(default_factory=list)


def _number(id_number) -> str:
    number, _born = parse_id_number(id_number)
    return number


def _held_on(day: date):
    return and_(Employment.start_date <= day,
                or_(Employment.end_date.is_(None), Employment.end_date >= day))


def direct_managers(actor, id_number: str, incident_date: date | None) -> list[Manager]:
    """The direct managers of the person on the day of the incident (issue 15): at each
    institution the person worked at that day, its 专职负责人 in post that day, and the recorded
    direct manager (registry's employment history) of each of the person's employments held that
    day. Staff merely flagged as managing others are not listed unless recorded as this
    person's manager."""
    authorize(actor, rules.can_manage_bans)
    number = _number(id_number)
    day = incident_date or local_today()
    if day > local_today():
        raise DomainError(_l("The incident date cannot be in the future."), field="incident_date")
    person = registry.find_person(number)
    if person is None:
        return []
    held = list(db.session.scalars(select(Employment).where(
        Employment.person_id == person.id, _held_on(day)).order_by(Employment.id)))
    if not held:
        return []
    found = list(db.session.scalars(
        select(Employment).join(Person, Person.id == Employment.person_id)
        .where(Employment.organisation_id.in_({e.organisation_id for e in held}),
               Employment.person_id != person.id, _held_on(day),
               Employment.post == Post.DIRECTOR.value)
        .order_by(Person.name, Employment.id)))
    for employment in held:
        recorded = registry.direct_manager_on(employment, day)
        if recorded is not None and recorded.person_id != person.id and recorded not in found:
            found.append(recorded)
    managers: dict[int, Manager] = {}
    for employment in sorted(found, key=lambda e: (e.person.name, e.id)):
        managers.setdefault(employment.person_id, Manager(employment.person, [])).employments.append(
            employment)
    return list(managers.values())


def look_up_for_ban(actor, id_number: str, incident_date: date | None = None) -> BanCandidate:
    """The impose form's lookup step (by POST): the person if registered, their current
    employments, the direct managers on the incident date and any bans already recorded."""
    authorize(actor, rules.can_manage_bans)
    number = _number(id_number)
    person = registry.find_person(number)
    current = [] if person is None else [e for e in person.employments if e.is_current]
    managers = direct_managers(actor, number, incident_date)
    bans = list(db.session.scalars(select(Ban).where(Ban.id_number == number).order_by(Ban.id)))
    audit.record(actor, "enforcement.ban_lookup", person, id_number=mask_id_number(number))
    return BanCandidate(number, person, current, managers, bans)


# --- imposing a ban -------------------------------------------------------------------------------


def _may_ban_person(actor, person: Person | None) -> bool:
    """A city-wide regulator bans anyone; a district regulator someone not registered, not
    employed anywhere now, or employed (among others) in their district."""
    if is_system(actor) or rules.is_city_regulator(actor) or person is None:
        return True
    districts = set(db.session.scalars(
        select(Organisation.district_id).join(Employment, Employment.organisation_id == Organisation.id)
        .where(Employment.person_id == person.id, Employment.end_date.is_(None))))
    return not districts or actor.district_id in districts


def _evidence_type(evidence: bytes | None) -> str:
    """The check of a ban's evidence (lms.core.uploads), up to 10 MB: case files run long."""
    return document_type(
        evidence, field="evidence", max_bytes=MAX_EVIDENCE_BYTES,
        missing=_l("Attach the evidence (the decision or the case file: PDF, JPEG or PNG)."),
        too_big=_l("The evidence file is larger than 10 MB."),
        wrong_type=_l("The evidence must be a PDF, JPEG or PNG file."))


@dataclass
class BanDecision:
    """The checked fields of an impose form."""

    number: str
    name: str
    kind: str
    ends_on: date | None
    category: str
    authority: str
    decision_no: str
    decision_date: date
    incident_date: date | None
    reason: str
    evidence_type: str


def _check_decision(*, id_number, name, kind, ends_on, category, authority, decision_no,
                    decision_date, incident_date, reason, evidence) -> BanDecision:
    """Every field of the form, before anything is written (nothing is half-saved)."""
    today = local_today()
    number = _number(id_number)
    try:
        name = normalise_name(name)
    except DomainError as err:
        raise DomainError(err.message, field="name") from None
    if kind not in {k.value for k in BanKind}:
        raise DomainError(_l("Choose a lifetime ban or a ban for a term."), field="kind")
    if category not in {c.value for c in BanCategory}:
        raise DomainError(_l("Choose the category of the ban."), field="category")
    if kind == BanKind.TERM:
        if ends_on is None:
            raise DomainError(_l("A ban for a term needs its end date."), field="ends_on")
        if ends_on <= today:
            raise DomainError(_l("The end of the term must be after today, the day the ban starts."),
                              field="ends_on")
    else:
        ends_on = None
    authority = " ".join((authority or "").split())
    if not authority:
        raise DomainError(_l("Name the deciding authority."), field="authority")
    decision_no = " ".join((decision_no or "").split())
    if not decision_no:
        raise DomainError(_l("Give the decision document's number."), field="decision_no")
    if decision_date is None or decision_date > today:
        raise DomainError(_l("Give the decision's date (not in the future)."), field="decision_date")
    if incident_date is not None and incident_date > today:
        raise DomainError(_l("The incident date cannot be in the future."), field="incident_date")
    if category == BanCategory.CHILD_ABUSE and incident_date is None:
        raise DomainError(_l("Give the date of the incident: the direct managers are those in "
                             "post that day."), field="incident_date")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give the reason for the ban."), field="reason")
    return BanDecision(number, name, kind, ends_on, category, authority[:120], decision_no[:100],
                       decision_date, incident_date, reason, _evidence_type(evidence))


@dataclass
class BanEffects:
    """What a ban did, counted for the regulator's page and the audit record."""

    employments: int = 0
    certificates: int = 0
    enrolments: int = 0
    bookings: int = 0
    registrations: int = 0
    claims: int = 0
    notified: int = 0

    def add(self, other: BanEffects) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Imposed:
    bans: list[Ban]
    effects: BanEffects


def impose_ban(actor, *, id_number: str, name: str, kind: str, ends_on: date | None, category: str,
               authority: str, decision_no: str, decision_date: date | None,
               incident_date: date | None, reason: str, evidence: bytes, evidence_name: str = "",
               managers: list[int] | None = None) -> list[Ban]:
    """Impose a ban from today (and, for child abuse, on the direct managers ticked, each a ban
    of its own linked to the first), with every effect at once in this transaction."""
    return impose(actor, id_number=id_number, name=name, kind=kind, ends_on=ends_on,
                  category=category, authority=authority, decision_no=decision_no,
                  decision_date=decision_date, incident_date=incident_date, reason=reason,
                  evidence=evidence, evidence_name=evidence_name, managers=managers).bans


def impose(actor, *, id_number: str, name: str, kind: str, ends_on: date | None, category: str,
           authority: str, decision_no: str, decision_date: date | None,
           incident_date: date | None, reason: str, evidence: bytes, evidence_name: str = "",
           managers: list[int] | None = None) -> Imposed:
    """impose_ban, answering with the effects too (what the page reports)."""
    authorize(actor, rules.can_manage_bans)
    decision = _check_decision(
        id_number=id_number, name=name, kind=kind, ends_on=ends_on, category=category,
        authority=authority, decision_no=decision_no, decision_date=decision_date,
        incident_date=incident_date, reason=reason, evidence=evidence)
    person = registry.find_person(decision.number)
    if not _may_ban_person(actor, person):
        raise DomainError(_l("This person works in another district: its regulator or a "
                             "city-wide regulator decides."), field="id_number")
    ticked = list(dict.fromkeys(int(m) for m in (managers or [])))
    chosen: list[Manager] = []
    if ticked:
        if decision.category != BanCategory.CHILD_ABUSE:
            raise DomainError(_l("Direct managers are banned with the person only for child abuse."),
                              field="managers")
        listed = {m.person.id: m for m in direct_managers(actor, decision.number, decision.incident_date)}
        if any(pid not in listed for pid in ticked):
            raise DomainError(_l("Tick only the direct managers listed for the incident date."),
                              field="managers")
        chosen = [listed[pid] for pid in ticked]
    today = local_today()
    common = dict(kind=decision.kind, starts_on=today, ends_on=decision.ends_on,
                  category=decision.category, authority=decision.authority,
                  decision_ref=decision.decision_no, decision_date=decision.decision_date,
                  incident_date=decision.incident_date,
                  district_id=None if rules.is_city_regulator(actor) else actor.district_id)
    first = registry.record_ban(actor, id_number=decision.number, name=decision.name,
                                reason=decision.reason, **common)
    db.session.add(BanEvidence(ban_id=first.id, filename=(evidence_name or "")[:200],
                               content_type=decision.evidence_type, data=evidence))
    BAN.record_start(actor, first, reason=decision.reason, authority=decision.authority)
    bans = [first]
    for manager in chosen:
        ban = registry.record_ban(actor, id_number=manager.person.id_number, name=manager.person.name,
                                  reason=decision.reason, linked_to=first, **common)
        BAN.record_start(actor, ban, reason=decision.reason, authority=decision.authority)
        bans.append(ban)
    effects = BanEffects()
    for ban in bans:
        effects.add(_apply_effects(actor, ban))
    _screen([ban.id_number for ban in bans])
    audit.record(actor, "enforcement.ban_imposed", first, id_number=mask_id_number(decision.number),
                 category=decision.category, kind=decision.kind, managers=len(chosen),
                 linked=[b.id for b in bans[1:]], **effects.__dict__)
    db.session.flush()
    return Imposed(bans, effects)


def _effect_reason(ban: Ban) -> str:
    return f"[{ban.decision_ref}] {ban.reason}"[:200]


def _apply_effects(actor, ban: Ban) -> BanEffects:
    """Everything a ban does at once to a registered person, through each package's service.

    It stays in the request, not a job: the fan-out is one person's own records — their
    current employments, valid certificates, open enrolments, bookings, exam registrations
    and claims, and the administrators of the few institutions they work at — each a query
    on that person, a handful of rows however large the city. And it is idempotent: each
    step picks only the rows still in the state it changes (current employments, valid
    certificates, open claims…) and the employers are those of the employments still
    current, so running it again for the same ban changes nothing and tells no one twice."""
    effects = BanEffects()
    if ban.person_id is None:
        return effects
    person_id, reason = ban.person_id, _effect_reason(ban)
    orgs = list(db.session.scalars(
        select(Organisation).join(Employment, Employment.organisation_id == Organisation.id)
        .where(Employment.person_id == person_id, Employment.end_date.is_(None)).distinct()))
    effects.employments = len(registry.end_employments_for_ban(actor, person_id, ban.starts_on, reason))
    effects.certificates = len(certificates.suspend_for_ban(actor, person_id, reason))
    effects.enrolments = len(learning.cancel_enrolments_for_ban(actor, person_id, reason))
    effects.bookings = len(scheduling.cancel_bookings_for_ban(actor, person_id, reason))
    effects.registrations = len(exams.withdraw_for_ban(actor, person_id, reason))
    effects.claims = len(subsidies.reject_claims_for_ban(actor, person_id, reason))
    effects.notified = _tell_employers(ban, orgs)
    return effects


def _tell_employers(ban: Ban, orgs: list[Organisation]) -> int:
    """The institutions the person worked at, and the regulators of their districts."""
    told = 0
    for org in orgs:
        admins = db.session.scalars(select(User.id).where(
            User.role == Role.INSTITUTION_ADMIN.value, User.organisation_id == org.id,
            User.is_enabled.is_(True)))
        for user_id in admins:
            notify(user_id, "enforcement.ban_imposed", f"/institutions/{org.id}/staff/{ban.person_id}",
                   name=ban.name, org=org.name, ref=ban.decision_ref)
            told += 1
    districts = {org.district_id: org for org in orgs}
    for district_id, org in districts.items():
        for user_id in db.session.scalars(select(User.id).where(
                User.role == Role.REGULATOR.value, User.district_id == district_id,
                User.is_enabled.is_(True))):
            notify(user_id, "enforcement.ban_imposed", f"/bans/{ban.id}", name=ban.name,
                   org=org.name, ref=ban.decision_ref)
            told += 1
    return told


# --- lifting and annulling: four eyes -------------------------------------------------------------


def pending_request(ban: Ban) -> BanLiftRequest | None:
    return db.session.scalar(select(BanLiftRequest).where(
        BanLiftRequest.ban_id == ban.id, BanLiftRequest.state == R.PENDING.value))


def lift_requests(ban: Ban) -> list[BanLiftRequest]:
    """Every request on the ban, oldest first (the history shows them all)."""
    return list(db.session.scalars(select(BanLiftRequest).where(BanLiftRequest.ban_id == ban.id)
                                   .order_by(BanLiftRequest.requested_at, BanLiftRequest.id)))


def request_lift(actor, ban: Ban, reason: str, annul: bool = False) -> BanLiftRequest:
    """Ask to lift a ban early (or annul one recorded in error); a second regulator decides."""
    authorize(actor, rules.can_act_on_ban, ban=ban)
    action = BA.ANNUL if annul else BA.LIFT
    BAN.next_state(ban, action)  # InvalidTransition: e.g. lifting a ban already lifted
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give the reason for lifting or annulling the ban."), field="reason")
    if pending_request(ban) is not None:
        raise DomainError(_l("A request on this ban is already waiting for a second regulator."))
    request = BanLiftRequest(ban_id=ban.id, kind=action.value, reason=reason,
                             state=R.PENDING.value, requested_by_id=actor.id, requested_at=utc_now())
    db.session.add(request)
    db.session.flush()
    LIFT_REQUEST.record_start(actor, request, reason=reason)
    audit.record(actor, "enforcement.lift_requested", request, ban_id=ban.id, kind=action.value,
                 reason=reason)
    for user_id in db.session.scalars(select(User.id).where(
            User.role == Role.REGULATOR.value, User.is_enabled.is_(True), User.id != actor.id)):
        user = db.session.get(User, user_id)
        if rules.acts_on_ban(user, ban):
            notify(user_id, "enforcement.lift_requested", f"/bans/{ban.id}", name=ban.name,
                   action=str(action.title))
    db.session.flush()
    return request


security.describe("enforcement.four_eyes_refused",
                  _l("Lift decided by the regulator who asked for it (refused)"))


def decide_lift(actor, request: BanLiftRequest, approve: bool, reason: str) -> BanLiftRequest:
    """A second, different regulator approves (the ban is lifted or annulled) or refuses (it
    stays in force). Certificates are not reinstated: only a regulator does that, separately."""
    ban = request.ban
    authorize(actor, rules.can_act_on_ban, ban=ban)
    if actor.id == request.requested_by_id:
        security.record_event("enforcement.four_eyes_refused", actor=actor,
                              detail={"request_id": request.id})
        raise FourEyesViolation(_l("You asked for this; a second, different regulator must decide it."))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give the reason for your decision."), field="reason")
    action = RA.APPROVE if approve else RA.REFUSE
    now = utc_now()
    LIFT_REQUEST.apply(actor, request, action, reason=reason,
                       values={"decided_by_id": actor.id, "decided_at": now, "decision_reason": reason},
                       ban_id=ban.id)
    if approve:
        BAN.apply(actor, ban, BanAction(request.kind), reason=f"{request.reason} / {reason}",
                  values={"lifted_at": now, "lifted_by_id": actor.id, "lift_reason": reason},
                  request_id=request.id)
        db.session.execute(update(BanAlert).where(BanAlert.ban_id == ban.id,
                                                  BanAlert.resolved_at.is_(None))
                           .values(resolved_at=now))
    notify(request.requested_by_id, "enforcement.lift_decided", f"/bans/{ban.id}", name=ban.name,
           action=str(BanAction(request.kind).title),
           outcome=str(R.APPROVED.title if approve else R.REFUSED.title))
    db.session.flush()
    return request


# --- expiry and re-screening (jobs) ---------------------------------------------------------------


def expire_term_bans(actor, today: date | None = None) -> list[Ban]:
    """Term bans whose end date has come end by themselves (the gate already stopped refusing
    them that day); their effects stay: certificates come back only by a regulator."""
    authorize(actor, rules.runs_ban_jobs)
    today = today or local_today()
    due = list(db.session.scalars(select(Ban).where(
        Ban.state == B.IN_FORCE.value, Ban.kind == BanKind.TERM.value, Ban.ends_on <= today)
        .order_by(Ban.id)))
    for ban in due:
        BAN.apply(actor, ban, BA.EXPIRE, reason=f"{ban.ends_on.isoformat()}")
    return due


@dataclass
class Rescreen:
    screened: int = 0
    new_alerts: list[BanAlert] = field(default_factory=list)
    resolved: int = 0


def _resolve_alerts(now) -> int:
    """Alerts whose employment has ended, or whose ban no longer holds, are resolved."""
    ended = select(Employment.id).where(Employment.end_date.is_not(None))
    gone = select(Ban.id).where(Ban.state.not_in((B.IN_FORCE.value, B.EXPIRED.value)))
    return db.session.execute(update(BanAlert).where(
        BanAlert.resolved_at.is_(None),
        or_(BanAlert.employment_id.in_(ended), BanAlert.ban_id.in_(gone)))
        .values(resolved_at=now).execution_options(synchronize_session=False)).rowcount or 0


def _screen_rows(rows, outcome: Rescreen) -> None:
    """One batch of (employment, person's number, organisation's district) through the gate."""
    banned = registry.ban_gate([number for (_e, number, _d, _o, _p) in rows])
    if not banned:
        return
    hits = [row for row in rows if row[1] in banned]
    open_ids = set(db.session.scalars(select(BanAlert.employment_id).where(
        BanAlert.resolved_at.is_(None), BanAlert.employment_id.in_([r[0] for r in hits]))))
    for employment_id, number, district_id, org_id, person_id in hits:
        if employment_id in open_ids:
            continue
        alert = BanAlert(ban_id=banned[number].id, person_id=person_id, employment_id=employment_id,
                         organisation_id=org_id, district_id=district_id)
        db.session.add(alert)
        outcome.new_alerts.append(alert)


def _current_rows(after_id: int, numbers: list[str] | None):
    stmt = (select(Employment.id, Person.id_number, Organisation.district_id, Organisation.id,
                   Person.id)
            .join(Person, Person.id == Employment.person_id)
            .join(Organisation, Organisation.id == Employment.organisation_id)
            .where(Employment.end_date.is_(None), Employment.id > after_id))
    if numbers is not None:
        stmt = stmt.where(Person.id_number.in_(numbers))
    return db.session.execute(stmt.order_by(Employment.id).limit(RESCREEN_BATCH)).all()


def _screen(numbers: list[str] | None = None) -> Rescreen:
    """Every current employment (or those of `numbers`) through the one gate, in batches."""
    outcome = Rescreen()
    now = utc_now()
    outcome.resolved = _resolve_alerts(now)
    after = 0
    while True:
        rows = _current_rows(after, numbers)
        if not rows:
            break
        outcome.screened += len(rows)
        _screen_rows(rows, outcome)
        after = rows[-1][0]
    db.session.flush()
    return outcome


def rescreen(actor) -> Rescreen:
    """Check every employed person against the ban list (yearly, and whenever a ban is imposed):
    a banned person still employed becomes an alert until the employment ends."""
    authorize(actor, rules.runs_ban_jobs)
    outcome = _screen()
    audit.record(actor, "enforcement.rescreened", None, object_type="employments",
                 screened=outcome.screened, new_alerts=len(outcome.new_alerts),
                 resolved=outcome.resolved)
    return outcome


def open_alerts(user) -> list[BanAlert]:
    """The alerts a home page shows: a regulator's district (a city-wide one, all), an
    institution's own; an alert disappears as soon as the employment ends."""
    stmt = (select(BanAlert).join(Employment, Employment.id == BanAlert.employment_id)
            .where(BanAlert.resolved_at.is_(None), Employment.end_date.is_(None))
            .order_by(BanAlert.created_at.desc(), BanAlert.id.desc()).limit(100))
    if rules.is_city_regulator(user):
        pass
    elif getattr(user, "role", None) == Role.REGULATOR:
        stmt = stmt.where(BanAlert.district_id == user.district_id)
    elif getattr(user, "role", None) == Role.INSTITUTION_ADMIN and user.organisation_id:
        stmt = stmt.where(BanAlert.organisation_id == user.organisation_id)
    else:
        return []
    return list(db.session.scalars(stmt))


# --- reading --------------------------------------------------------------------------------------


def ban_list_statement(user, *, category: str = "", state: str = ""):
    """The regulator's ban list: their district's bans and the city's (a city-wide regulator:
    all), newest first, optionally by category and state."""
    stmt = select(Ban).order_by(Ban.starts_on.desc(), Ban.id.desc())
    if not rules.is_city_regulator(user):
        stmt = stmt.where(or_(Ban.district_id == user.district_id, Ban.district_id.is_(None)))
    if category in {c.value for c in BanCategory}:
        stmt = stmt.where(Ban.category == category)
    if state in {s.value for s in BanState}:
        stmt = stmt.where(Ban.state == state)
    return stmt


def linked_bans(ban: Ban) -> list[Ban]:
    """The bans this one is linked with: the first ban, and the managers' bans linked to it."""
    root = ban.linked_to_id or ban.id
    return [b for b in db.session.scalars(select(Ban).where(
        or_(Ban.id == root, Ban.linked_to_id == root)).order_by(Ban.id)) if b.id != ban.id]


def evidence_of(ban: Ban) -> BanEvidence | None:
    """The decision's evidence (a manager's ban shares the first ban's)."""
    return db.session.get(BanEvidence, ban.linked_to_id or ban.id)


def history(ban: Ban):
    """The ban's moves and every request's, oldest first."""
    events = list(BAN.history(ban))
    for request in lift_requests(ban):
        events.extend(LIFT_REQUEST.history(request))
    return sorted(events, key=lambda e: (e.created_at, e.id))


def history_title(event) -> str:
    if event.object_type == BanLiftRequest.__tablename__:
        if event.action == "create":
            return str(_l("Lift or annulment requested"))
        return LiftRequestAction(event.action).title
    if event.action == "create":
        return str(_l("Ban imposed"))
    return BanAction(event.action).title


def users_named(ids) -> dict[int, str]:
    ids = [i for i in set(ids) if i]
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())



def requests_awaiting(user) -> list[BanLiftRequest]:
    """Lift and annulment requests this regulator may decide (not their own)."""
    if getattr(user, "role", None) != Role.REGULATOR:
        return []
    pending = db.session.scalars(select(BanLiftRequest).where(
        BanLiftRequest.state == R.PENDING.value, BanLiftRequest.requested_by_id != user.id)
        .order_by(BanLiftRequest.requested_at).limit(100))
    return [r for r in pending if rules.acts_on_ban(user, r.ban)]
