"""双随机一公开 inspections and 人证合一 checks: the rules.

The draw (DESIGN §1, seeds 001 and 004) picks institutions at random from a filtered pool and
at least two inspectors for each at random from the district's pool, never one who works or
worked for the institution. It is reproducible by anyone from what it stores and what the task
notice publishes:

1. The institution pool: the district's active childcare institutions, by organisation id
   ascending. The inspector pool: the district's active inspectors, by inspector id ascending.
   The conflicts: for each institution, the inspectors who work or worked for it (their
   recorded affiliations, and the employments of their registry record).
2. n = the task's count, or ceil(pool size × percent / 100); at least 1, at most the pool.
3. rng = random.Random(seed), the seed a string (Python's version-2 string seeding).
4. institutions = rng.sample(institution pool, n)  (drawing order).
5. For each institution in drawing order: eligible = the inspector pool without that
   institution's conflicts, in pool order; team = rng.sample(eligible, k) with k the task's
   inspectors per institution (at least 2); fewer than k eligible is an error.
6. The digest: sha256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the seed, the
   pools, the conflicts, the share or count, n, k and the picks.

`run_draw` is steps 2-5, `draw_digest` step 6, `verify_draw` runs them again on what was
stored and compares with the digest, the picks and the visits in the database.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, or_, select

from lms.auth.models import Role
from lms.certificates.models import Certificate
from lms.core import audit
from lms.core.clock import local_today, this_year, utc_now
from lms.core.errors import DomainError, NotFound
from lms.core.idnumber import mask_id_number, normalise_id_number
from lms.core.models import District
from lms.core.permissions import authorize
from lms.core.states import StateMachine
from lms.enforcement import permissions as rules
from lms.enforcement.models import (
    CheckResult,
    IdentityCheck,
    IdentityCheckPhoto,
    InspectionDraw,
    InspectionItem,
    InspectionTask,
    InspectionVisit,
    Inspector,
    InspectorAffiliation,
    TaskAction,
    TaskState,
    VisitInspector,
    VisitOutcome,
)
from lms.extensions import db
from lms.ledger import service as ledger
from lms.registry import service as registry
from lms.registry.models import (
    Ban,
    Employment,
    Organisation,
    OrgKind,
    Person,
    PersonPhoto,
    Qualification,
    StaffRecord,
    StaffRecordKind,
)
from lms.registry.permissions import regulates

MIN_TEAM = 2
MAX_TEAM = 10
SEED_MAX = 64


class NotEnoughInspectors(DomainError):
    """Fewer inspectors without a conflict of interest than a team needs."""

    default_field = "seed"


# --- scope ----------------------------------------------------------------------------------------


def districts_of(actor) -> list[District]:
    """The districts whose inspections the actor runs (all of them for the city regulator)."""
    stmt = select(District).order_by(District.code)
    if getattr(actor, "district_id", None) is not None:
        stmt = stmt.where(District.id == actor.district_id)
    return list(db.session.scalars(stmt))


def _district_filter(column, actor):
    district_id = getattr(actor, "district_id", None)
    return True if district_id is None else column == district_id


# --- the list of items (抽查事项清单) -------------------------------------------------------------


def _share_or_count(draw_percent, draw_count) -> tuple[int | None, int | None]:
    if (draw_percent is None) == (draw_count is None):
        raise DomainError(_l("Give either the share of institutions to draw or their number, "
                             "not both."), field="draw_percent")
    if draw_percent is not None and not 1 <= int(draw_percent) <= 100:
        raise DomainError(_l("The share is a percentage from 1 to 100."), field="draw_percent")
    if draw_count is not None and int(draw_count) < 1:
        raise DomainError(_l("Draw at least one institution."), field="draw_count")
    return (None if draw_percent is None else int(draw_percent),
            None if draw_count is None else int(draw_count))


def _text(value, limit: int | None = None) -> str:
    value = (value or "").strip()
    return value[:limit] if limit else value


def add_item(actor, district: District | None, *, name: str, basis: str = "", target: str = "",
             draw_percent: int | None = None, draw_count: int | None = None,
             frequency: str = "", method: str = "", inspector_requirements: str = "") -> InspectionItem:
    """Add a line to the list of inspection items (a district's, or the city's when None)."""
    authorize(actor, rules.can_manage_district_inspections, district=district)
    if not _text(name):
        raise DomainError(_l("Name the item."), field="name")
    draw_percent, draw_count = _share_or_count(draw_percent, draw_count)
    item = InspectionItem(
        district_id=district.id if district else None, name=_text(name, 120),
        basis=_text(basis), target=_text(target, 120) or "托育机构", draw_percent=draw_percent,
        draw_count=draw_count, frequency=_text(frequency, 60), method=_text(method, 120),
        inspector_requirements=_text(inspector_requirements),
        created_by_id=getattr(actor, "id", None))
    db.session.add(item)
    db.session.flush()
    audit.record(actor, "enforcement.inspection_item_added", item, name=item.name)
    return item


def items_for(actor) -> list[InspectionItem]:
    """The items the actor may put in a task: the city's and those of their district(s)."""
    authorize(actor, rules.can_manage_inspections)
    district_id = getattr(actor, "district_id", None)
    stmt = select(InspectionItem).where(InspectionItem.is_active.is_(True))
    if district_id is not None:
        stmt = stmt.where(or_(InspectionItem.district_id.is_(None),
                              InspectionItem.district_id == district_id))
    return list(db.session.scalars(stmt.order_by(InspectionItem.id)))


# --- the pool of inspectors ----------------------------------------------------------------------


def add_inspector(actor, district: District, *, name: str = "", user=None, person: Person | None = None,
                  is_leader: bool = False, is_expert: bool = False,
                  organisations: Iterable[Organisation] = ()) -> Inspector:
    """Put a regulator's account or a named person (an expert) in a district's pool, with the
    organisations they work or worked for."""
    authorize(actor, rules.can_manage_district_inspections, district=district)
    if user is not None:
        if user.role != Role.REGULATOR or not regulates(user, district.id):
            raise DomainError(_l("Only a regulator of the district can be an inspector by "
                                 "account; add others by name."), field="user_id")
        if db.session.scalar(select(Inspector.id).where(Inspector.district_id == district.id,
                                                        Inspector.user_id == user.id)):
            raise DomainError(_l("This account is already in the district's pool."),
                              field="user_id")
        name = name or user.display_name
    name = _text(name, 60)
    if not name:
        raise DomainError(_l("Give the inspector's name."), field="name")
    inspector = Inspector(district_id=district.id, user_id=getattr(user, "id", None),
                          person_id=getattr(person, "id", None), name=name,
                          is_leader=bool(is_leader), is_expert=bool(is_expert))
    db.session.add(inspector)
    db.session.flush()
    for org in organisations:
        db.session.add(InspectorAffiliation(inspector_id=inspector.id, organisation_id=org.id))
    db.session.flush()
    audit.record(actor, "enforcement.inspector_added", inspector, name=name,
                 organisations=[o.id for o in organisations])
    return inspector


def add_affiliation(actor, inspector: Inspector, organisation: Organisation,
                    note: str = "") -> InspectorAffiliation:
    """Record that an inspector works or worked for an organisation: they never inspect it."""
    authorize(actor, rules.can_manage_inspector, inspector=inspector)
    existing = db.session.scalar(select(InspectorAffiliation).where(
        InspectorAffiliation.inspector_id == inspector.id,
        InspectorAffiliation.organisation_id == organisation.id))
    if existing is not None:
        return existing
    row = InspectorAffiliation(inspector_id=inspector.id, organisation_id=organisation.id,
                               note=_text(note, 200))
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "enforcement.inspector_affiliation_added", inspector,
                 organisation_id=organisation.id)
    return row


def inspectors_for(actor) -> list[Inspector]:
    """The pools of the districts the actor runs."""
    authorize(actor, rules.can_manage_inspections)
    return list(db.session.scalars(
        select(Inspector).where(_district_filter(Inspector.district_id, actor))
        .order_by(Inspector.district_id, Inspector.id)))


def institutions_of(district_id: int) -> list[Organisation]:
    """The district's active childcare institutions, by id: the draw's institution pool."""
    return list(db.session.scalars(
        select(Organisation).where(Organisation.kind == OrgKind.INSTITUTION.value,
                                   Organisation.district_id == district_id,
                                   Organisation.is_active.is_(True))
        .order_by(Organisation.id)))


def regulators_of(district_id: int):
    """Regulator accounts that could join a district's pool."""
    from lms.auth.models import User

    return list(db.session.scalars(select(User).where(
        User.role == Role.REGULATOR.value, User.is_enabled.is_(True),
        or_(User.district_id == district_id, User.district_id.is_(None))).order_by(User.id)))


# --- tasks and their states ----------------------------------------------------------------------


S, A = TaskState, TaskAction

#: draft -> drawn (draw; draw again while drawn) -> published (the task notice) -> closed
#: (the results notice). Nothing else moves a task.
TRANSITIONS = {
    (S.DRAFT, A.DRAW): S.DRAWN,
    (S.DRAWN, A.REDRAW): S.DRAWN,
    (S.DRAWN, A.PUBLISH): S.PUBLISHED,
    (S.PUBLISHED, A.CLOSE): S.CLOSED,
}


def _may_act_on_task(user, task: InspectionTask, action) -> bool:
    return rules.can_run_task(user, task=task)


def _task_guard(task: InspectionTask, action):
    if action == A.CLOSE and any(v.recorded_at is None for v in task.visits):
        return _l("Record the result of every institution drawn before publishing the results.")
    if action == A.PUBLISH and not task.visits:
        return _l("Draw the institutions first.")
    return None


TASK = StateMachine(InspectionTask, TaskState, TaskAction, TRANSITIONS, may=_may_act_on_task,
                    guard=_task_guard, audit_prefix="enforcement.inspection_task")


def create_task(actor, district: District, *, year: int, title: str, items: Iterable[InspectionItem] = (),
                draw_percent: int | None = None, draw_count: int | None = None,
                inspectors_per_institution: int = MIN_TEAM) -> InspectionTask:
    """Plan a task: a year, a district, the items, the share or count to draw, the team size."""
    authorize(actor, rules.can_manage_district_inspections, district=district)
    if not _text(title):
        raise DomainError(_l("Give the task a title."), field="title")
    if not 2000 <= int(year) <= 2100:
        raise DomainError(_l("Give the year of the plan."), field="year")
    items = list(items)
    if any(i.district_id not in (None, district.id) for i in items):
        raise DomainError(_l("An item of another district cannot be in this task."), field="items")
    if draw_percent is None and draw_count is None and items:
        draw_percent, draw_count = items[0].draw_percent, items[0].draw_count
    draw_percent, draw_count = _share_or_count(draw_percent, draw_count)
    if not MIN_TEAM <= int(inspectors_per_institution) <= MAX_TEAM:
        raise DomainError(_l("A team has at least two inspectors."),
                          field="inspectors_per_institution")
    task = InspectionTask(year=int(year), district_id=district.id, title=_text(title, 120),
                          draw_percent=draw_percent, draw_count=draw_count,
                          inspectors_per_institution=int(inspectors_per_institution),
                          state=S.DRAFT.value, created_by_id=getattr(actor, "id", None))
    task.items = items
    db.session.add(task)
    db.session.flush()
    TASK.record_start(actor, task)
    audit.record(actor, "enforcement.inspection_task_created", task, year=task.year,
                 district_id=district.id)
    return task


def tasks_for(actor, year: int | None = None) -> list[InspectionTask]:
    """The tasks of the districts the actor runs, newest first."""
    authorize(actor, rules.can_manage_inspections)
    stmt = select(InspectionTask).where(_district_filter(InspectionTask.district_id, actor))
    if year is not None:
        stmt = stmt.where(InspectionTask.year == year)
    return list(db.session.scalars(stmt.order_by(InspectionTask.year.desc(),
                                                 InspectionTask.id.desc())))


def task_actions(task: InspectionTask, user) -> list[TaskAction]:
    """What the task's page offers this user now (the draw has its own form)."""
    return [a for a in TASK.allowed_actions(task, user) if a not in (A.DRAW, A.REDRAW)]


def task_waiting(task: InspectionTask, user) -> list[tuple[TaskAction, str]]:
    """Moves the table allows this user now but a rule holds back, with the reason (what the
    page says instead of a button: "record every result first")."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    state = TaskState(task.state)
    waiting = []
    for (source, action) in TRANSITIONS:
        if source == state and action not in (A.DRAW, A.REDRAW) and _may_act_on_task(user, task, action):
            reason = _task_guard(task, action)
            if reason:
                waiting.append((action, str(reason)))
    return waiting


def may_draw(task: InspectionTask, user) -> bool:
    return any(a in (A.DRAW, A.REDRAW) for a in TASK.allowed_actions(task, user))


def history(task: InspectionTask) -> list[tuple]:
    """The task's moves, oldest first, each with its action's and new state's titles."""
    lines = []
    for event in TASK.history(task):
        action = str(_l("Planned")) if event.action == "create" else TaskAction(event.action).title
        lines.append((event, action, TaskState(event.to_state).title))
    return lines


def transition(actor, task: InspectionTask, action) -> InspectionTask:
    """Announce a drawn task, or publish its results and close it."""
    authorize(actor, rules.can_run_task, task=task)
    action = TASK.parse_action(action)
    if action in (A.DRAW, A.REDRAW):
        raise DomainError(_l("Use the draw form to draw."))
    values = {"published_at": utc_now()} if action == A.PUBLISH else {"closed_at": utc_now()}
    return TASK.apply(actor, task, action, values=values)


# --- the draw ------------------------------------------------------------------------------------


def draw_size(pool_size: int, draw_percent: int | None, draw_count: int | None) -> int:
    """How many institutions a share or a count gives (step 2 of the algorithm)."""
    wanted = draw_count if draw_count is not None else -(-pool_size * draw_percent // 100)
    return max(1, min(pool_size, wanted))


def run_draw(seed: str, institution_pool: list[int], inspector_pool: list[int],
             conflicts: dict, *, draw_percent: int | None, draw_count: int | None,
             per_institution: int) -> list[list]:
    """Steps 2-5 of the algorithm: [[organisation id, [inspector ids]], ...] in drawing order."""
    if not institution_pool:
        raise DomainError(_l("The district has no active childcare institution to draw from."))
    rng = random.Random(seed)
    chosen = rng.sample(list(institution_pool), draw_size(len(institution_pool), draw_percent,
                                                          draw_count))
    picks = []
    for org_id in chosen:
        excluded = set(conflicts.get(str(org_id), ()))
        eligible = [i for i in inspector_pool if i not in excluded]
        if len(eligible) < per_institution:
            org = db.session.get(Organisation, org_id)
            raise NotEnoughInspectors(_l(
                "Only %(num)d inspectors without a conflict of interest can inspect %(org)s; a "
                "team needs %(need)d. Add inspectors to the district's pool.",
                num=len(eligible), org=org.name if org else org_id, need=per_institution))
        picks.append([org_id, rng.sample(eligible, per_institution)])
    return picks


def draw_digest(record: dict) -> str:
    """Step 6: sha256 of the canonical JSON of the draw's inputs and picks."""
    keys = ("seed", "institution_pool", "inspector_pool", "conflicts", "draw_percent",
            "draw_count", "drawn_count", "inspectors_per_institution", "picks")
    canonical = json.dumps({k: record[k] for k in keys}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _conflicts(inspector_ids: list[int], org_ids: list[int]) -> dict[str, list[int]]:
    """{organisation id: [inspector ids]} for inspectors who work or worked there: recorded
    affiliations and the employments of the inspector's registry record."""
    if not inspector_ids or not org_ids:
        return {}
    pairs = set(db.session.execute(
        select(InspectorAffiliation.organisation_id, InspectorAffiliation.inspector_id)
        .where(InspectorAffiliation.inspector_id.in_(inspector_ids),
               InspectorAffiliation.organisation_id.in_(org_ids))).all())
    pairs |= set(db.session.execute(
        select(Employment.organisation_id, Inspector.id)
        .join(Inspector, Inspector.person_id == Employment.person_id)
        .where(Inspector.id.in_(inspector_ids), Employment.organisation_id.in_(org_ids))).all())
    found: dict[str, list[int]] = {}
    for org_id, inspector_id in sorted(pairs):
        found.setdefault(str(org_id), []).append(inspector_id)
    return found


def _clean_seed(seed) -> str:
    seed = (seed or "").strip()
    if not seed:
        return secrets.token_hex(8)
    if len(seed) > SEED_MAX or not seed.isprintable():
        raise DomainError(_l("The seed is at most 64 printable characters."), field="seed")
    return seed


def draw(actor, task: InspectionTask, seed: str | None = None) -> InspectionDraw:
    """Draw the task's institutions and teams (or draw again before it is announced), storing
    the seed, the pools and the conflicts so anyone can run it again."""
    authorize(actor, rules.can_run_task, task=task)
    action = A.REDRAW if TaskState(task.state) == S.DRAWN else A.DRAW
    TASK.next_state(task, action)  # refuse an announced or closed task before any work
    seed = _clean_seed(seed)
    institution_pool = [o.id for o in institutions_of(task.district_id)]
    inspectors = list(db.session.scalars(
        select(Inspector).where(Inspector.district_id == task.district_id,
                                Inspector.is_active.is_(True)).order_by(Inspector.id)))
    inspector_pool = [i.id for i in inspectors]
    conflicts = _conflicts(inspector_pool, institution_pool)
    picks = run_draw(seed, institution_pool, inspector_pool, conflicts,
                     draw_percent=task.draw_percent, draw_count=task.draw_count,
                     per_institution=task.inspectors_per_institution)
    record = {"seed": seed, "institution_pool": institution_pool, "inspector_pool": inspector_pool,
              "conflicts": conflicts, "draw_percent": task.draw_percent,
              "draw_count": task.draw_count, "drawn_count": len(picks),
              "inspectors_per_institution": task.inspectors_per_institution, "picks": picks}
    TASK.apply(actor, task, action, seed=seed)
    # a draw again replaces the visits (nothing was recorded on them: the task is not announced)
    visit_ids = select(InspectionVisit.id).where(InspectionVisit.task_id == task.id)
    db.session.execute(delete(VisitInspector).where(VisitInspector.visit_id.in_(visit_ids)))
    db.session.execute(delete(InspectionVisit).where(InspectionVisit.task_id == task.id))
    row = InspectionDraw(task_id=task.id, digest=draw_digest(record),
                         drawn_by_id=getattr(actor, "id", None), **record)
    db.session.add(row)
    leaders = {i.id for i in inspectors if i.is_leader}
    for position, (org_id, team) in enumerate(picks, start=1):
        visit = InspectionVisit(task_id=task.id, organisation_id=org_id, position=position)
        db.session.add(visit)
        db.session.flush()
        leader = next((i for i in team if i in leaders), team[0])
        for n, inspector_id in enumerate(team, start=1):
            db.session.add(VisitInspector(visit_id=visit.id, inspector_id=inspector_id,
                                          position=n, is_leader=inspector_id == leader))
    db.session.flush()
    db.session.expire(task, ["visits", "draws"])
    audit.record(actor, "enforcement.inspection_drawn", task, seed=seed, digest=row.digest,
                 pool=len(institution_pool), drawn=len(picks))
    return row


@dataclass
class DrawCheck:
    ok: bool
    problems: list[str] = field(default_factory=list)


def verify_draw(task: InspectionTask) -> DrawCheck:
    """Run the task's draw again from what it stored and compare: the digest, the picks and
    the visits and teams in the database."""
    row = task.draw
    if row is None:
        return DrawCheck(False, [str(_l("The task has not been drawn."))])
    record = {"seed": row.seed, "institution_pool": row.institution_pool,
              "inspector_pool": row.inspector_pool, "conflicts": row.conflicts,
              "draw_percent": row.draw_percent, "draw_count": row.draw_count,
              "drawn_count": row.drawn_count,
              "inspectors_per_institution": row.inspectors_per_institution, "picks": row.picks}
    problems = []
    if draw_digest(record) != row.digest:
        problems.append(str(_l("The stored draw does not match its published digest: its seed, "
                               "pools or picks were changed.")))
    try:
        again = run_draw(row.seed, row.institution_pool, row.inspector_pool, row.conflicts,
                         draw_percent=row.draw_percent, draw_count=row.draw_count,
                         per_institution=row.inspectors_per_institution)
    except DomainError as err:
        again = None
        problems.append(str(err))
    if again is not None and again != row.picks:
        problems.append(str(_l("Running the draw again from its seed and pools picks other "
                               "institutions or inspectors.")))
    stored = [[v.organisation_id, [m.inspector_id for m in v.team]] for v in task.visits]
    if stored != row.picks:
        problems.append(str(_l("The institutions and teams on record differ from the draw.")))
    return DrawCheck(not problems, problems)


# --- visits: 人证合一 checks and results ----------------------------------------------------------


def visit_open(visit: InspectionVisit) -> bool:
    """Checks and results are recorded while the task is announced and not closed."""
    return TaskState(visit.task.state) == S.PUBLISHED


def _check_open(visit: InspectionVisit) -> None:
    if not visit_open(visit):
        raise DomainError(_l("Checks and results are recorded once the task is announced and "
                             "until its results are published."))


def _staff_ids(org_id: int) -> select:
    return select(Employment.person_id).where(Employment.organisation_id == org_id,
                                              Employment.end_date.is_(None))


def find_for_check(actor, visit: InspectionVisit, *, id_number: str = "", certificate_no: str = "",
                   name: str = "") -> list[Person]:
    """Find the people a 人证合一 check is about among the institution's current staff, by
    identity number, certificate number or name (one of them); audited, the number masked."""
    authorize(actor, rules.can_inspect_visit, visit=visit)
    given = [k for k, v in (("id_number", id_number), ("certificate_no", certificate_no),
                            ("name", name)) if (v or "").strip()]
    if len(given) != 1:
        raise DomainError(_l("Give one of: identity number, certificate number or name."),
                          field="id_number")
    staff = _staff_ids(visit.organisation_id)
    key = given[0]
    if key == "id_number":
        number = normalise_id_number(id_number)
        stmt = select(Person).where(Person.id_number == number, Person.id.in_(staff))
        detail = mask_id_number(number)
    elif key == "certificate_no":
        value = certificate_no.strip()[:60]
        holders = select(Certificate.person_id).where(Certificate.number == value.upper()).union(
            select(Qualification.person_id).where(Qualification.certificate_no == value))
        stmt = select(Person).where(Person.id.in_(holders), Person.id.in_(staff))
        detail = value
    else:
        value = name.strip()[:60]
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = select(Person).where(Person.name.like(f"%{escaped}%", escape="\\"),
                                    Person.id.in_(staff))
        detail = value
    found = list(db.session.scalars(stmt.order_by(Person.name, Person.id).limit(20)))
    audit.record(actor, "enforcement.check_lookup", visit, by=key, value=detail, found=len(found))
    return found


@dataclass
class CheckSheet:
    """What an inspector sees of a person on site."""

    person: Person
    has_photo: bool
    employments: list[Employment]
    certificates: list[Certificate]
    #: certificates and training records entered by hand, with their state's title
    qualifications: list[tuple[Qualification, str]]
    hours: list
    health_check: StaffRecord | None
    ban: Ban | None
    checks: list[IdentityCheck]


def _latest_health_check(person_id: int) -> StaffRecord | None:
    return registry.latest_staff_records([person_id])[person_id].get(
        StaffRecordKind.HEALTH_CHECK.value)


def _qualification_state(q: Qualification, today: date) -> str:
    if q.revoked_at is not None:
        return str(_l("Revoked"))
    if q.expires_on is not None and q.expires_on < today:
        return str(_l("Expired"))
    return str(_l("Valid"))


def _staff_member(visit: InspectionVisit, person: Person) -> list[Employment]:
    employments = list(db.session.scalars(
        select(Employment).where(Employment.person_id == person.id,
                                 Employment.organisation_id == visit.organisation_id,
                                 Employment.end_date.is_(None)).order_by(Employment.id)))
    if not employments:
        raise NotFound(_l("This person does not work at the institution inspected."))
    return employments


def check_sheet(actor, visit: InspectionVisit, person: Person) -> CheckSheet:
    """The person's photo, posts, certificates, this year's hours, health check and bans."""
    authorize(actor, rules.can_inspect_visit, visit=visit)
    employments = _staff_member(visit, person)
    today = local_today()
    qualifications = list(db.session.scalars(
        select(Qualification).where(Qualification.person_id == person.id,
                                    Qualification.source != "issued")
        .order_by(Qualification.issued_on.desc())))
    checks = list(db.session.scalars(
        select(IdentityCheck).where(IdentityCheck.visit_id == visit.id,
                                    IdentityCheck.person_id == person.id)
        .order_by(IdentityCheck.id.desc())))
    audit.record(actor, "enforcement.check_sheet_viewed", person, visit_id=visit.id)
    return CheckSheet(
        person=person, has_photo=db.session.get(PersonPhoto, person.id) is not None,
        employments=employments,
        certificates=list(db.session.scalars(
            select(Certificate).where(Certificate.person_id == person.id)
            .order_by(Certificate.issued_on.desc()))),
        qualifications=[(q, _qualification_state(q, today)) for q in qualifications],
        hours=ledger.year_progress(person, this_year()),
        health_check=_latest_health_check(person.id),
        ban=registry.ban_gate([person.id_number], today).get(person.id_number),
        checks=checks)


def record_check(actor, visit: InspectionVisit, person: Person, *, result: str, note: str = "",
                 photo: bytes | None = None) -> IdentityCheck:
    """Record one 人证合一 check: match, mismatch, absent or a note, with an optional photo
    taken on site (re-encoded like every photo). A mismatch becomes a follow-up."""
    authorize(actor, rules.can_inspect_visit, visit=visit)
    _check_open(visit)
    _staff_member(visit, person)
    try:
        result = CheckResult(result)
    except ValueError:
        raise DomainError(_l("Choose the result of the check."), field="result") from None
    note = _text(note, 2000)
    if result in (CheckResult.MISMATCH, CheckResult.NOTE) and not note:
        raise DomainError(_l("Say what was found."), field="note")
    jpeg = registry.reencode_photo(photo)[0] if photo else None
    check = IdentityCheck(visit_id=visit.id, person_id=person.id, result=result.value, note=note,
                          checked_by_id=getattr(actor, "id", None))
    db.session.add(check)
    db.session.flush()
    if jpeg is not None:
        db.session.add(IdentityCheckPhoto(check_id=check.id, data=jpeg))
    audit.record(actor, "enforcement.identity_checked", check, result=result.value,
                 person_id=person.id, visit_id=visit.id, photo=jpeg is not None)
    db.session.flush()
    return check


def checks_of(visit: InspectionVisit) -> list[IdentityCheck]:
    return list(db.session.scalars(select(IdentityCheck).where(IdentityCheck.visit_id == visit.id)
                                   .order_by(IdentityCheck.id.desc())))


def check_photo(check: IdentityCheck) -> bytes | None:
    photo = db.session.get(IdentityCheckPhoto, check.id)
    return photo.data if photo else None


def with_photos(check_ids: list[int]) -> set[int]:
    """Which of these checks have a photo taken on site."""
    if not check_ids:
        return set()
    return set(db.session.scalars(select(IdentityCheckPhoto.check_id)
                                  .where(IdentityCheckPhoto.check_id.in_(check_ids))))


def record_visit_result(actor, visit: InspectionVisit, *, outcome: str, findings: str = "",
                        rectify_by: date | None = None, inspected_on: date | None = None,
                        closed: bool = False) -> InspectionVisit:
    """Record an institution's result: what was found, a rectification deadline when
    problems were found, and whether the matter is closed."""
    authorize(actor, rules.can_inspect_visit, visit=visit)
    _check_open(visit)
    try:
        outcome = VisitOutcome(outcome)
    except ValueError:
        raise DomainError(_l("Choose the result."), field="outcome") from None
    findings = _text(findings, 4000)
    inspected_on = inspected_on or local_today()
    if inspected_on > local_today():
        raise DomainError(_l("The inspection date cannot be in the future."), field="inspected_on")
    if outcome == VisitOutcome.RECTIFY:
        if not findings:
            raise DomainError(_l("Say what must be rectified."), field="findings")
        if rectify_by is None or rectify_by <= inspected_on:
            raise DomainError(_l("Give a rectification deadline after the inspection."),
                              field="rectify_by")
    else:
        rectify_by = None
    visit.outcome, visit.findings, visit.rectify_by = outcome.value, findings, rectify_by
    visit.inspected_on = inspected_on
    visit.recorded_at = utc_now()
    visit.recorded_by_id = getattr(actor, "id", None)
    visit.closed_at = utc_now() if (closed or outcome == VisitOutcome.COMPLIANT) else None
    db.session.flush()
    audit.record(actor, "enforcement.inspection_result_recorded", visit, outcome=outcome.value,
                 closed=visit.closed_at is not None)
    return visit


# --- follow-ups and the report of institutions not inspected --------------------------------------


def follow_ups(actor) -> list[IdentityCheck]:
    """Mismatches not yet resolved, in the districts the actor regulates."""
    authorize(actor, rules.can_manage_inspections)
    return list(db.session.scalars(
        select(IdentityCheck).join(InspectionVisit, InspectionVisit.id == IdentityCheck.visit_id)
        .join(InspectionTask, InspectionTask.id == InspectionVisit.task_id)
        .where(IdentityCheck.result == CheckResult.MISMATCH.value,
               IdentityCheck.resolved_at.is_(None),
               _district_filter(InspectionTask.district_id, actor))
        .order_by(IdentityCheck.created_at, IdentityCheck.id)))


def resolve_follow_up(actor, check: IdentityCheck, resolution: str) -> IdentityCheck:
    """Close a mismatch's follow-up with what was done."""
    authorize(actor, rules.can_see_identity_check, identity_check=check)
    if check.result != CheckResult.MISMATCH.value or check.resolved_at is not None:
        raise DomainError(_l("This check has no open follow-up."))
    resolution = _text(resolution, 2000)
    if not resolution:
        raise DomainError(_l("Say what was done."), field="resolution")
    check.resolved_at, check.resolved_by_id, check.resolution = utc_now(), actor.id, resolution
    db.session.flush()
    audit.record(actor, "enforcement.follow_up_resolved", check)
    return check


@dataclass
class NotInspected:
    organisation: Organisation
    #: drawn in a task of the year, its result not yet recorded
    scheduled: bool


def not_inspected(actor, year: int | None = None) -> list[NotInspected]:
    """Active institutions in the actor's districts with no inspection result recorded in the
    year (the seeds ask for at least one inspection a year)."""
    authorize(actor, rules.can_manage_inspections)
    year = year or this_year()
    visits_of_year = (select(InspectionVisit.organisation_id, InspectionVisit.recorded_at)
                      .join(InspectionTask, InspectionTask.id == InspectionVisit.task_id)
                      .where(InspectionTask.year == year))
    inspected = {org_id for org_id, recorded in db.session.execute(visits_of_year) if recorded}
    scheduled = {org_id for org_id, recorded in db.session.execute(visits_of_year) if not recorded}
    orgs = db.session.scalars(
        select(Organisation).where(Organisation.kind == OrgKind.INSTITUTION.value,
                                   Organisation.is_active.is_(True),
                                   _district_filter(Organisation.district_id, actor))
        .order_by(Organisation.district_id, Organisation.name, Organisation.id))
    return [NotInspected(o, o.id in scheduled) for o in orgs if o.id not in inspected]


def home_summary(actor) -> dict:
    """The regulator's home section: open follow-ups and institutions not yet inspected."""
    return {"follow_ups": len(follow_ups(actor)), "not_inspected": len(not_inspected(actor)),
            "year": this_year()}


# --- public notices (no personal data: institution names, inspector names, results) -------------


def plan_years() -> list[int]:
    return list(db.session.scalars(select(InspectionTask.year).distinct()
                                   .order_by(InspectionTask.year.desc())))


def plan_notice(year: int) -> list[InspectionTask]:
    """计划公告: every task of the year with its items and the share or count drawn."""
    return list(db.session.scalars(select(InspectionTask).where(InspectionTask.year == year)
                                   .order_by(InspectionTask.district_id, InspectionTask.id)))


def is_announced(task: InspectionTask) -> bool:
    """The task notice (任务公告) is public once the task is announced."""
    return TaskState(task.state) in (S.PUBLISHED, S.CLOSED)


def results_published(task: InspectionTask) -> bool:
    """The results notice (结果公告) is public once the task is closed."""
    return TaskState(task.state) == S.CLOSED


def announced_tasks() -> list[InspectionTask]:
    return list(db.session.scalars(
        select(InspectionTask).where(InspectionTask.state.in_([S.PUBLISHED.value, S.CLOSED.value]))
        .order_by(InspectionTask.year.desc(), InspectionTask.id.desc())))


def visit_counts(task_ids: list[int]) -> dict[int, int]:
    if not task_ids:
        return {}
    return dict(db.session.execute(
        select(InspectionVisit.task_id, func.count()).where(InspectionVisit.task_id.in_(task_ids))
        .group_by(InspectionVisit.task_id)).all())
