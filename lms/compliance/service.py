"""What compliance means for a person (issue 14): one service that every page, export, command
and (later) the API asks.

A person is compliant when, on the date:
- every current post is held with a valid certificate the post requires, at its minimum level
  (`registry.service.check_posts`, `PostRequirement.min_level`);
- this year's skills and ethics hours are on track: at least required × day-of-year /
  days-in-year of the district's dated requirement (`ledger.service.required_hours`);
- the latest health check is fit and less than a year old (lapsed from the day it lapses);
- a certificate of no criminal record is on file;
- the person is not banned (the one gate's rule: `registry.service.ban_gate`, read here with the
  person's other rows through `bans_held_against` and `gate_answer`);
- no post marked full-time only (a dated per-post, per-district setting) is held while the
  person is employed at another institution at the same time (挂靠).
Certificates expiring within `compliance.expiry_warning_days` are warnings, not gaps.

`compliance_for(actor, persons, on)` is the batch form (a fixed number of queries per batch);
`person_compliance(actor, person, on)` asks it for one person.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import get_translations
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Integer, String, and_, bindparam, func, select
from sqlalchemy.orm import aliased, joinedload

from lms.auth.models import Role
from lms.core import jobs, settings
from lms.core.actors import is_system
from lms.core.bulk import chunks, one_of
from lms.core.clock import local_today
from lms.core.errors import DomainError, PermissionDenied
from lms.core.permissions import authorize
from lms.extensions import db
from lms.ledger import service as ledger
from lms.registry import service as registry
from lms.registry.models import (
    Ban,
    Employment,
    HealthResult,
    Organisation,
    OrgKind,
    Person,
    Post,
    PostRequirement,
    Qualification,
    StaffRecord,
    StaffRecordKind,
)

from . import permissions as rules

# --- settings ------------------------------------------------------------------------------------

settings.define("compliance.expiry_warning_days", _l("Warn of certificates expiring within"),
                "int", 90, 0, 730, _l("days"))
settings.define("compliance.hours_target_percent",
                _l("Target: share of staff on track with this year's hours"), "percent", 100, 0,
                100, "%")
settings.define("compliance.health_target_percent",
                _l("Target: share of staff with a current health check"), "percent", 100, 0, 100,
                "%")
settings.define("compliance.record_target_percent",
                _l("Target: share of staff with a certificate of no criminal record on file"),
                "percent", 100, 0, 100, "%")

YES_NO = {"yes": _l("yes"), "no": _l("no")}
#: 挂靠: posts that may not be held while employed at another institution at the same time.
#: A per-post rule (one dated setting per post, per district); 保健员 and 保育员 by default, the
#: posts provincial systems flag when filed at several institutions.
FULL_TIME_ONLY_DEFAULT = {Post.HEALTH_CARE, Post.NURSERY_CARER}
for _post in Post:
    settings.define(f"compliance.full_time_only.{_post.value}",
                    _l("Full-time only (no employment at another institution at the same time): "
                       "%(post)s", post=_post.title),
                    "choice", "yes" if _post in FULL_TIME_ONLY_DEFAULT else "no", 0, 0,
                    choices=YES_NO)

#: the targets the dashboard compares each rate with: rate name -> setting
TARGET_SETTINGS = {
    "certified": "certification.target_percent",  # the registry's, from issue 3
    "hours_on_track": "compliance.hours_target_percent",
    "health_current": "compliance.health_target_percent",
    "criminal_record_on_file": "compliance.record_target_percent",
}
TARGET_PREFIXES = ("certification.target_percent", "compliance.")

LEVEL_NAMES = {5: _l("level 5"), 4: _l("level 4"), 3: _l("level 3"), 2: _l("level 2"),
               1: _l("level 1")}


class GapCode:
    """Stable codes of what a person lacks (the API and the exports carry them)."""

    POST_UNCERTIFIED = "post_uncertified"
    SKILLS_BEHIND = "skills_behind"
    ETHICS_BEHIND = "ethics_behind"
    HEALTH_MISSING = "health_missing"
    HEALTH_LAPSED = "health_lapsed"
    HEALTH_UNFIT = "health_unfit"
    RECORD_MISSING = "record_missing"
    BANNED = "banned"
    MULTI_INSTITUTION = "multi_institution"
    CERTIFICATE_EXPIRING = "certificate_expiring"  # a warning, not a gap

    ALL = ("post_uncertified", "skills_behind", "ethics_behind", "health_missing",
           "health_lapsed", "health_unfit", "record_missing", "banned", "multi_institution",
           "certificate_expiring")


GAP_TITLES = {
    GapCode.POST_UNCERTIFIED: _l("Not certified for a post"),
    GapCode.SKILLS_BEHIND: _l("Behind on skills hours"),
    GapCode.ETHICS_BEHIND: _l("Behind on ethics hours"),
    GapCode.HEALTH_MISSING: _l("No health check"),
    GapCode.HEALTH_LAPSED: _l("Health check lapsed"),
    GapCode.HEALTH_UNFIT: _l("Health check: not fit"),
    GapCode.RECORD_MISSING: _l("No certificate of no criminal record"),
    GapCode.BANNED: _l("Banned and still employed"),
    GapCode.MULTI_INSTITUTION: _l("Employed at several institutions"),
    GapCode.CERTIFICATE_EXPIRING: _l("Certificate expiring soon"),
}


# --- what the service answers -----------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    #: one of GapCode
    code: str
    #: translated; says what closes it
    message: str
    #: "gap" (non-compliant) or "warning" (compliant, but act soon)
    severity: str = "gap"

    @property
    def title(self) -> str:
        return str(GAP_TITLES[self.code])


@dataclass
class PostStatus:
    employment: Employment
    certified: bool
    #: "育婴员 四级 or 保育师": what would satisfy the post, when not certified
    missing: str = ""
    #: the last day the certificates that satisfy the post are valid (None: no end)
    certified_until: date | None = None
    #: the post's rules (alternatives), from which `missing` is written
    required: list[PostRequirement] = field(default_factory=list, repr=False)


@dataclass
class HoursStatus:
    category: str
    hours: Decimal
    required: Decimal
    #: pro rata for the date: required × day-of-year / days-in-year
    expected: Decimal

    @property
    def on_track(self) -> bool:
        return self.hours >= self.expected

    @property
    def to_go(self) -> Decimal:
        return max(Decimal(0), self.required - self.hours)


@dataclass
class HealthStatus:
    #: "current", "lapsed", "unfit" or "missing"
    state: str
    record: StaffRecord | None = None
    lapses_on: date | None = None

    @property
    def current(self) -> bool:
        return self.state == "current"


@dataclass
class PersonCompliance:
    person: Person
    on: date
    #: the person's current employments the actor may see, with their certification
    posts: list[PostStatus] = field(default_factory=list)
    skills: HoursStatus | None = None
    ethics: HoursStatus | None = None
    health: HealthStatus = field(default_factory=lambda: HealthStatus("missing"))
    #: the latest certificate of no criminal record, if any
    criminal_record: StaffRecord | None = None
    ban: Ban | None = None
    #: number of institutions the person works at now (all of them, whatever the scope)
    institutions: int = 0
    #: full-time-only posts held while employed elsewhere
    multi_posts: list[Post] = field(default_factory=list)
    expiring: list[Qualification] = field(default_factory=list)
    #: the first day another certificate held enters the expiry warning (None: none will)
    warning_from: date | None = None
    gaps: list[Gap] = field(default_factory=list)

    @property
    def certified(self) -> bool:
        return all(p.certified for p in self.posts)

    @property
    def hours_on_track(self) -> bool:
        return bool(self.skills and self.ethics and self.skills.on_track and self.ethics.on_track)

    @property
    def health_current(self) -> bool:
        return self.health.current

    @property
    def record_on_file(self) -> bool:
        return self.criminal_record is not None

    @property
    def banned(self) -> bool:
        return self.ban is not None

    @property
    def multi_institution(self) -> bool:
        return bool(self.multi_posts)

    @property
    def employed(self) -> bool:
        return bool(self.posts)

    @property
    def blocking_gaps(self) -> list[Gap]:
        return [g for g in self.gaps if g.severity == "gap"]

    @property
    def is_compliant(self) -> bool:
        return not self.blocking_gaps

    @property
    def gap_codes(self) -> list[str]:
        return [g.code for g in self.gaps]

    def stable_until(self) -> date:
        """The first day this answer may change with the date alone, no record written: a
        health check lapsing, a certificate expiring, a term ban ending, the pro-rata hours
        overtaking the hours done, or the new year (new yearly hours). Until then the summary
        row stays right without recomputing (rollups.refresh relies on it)."""
        end = date(self.on.year + 1, 1, 1)
        days = [end]
        for hours in (self.skills, self.ethics):
            if hours is not None and hours.on_track:
                days.append(_behind_from(hours, self.on, end))
        if self.health.state == "current" and self.health.lapses_on:
            days.append(self.health.lapses_on)
        days += [p.certified_until + timedelta(days=1) for p in self.posts
                 if p.certified and p.certified_until is not None]
        if self.ban is not None and self.ban.ends_on is not None:
            days.append(self.ban.ends_on)
        return max(self.on + timedelta(days=1), min(days))

    def to_dict(self) -> dict:
        """Plain data for the API and jobs: codes, dates as ISO strings, hours as strings."""
        def hours(h: HoursStatus | None):
            return None if h is None else {
                "hours": str(h.hours), "required": str(h.required), "expected": str(h.expected),
                "to_go": str(h.to_go), "on_track": h.on_track}

        return {
            "person_id": self.person.id, "on": self.on.isoformat(), "compliant": self.is_compliant,
            "posts": [{"employment_id": p.employment.id,
                       "organisation_id": p.employment.organisation_id,
                       "post": p.employment.post, "certified": p.certified, "missing": p.missing}
                      for p in self.posts],
            "skills": hours(self.skills), "ethics": hours(self.ethics),
            "health": {"state": self.health.state,
                       "issued_on": self.health.record.issued_on.isoformat()
                       if self.health.record else None,
                       "lapses_on": self.health.lapses_on.isoformat()
                       if self.health.lapses_on else None},
            "criminal_record_on": self.criminal_record.issued_on.isoformat()
            if self.criminal_record else None,
            "banned": self.banned, "institutions": self.institutions,
            "multi_institution_posts": [p.value for p in self.multi_posts],
            "expiring": [{"qualification_id": q.id, "type": q.qualification_type.code,
                          "expires_on": q.expires_on.isoformat()} for q in self.expiring],
            "gaps": [{"code": g.code, "severity": g.severity, "message": g.message}
                     for g in self.gaps],
        }


# --- scope -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What an actor sees: "city" (everything), "district" or "institution"."""

    kind: str
    district_id: int | None = None
    organisation_id: int | None = None

    def sees_person(self, employments: list[Employment]) -> bool:
        """Given all of a person's employments (organisations loaded)."""
        if self.kind == "city":
            return True
        if self.kind == "district":
            return any(e.organisation.district_id == self.district_id for e in employments)
        return any(e.organisation_id == self.organisation_id and e.end_date is None
                   for e in employments)

    def visible_employments(self, employments: list[Employment]) -> list[Employment]:
        """Of a person's employments, those the scope shows: a district sees its own
        institutions' history, and a person's other current employments only while the person
        works in the district now (never a leaver's new employment elsewhere)."""
        if self.kind == "city":
            return list(employments)
        if self.kind == "institution":
            return [e for e in employments if e.organisation_id == self.organisation_id]
        here_now = any(e.end_date is None and e.organisation.district_id == self.district_id
                       for e in employments)
        return [e for e in employments if e.organisation.district_id == self.district_id
                or (here_now and e.end_date is None)]


CITY = Scope("city")


def scope_for(actor) -> Scope:
    """The actor's compliance scope; PermissionDenied for anyone without one."""
    authorize(actor, rules.can_view_compliance,
              message=_l("Only regulators and institutions see compliance."))
    if is_system(actor) or rules.sees_city(actor):
        return CITY
    if actor.role == Role.REGULATOR:
        return Scope("district", district_id=actor.district_id)
    return Scope("institution", organisation_id=actor.organisation_id)


# --- the lower packages' records ---------------------------------------------------------------------


def health_check_lapses_on(record: StaffRecord, months: int | None = None) -> date:
    """The first day a health check no longer counts (the registry's rule; the validity in
    months is the district's dated setting, one year unless changed)."""
    return registry.health_check_lapses_on(
        record, months if months is not None else registry.health_check_valid_months())


def _expiring(held: dict[int, list[Qualification]], on: date,
              days: int) -> dict[int, list[Qualification]]:
    """Of the people's valid qualifications, those expiring within `days` of the date, soonest
    first (valid on the date: not revoked, issued, expires_on on or after the date)."""
    last = on + timedelta(days=days)
    return {pid: sorted((q for q in qs if days > 0 and q.expires_on is not None
                         and on <= q.expires_on <= last), key=lambda q: (q.expires_on, q.id))
            for pid, qs in held.items()}


def _warning_from(held: list[Qualification], on: date, days: int) -> date | None:
    """The first day after `on` on which one more of these certificates is expiring."""
    if days <= 0:
        return None
    last = on + timedelta(days=days)
    later = [q.expires_on for q in held if q.expires_on is not None and q.expires_on > last]
    return min(later) - timedelta(days=days) if later else None


@dataclass
class _Records:
    """The rows the rules read for a batch of people, each keyed by person id."""

    #: all employments (history too), institutions loaded, latest start first
    employments: dict[int, list[Employment]]
    #: qualifications valid on the date (registry.valid_qualifications' rule)
    held: dict[int, list[Qualification]]
    #: this year's kept totals {category: hours}; a category never credited is absent
    totals: dict[int, dict[str, Decimal]]
    #: the latest record of each kind (registry.latest_staff_records' rule)
    records: dict[int, dict[str, StaffRecord]]
    #: the ban the gate answers for the person's number (registry.ban_gate's rule); none: absent
    bans: dict[int, Ban]
    #: the people read with their rows (by identity number)
    persons: dict[int, Person] = field(default_factory=dict)


#: the staff records and the ledger categories the rules read, in _records_statements' order
RECORD_KINDS = (StaffRecordKind.HEALTH_CHECK.value, StaffRecordKind.NO_CRIMINAL_RECORD.value)
CATEGORIES = ("skills", "ethics")


@functools.cache
def _records_statements():
    """_records' two statements, without their people (the caller adds `WHERE persons.id …`)
    and with the date and its year as parameters (`compliance_on`, `compliance_year`):

    - (person id, Employment with its institution, Qualification with its type): the parts of
      which a person has several;
    - (person id, latest health check, latest certificate of no criminal record, Ban, skills
      hours, ethics hours): the parts of which a person has one at most (bans: rarely more).

    Two, not one: the planner's work grows with the relations of one statement faster than the
    round trip it saves (one statement of all nine relations took longer to plan than these
    two together take to run). Built once: building them (their aliases) cost more than
    running them."""
    on = bindparam("compliance_on", type_=Date)
    year = bindparam("compliance_year", type_=Integer)
    health, record = (aliased(StaffRecord, name=kind) for kind in RECORD_KINDS)
    several = (
        select(Person.id, Employment, Qualification).select_from(Person)
        .outerjoin(Employment, Employment.person_id == Person.id)
        .outerjoin(Qualification, and_(Qualification.person_id == Person.id,
                                       registry.qualification_valid_on(on)))
        .options(joinedload(Employment.organisation)))
    single = (
        select(Person.id, health, record, Ban,
               *(ledger.year_hours(Person.id, year, c).label(f"{c}_hours")
                 for c in CATEGORIES))
        .select_from(Person)
        .outerjoin(health, health.id == registry.latest_staff_record_id(Person.id,
                                                                        RECORD_KINDS[0]))
        .outerjoin(record, record.id == registry.latest_staff_record_id(Person.id,
                                                                        RECORD_KINDS[1]))
        .outerjoin(Ban, registry.bans_held_against(Person, on)))
    return several, single


@functools.cache
def _one_person_statements():
    """_records' statements for one person (a person's page), whole: built once, so no call
    pays for building them and their cache key again (~0.2 ms)."""
    one = Person.id == bindparam("compliance_person", type_=Integer)
    return tuple(statement.where(one) for statement in _records_statements())


@functools.cache
def _by_number_statements():
    """_records' statements for the person with an identity number (its keyed hash is the
    parameter `compliance_number`), the first reading the Person too: no lookup before them."""
    several, single = _records_statements()
    one = Person.id_number_hash == bindparam("compliance_number", type_=String)
    return several.add_columns(Person).where(one), single.where(one)


def _records(person_ids: list[int], on: date, *, number: str | None = None) -> _Records:
    """Every row the rules read for these people, in two statements per 5,000 people (where
    there were five): each person's row outer-joined to their employments (with institutions)
    and valid qualifications; and to the parts of which a person has one at most (the latest
    health check, the latest certificate of no criminal record, the year's skills and ethics
    totals) and the bans in force against their number. Each part's rule is the lower
    package's (registry.qualification_valid_on, latest_staff_record_id, bans_held_against and
    gate_answer; ledger.year_hours): it stays defined once. With `number` (normalised) instead
    of ids: the person with that identity number, read with their rows (`persons`)."""
    out = _Records({}, {}, {}, {}, {})
    params = {"compliance_on": on, "compliance_year": on.year}
    employments: dict[int, dict[int, Employment]] = {}
    held: dict[int, dict[int, Qualification]] = {}
    bans: dict[int, dict[int, Ban]] = {}

    def start(pid: int) -> None:
        for rows in (employments, held, bans, out.totals, out.records):
            rows.setdefault(pid, {})

    for pid in person_ids:
        start(pid)
    if number is not None:
        _column, (digest,) = Person.id_number.hashed([number])
        batches = [(_by_number_statements(), {"compliance_number": digest})]
    else:
        several, single = _records_statements()
        batches = [(_one_person_statements(), {"compliance_person": chunk[0]}) if len(chunk) == 1
                   else ((several.where(one_of(Person.id, chunk)),
                          single.where(one_of(Person.id, chunk))), {})
                   for chunk in chunks(person_ids)]
    for (several_of, single_of), extra in batches:
        for pid, employment, qualification, *person in db.session.execute(several_of,
                                                                          {**params, **extra}):
            if person:
                out.persons[pid] = person[0]
                start(pid)
            if employment is not None:
                employments[pid][employment.id] = employment
            if qualification is not None:
                held[pid][qualification.id] = qualification
        if number is not None and not out.persons:
            break  # no such person: nothing more to read
        for pid, *latest, ban, skills, ethics in db.session.execute(single_of, {**params, **extra}):
            for kind, found in zip(RECORD_KINDS, latest, strict=True):
                if found is not None:
                    out.records[pid][kind] = found
            if ban is not None:
                bans[pid][ban.id] = ban
            for category, value in zip(CATEGORIES, (skills, ethics), strict=True):
                if value is not None:
                    out.totals[pid][category] = value
    for pid in employments:
        out.employments[pid] = sorted(employments[pid].values(),
                                      key=lambda e: (e.start_date, e.id), reverse=True)
        out.held[pid] = sorted(held[pid].values(), key=lambda q: q.id)
        if bans[pid]:
            out.bans[pid] = registry.gate_answer(bans[pid].values())
    return out


#: the settings the rules read, preloaded with one query per batch
RULE_SETTING_PREFIXES = ("compliance.", "hours.", "registry.health_check_valid_months")


class _Settings:
    """Dated settings per district, all read with one query per batch."""

    def __init__(self, on: date):
        self.on = on
        self._view = settings.SettingsOn(RULE_SETTING_PREFIXES, on)
        self._required: dict[int | None, dict[str, Decimal]] = {}

    def get(self, key: str, district_id: int | None):
        return self._view.get(key, district_id)

    def required(self, district_id: int | None) -> dict[str, Decimal]:
        if district_id not in self._required:
            self._required[district_id] = ledger.required_hours(district_id, self.on,
                                                                get=self._view.get)
        return self._required[district_id]


@functools.lru_cache(maxsize=4096)
def pro_rata(required: Decimal, on: date) -> Decimal:
    """The hours one should have by the date: required × day-of-year / days-in-year."""
    days = 366 if calendar.isleap(on.year) else 365
    day = on.timetuple().tm_yday
    return (Decimal(required) * day / days).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _behind_from(hours: HoursStatus, on: date, end: date) -> date:
    """The first day after `on` on which the pro-rata hours exceed the hours done (`end` if
    none before it); pro_rata only grows with the day, so a binary search finds it."""
    low, high = 1, (end - on).days  # the answer lies in (on, end]
    if pro_rata(hours.required, end - timedelta(days=1)) <= hours.hours:
        return end
    while low < high:
        mid = (low + high) // 2
        if pro_rata(hours.required, on + timedelta(days=mid)) > hours.hours:
            high = mid
        else:
            low = mid + 1
    return on + timedelta(days=low)


def _qualification_names(required: list[PostRequirement]) -> str:
    names = []
    for req in required:
        name = req.qualification_type.title
        if req.min_level is not None:
            name = f"{name} {LEVEL_NAMES[req.min_level]}"
        names.append(name)
    return _(" or ").join(names)


def _hours_text(hours: Decimal) -> str:
    value = hours.quantize(Decimal("0.01")).normalize()
    return f"{value:f}"


# --- the rules ---------------------------------------------------------------------------------------


def compliance_for(actor, persons: Iterable[Person], on: date | None = None, *,
                   messages: bool = True,
                   organisation_id: int | None = None) -> dict[int, PersonCompliance]:
    """Compliance of many people at once, in the actor's scope: {person_id: PersonCompliance}.

    A fixed number of queries per batch, whatever the number of people: two statements per
    5,000 people read their employments, qualifications, yearly totals, latest staff records
    and bans (`_records`); the post rules and the settings come from the reference cache (one
    query each when it is cold). People outside the actor's scope are left out.
    `messages=False` leaves the gaps' messages empty (codes only: the roll-ups' fast path).
    `organisation_id`: list only the posts at that institution (an institution's page), the
    other rules unchanged."""
    return compliance_in(scope_for(actor), persons, on, messages=messages,
                         organisation_id=organisation_id)


def compliance_in(scope: Scope, persons: Iterable[Person], on: date | None = None, *,
                  messages: bool = True,
                  organisation_id: int | None = None) -> dict[int, PersonCompliance]:
    """compliance_for with the scope given, for a door that authorised its caller by its own
    rule and knows the caller's scope (the JSON API's tokens: lms.api.service). The same rules
    and queries; people outside the scope are left out."""
    on = on or local_today()
    persons = list({p.id: p for p in persons}.values())
    ids = [p.id for p in persons]
    if not ids:
        return {}
    return _answers(scope, persons, _records(ids, on), on, messages=messages,
                    organisation_id=organisation_id)


def compliance_by_number(scope: Scope, id_number: str,
                         on: date | None = None) -> PersonCompliance | None:
    """The compliance of the person with this identity number, in the scope: None when it is
    not a valid number, no person has it or the scope does not see them. Two statements: the
    person is read with their rows (the API's person status)."""
    number = registry.lookup_number(id_number)
    if number is None:
        return None
    on = on or local_today()
    found = _records([], on, number=number)
    answers = _answers(scope, list(found.persons.values()), found, on)
    return next(iter(answers.values()), None)


def _answers(scope: Scope, persons: list[Person], found: _Records, on: date, *,
             messages: bool = True,
             organisation_id: int | None = None) -> dict[int, PersonCompliance]:
    """The rules applied to the rows `_records` read for these people."""
    employments = found.employments
    persons = [p for p in persons if scope.sees_person(employments[p.id])]
    ids = [p.id for p in persons]
    if not ids:
        return {}
    current = [e for pid in ids for e in employments[pid] if e.end_date is None]
    held = {pid: found.held[pid] for pid in ids}
    checks = registry.check_posts(current, on, held=held)
    totals, records = found.totals, found.records
    conf = _Settings(on)
    warning_days = int(conf.get("compliance.expiry_warning_days", None))
    expiring = _expiring(held, on, warning_days)
    gettext = _translator() if messages else _

    result = {}
    for person in persons:
        mine = [e for e in employments[person.id] if e.end_date is None
                and e.organisation.kind == OrgKind.INSTITUTION]
        visible = set(id(e) for e in scope.visible_employments(mine))
        pc = PersonCompliance(person=person, on=on)
        for e in mine:
            if id(e) not in visible or organisation_id not in (None, e.organisation_id):
                continue
            check = checks[e.id]
            until = None
            if check.required and check.held and all(q.expires_on for q in check.held):
                until = max(q.expires_on for q in check.held)
            missing = "" if check.satisfied or not messages else _qualification_names(check.required)
            pc.posts.append(PostStatus(e, check.satisfied, missing, until, check.required))
        # the district whose settings apply: that of the latest current institution (as the
        # ledger's person_district_id decides)
        district_id = mine[0].organisation.district_id if mine else None
        required = conf.required(district_id)
        have = totals[person.id]
        pc.skills = HoursStatus("skills", Decimal(have.get("skills", 0)), required["skills"],
                                pro_rata(required["skills"], on))
        pc.ethics = HoursStatus("ethics", Decimal(have.get("ethics", 0)), required["ethics"],
                                pro_rata(required["ethics"], on))
        latest = records[person.id]
        health = latest.get(StaffRecordKind.HEALTH_CHECK.value)
        if health is None:
            pc.health = HealthStatus("missing")
        else:
            lapses = health_check_lapses_on(
                health, int(conf.get("registry.health_check_valid_months", district_id)))
            state = ("unfit" if health.result == HealthResult.UNFIT.value
                     else "lapsed" if on >= lapses else "current")
            pc.health = HealthStatus(state, health, lapses)
        pc.criminal_record = latest.get(StaffRecordKind.NO_CRIMINAL_RECORD.value)
        pc.ban = found.bans.get(person.id)
        orgs = {e.organisation_id for e in mine}
        pc.institutions = len(orgs)
        if len(orgs) > 1:
            pc.multi_posts = sorted({Post(e.post) for e in mine if conf.get(
                f"compliance.full_time_only.{e.post}", e.organisation.district_id) == "yes"},
                key=lambda p: p.value)
        pc.expiring = expiring[person.id]
        pc.warning_from = _warning_from(held[person.id], on, warning_days)
        pc.gaps = _gaps(pc, gettext) if messages else _gap_codes(pc)
        result[person.id] = pc
    return result


def person_compliance(actor, person: Person, on: date | None = None) -> PersonCompliance:
    """One person's compliance on the date (the city's today by default)."""
    authorize(actor, rules.can_view_person_compliance, person=person,
              message=_l("This person is not in your area."))
    found = compliance_for(actor, [person], on)
    if person.id not in found:
        raise PermissionDenied(_l("This person is not in your area."))
    return found[person.id]


def with_messages(rows: Iterable[PersonCompliance]) -> None:
    """Write the gaps' messages of answers computed with `messages=False` (the same gaps, in the
    same order: only their messages, and each uncertified post's `missing`, were left out)."""
    gettext = _translator()
    for pc in rows:
        for status in pc.posts:
            if not status.certified and not status.missing:
                status.missing = _qualification_names(status.required)
        pc.gaps = _gaps(pc, gettext)


def _translator():
    """Flask-Babel's gettext with this request's translations looked up once: its own looks
    them up (locale, context, cache) on every call, which a table of a hundred messages paid
    for a hundred times."""
    translations = get_translations()

    def gettext(string: str, **variables) -> str:
        text = translations.ugettext(string)
        return text % variables if variables else text

    return gettext


def _gap_codes(pc: PersonCompliance) -> list[Gap]:
    """The gaps without their messages: the same rules as _gaps, read from its answer's codes
    (kept in step by test_codes_only_match_the_messages)."""
    gaps = []
    if pc.ban is not None and pc.posts:
        gaps.append(Gap(GapCode.BANNED, ""))
    gaps += [Gap(GapCode.POST_UNCERTIFIED, "") for p in pc.posts if not p.certified]
    if pc.posts:
        if pc.skills is not None and not pc.skills.on_track:
            gaps.append(Gap(GapCode.SKILLS_BEHIND, ""))
        if pc.ethics is not None and not pc.ethics.on_track:
            gaps.append(Gap(GapCode.ETHICS_BEHIND, ""))
        health = {"missing": GapCode.HEALTH_MISSING, "lapsed": GapCode.HEALTH_LAPSED,
                  "unfit": GapCode.HEALTH_UNFIT}.get(pc.health.state)
        if health:
            gaps.append(Gap(health, ""))
        if pc.criminal_record is None:
            gaps.append(Gap(GapCode.RECORD_MISSING, ""))
        if pc.multi_posts:
            gaps.append(Gap(GapCode.MULTI_INSTITUTION, ""))
    gaps += [Gap(GapCode.CERTIFICATE_EXPIRING, "", "warning") for _q in pc.expiring]
    return gaps


def _gaps(pc: PersonCompliance, _=_) -> list[Gap]:  # `_`: a _translator(), named so for pybabel
    gaps = []
    if pc.ban is not None and pc.posts:
        gaps.append(Gap(GapCode.BANNED, _("Banned from working in childcare since %(date)s: end "
                                          "the employment.", date=pc.ban.starts_on.isoformat())))
    for status in pc.posts:
        if not status.certified:
            gaps.append(Gap(GapCode.POST_UNCERTIFIED, _(
                "%(qualification)s missing for post %(post)s.", qualification=status.missing,
                post=status.employment.post_title)))
    if pc.posts:
        for hours, code, needs in ((pc.skills, GapCode.SKILLS_BEHIND, _("skills")),
                                   (pc.ethics, GapCode.ETHICS_BEHIND, _("ethics"))):
            if hours is not None and not hours.on_track:
                gaps.append(Gap(code, _(
                    "Needs %(required)s %(category)s hours this year: %(to_go)s to go "
                    "(%(expected)s expected by today).", required=_hours_text(hours.required),
                    category=needs, to_go=_hours_text(hours.to_go),
                    expected=_hours_text(hours.expected))))
        if pc.health.state == "missing":
            gaps.append(Gap(GapCode.HEALTH_MISSING, _("No health check on file: record this "
                                                      "year's health check.")))
        elif pc.health.state == "lapsed":
            gaps.append(Gap(GapCode.HEALTH_LAPSED, _(
                "The health check lapsed on %(date)s: record a new one.",
                date=pc.health.lapses_on.isoformat())))
        elif pc.health.state == "unfit":
            gaps.append(Gap(GapCode.HEALTH_UNFIT, _(
                "The health check of %(date)s found the person not fit for work with children: "
                "record a new check that finds them fit.",
                date=pc.health.record.issued_on.isoformat())))
        if pc.criminal_record is None:
            gaps.append(Gap(GapCode.RECORD_MISSING, _(
                "No certificate of no criminal record on file: record one.")))
        if pc.multi_posts:
            gaps.append(Gap(GapCode.MULTI_INSTITUTION, _(
                "%(posts)s may not be held while employed at another institution; employed at "
                "%(n)d institutions now: end the other employments.",
                posts=_(", ").join(p.title for p in pc.multi_posts), n=pc.institutions)))
    for q in pc.expiring:
        gaps.append(Gap(GapCode.CERTIFICATE_EXPIRING, _(
            "%(qualification)s expires on %(date)s: renew it.",
            qualification=q.qualification_type.title, date=q.expires_on.isoformat()), "warning"))
    return gaps


def targets(district_id: int | None, on: date | None = None) -> dict[str, float]:
    """The target rates (percent) in force for a district (None: the city's)."""
    on = on or local_today()
    return _targets_for([district_id], on)[district_id]  # one query for the four


# --- lists in scope -----------------------------------------------------------------------------------


def current_staff_ids(org_ids: list[int]) -> list[int]:
    """The distinct people employed now at these institutions."""
    ids: set[int] = set()
    for chunk in chunks(org_ids):
        ids.update(db.session.scalars(select(Employment.person_id).where(
            one_of(Employment.organisation_id, chunk), Employment.end_date.is_(None))))
    return sorted(ids)


def staff_compliance(actor, org: Organisation, on: date | None = None, *,
                     messages: bool = True, served: bool = True) -> list[PersonCompliance]:
    """Every current staff member of an institution with their compliance (the institution
    level of the drill-down), sorted by name. `messages=False`: the gaps' codes only
    (`with_messages` writes the messages later, for the rows a page shows).

    The answer is the rules' answer now. Each person whose summary row still holds (see
    `_holds`) is answered from the facts it keeps, through the same rules (`_from_facts`):
    one statement for the whole staff; the others (changed since the last refresh, or whose
    row may have gone wrong with the date or a rule) are computed from the records.
    `served=False` computes everyone from the records (the consistency check)."""
    authorize(actor, rules.can_view_institution_compliance, org=org,
              message=_l("This institution is not in your area."))
    on = on or local_today()
    staff = select(Employment.person_id).where(Employment.organisation_id == org.id,
                                               Employment.end_date.is_(None))
    if not served:
        persons = db.session.scalars(select(Person).where(Person.id.in_(staff)))
        rows = list(compliance_for(actor, persons, on, messages=messages,
                                   organisation_id=org.id).values())
    else:
        rows, stale = [], []
        digest, post_rules = rules_digest(on), registry.post_rules()
        for person, kept, *state in db.session.execute(_served_statement(),
                                                       {"served_on": on, "served_org": org.id}):
            if _holds(kept, *state, digest=digest, on=on):
                rows.append(_from_facts(person, kept, on, org.id, post_rules))
            else:
                stale.append(person)
        if rows:
            (with_messages if messages else _codes_only)(rows)
        # an institution's page shows its own posts even to a city regulator
        rows += compliance_for(actor, stale, on, messages=messages,
                               organisation_id=org.id).values()
    rows.sort(key=lambda pc: (pc.person.name, pc.person.id))
    return rows


# --- answers served from the summary rows ------------------------------------------------------------


def rules_digest(on: date) -> str:
    """A digest of what the answers depend on besides a person's own records: the post rules
    and the rule settings in effect on the date (from the reference cache). A summary row
    computed under another digest is not served, and the next refresh recomputes everyone."""
    view = settings.SettingsOn(RULE_SETTING_PREFIXES, on)
    parts = sorted((key, *(str(v) for v in row)) for key, rows in view.rows().items()
                   for row in rows)
    parts += sorted((post, str(r.qualification_type_id), str(r.min_level))
                    for post, reqs in registry.post_rules().items() for r in reqs)
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def facts_of(pc: PersonCompliance) -> dict:
    """What a summary row keeps of an answer computed for every current post (city scope) so
    that `_from_facts` gives the same answer on a later day while the row holds."""
    def day(value: date | None) -> str | None:
        return value.isoformat() if value else None

    health = pc.health
    return {
        "posts": [[p.employment.id, p.employment.organisation_id, p.employment.post, p.certified]
                  for p in pc.posts],
        "hours": [[str(h.hours), str(h.required)] for h in (pc.skills, pc.ethics)],
        "health": [health.state, day(health.record.issued_on) if health.record else None,
                   health.record.result if health.record else None, day(health.lapses_on)],
        "record": day(pc.criminal_record.issued_on) if pc.criminal_record else None,
        "ban": None if pc.ban is None else [day(pc.ban.starts_on), day(pc.ban.ends_on),
                                            pc.ban.kind],
        "institutions": pc.institutions,
        "multi": [p.value for p in pc.multi_posts],
        "expiring": [[q.id, q.qualification_type_id, day(q.expires_on)] for q in pc.expiring],
        "warning_from": day(pc.warning_from),
    }


@functools.cache
def _served_statement():
    """Each current staff member of an institution (`served_org`) with their summary row, and
    what says whether it still holds on `served_on`: marked dirty since, and a ban against
    their number starting after the row was computed."""
    from .models import ComplianceDirty, PersonStatus

    s = PersonStatus
    on = bindparam("served_on", type_=Date)
    ban_starting = (select(Ban.id).where(Ban.id_number_hash == Person.id_number_hash,
                                         Ban.starts_on > s.computed_on, Ban.starts_on <= on)
                    .exists())
    return (select(Person, s.facts, s.rules, s.computed_on, s.stable_until,
                   ComplianceDirty.person_id.is_not(None), ban_starting)
            .outerjoin(s, s.person_id == Person.id)
            .outerjoin(ComplianceDirty, ComplianceDirty.person_id == Person.id)
            .where(Person.id.in_(select(Employment.person_id).where(
                Employment.organisation_id == bindparam("served_org", type_=Integer),
                Employment.end_date.is_(None)))))


def _holds(kept: dict | None, rules: str | None, computed_on: date | None,
           stable_until: date | None, dirty: bool, ban_starting: bool, *, digest: str,
           on: date) -> bool:
    """Whether a summary row's answer is still the rules' answer on the date: nothing of the
    person written since (not dirty), computed this year under the same rules, no day passed
    on which it may change by the date alone (stable_until: lapses, expiries, the pro-rata
    hours, a term ban's end; warning_from: a certificate entering its expiry warning), and no
    ban starting since."""
    if kept is None or rules != digest or dirty or ban_starting or computed_on is None:
        return False
    if computed_on > on or computed_on.year != on.year or on >= stable_until:
        return False
    warning_from = kept.get("warning_from")
    return warning_from is None or on < date.fromisoformat(warning_from)


@dataclass(frozen=True)
class _KeptEmployment:
    id: int
    organisation_id: int
    post: str

    @property
    def post_title(self) -> str:
        return Post(self.post).title


@dataclass(frozen=True)
class _KeptRecord:
    issued_on: date
    result: str | None = None


@dataclass(frozen=True)
class _KeptBan:
    starts_on: date
    ends_on: date | None
    kind: str


@dataclass(frozen=True)
class _KeptQualification:
    id: int
    qualification_type_id: int
    expires_on: date

    @property
    def qualification_type(self):
        return registry.qualification_types()[self.qualification_type_id]


def _from_facts(person: Person, kept: dict, on: date, organisation_id: int,
                post_rules: dict[str, list[PostRequirement]]) -> PersonCompliance:
    """The answer a summary row keeps, for the date and the institution's own posts (gaps
    left to with_messages or _codes_only: the same rules as a computed answer)."""
    def day(value: str | None) -> date | None:
        return date.fromisoformat(value) if value else None

    pc = PersonCompliance(person=person, on=on)
    for employment_id, org_id, post, certified in kept["posts"]:
        if org_id == organisation_id:
            pc.posts.append(PostStatus(_KeptEmployment(employment_id, org_id, post), certified,
                                       required=post_rules.get(post, [])))
    (skills, skills_required), (ethics, ethics_required) = kept["hours"]
    pc.skills = HoursStatus("skills", Decimal(skills), Decimal(skills_required),
                            pro_rata(Decimal(skills_required), on))
    pc.ethics = HoursStatus("ethics", Decimal(ethics), Decimal(ethics_required),
                            pro_rata(Decimal(ethics_required), on))
    state, issued_on, result, lapses_on = kept["health"]
    pc.health = HealthStatus(state, _KeptRecord(day(issued_on), result) if issued_on else None,
                             day(lapses_on))
    pc.criminal_record = _KeptRecord(day(kept["record"])) if kept["record"] else None
    if kept["ban"]:
        starts_on, ends_on, kind = kept["ban"]
        pc.ban = _KeptBan(day(starts_on), day(ends_on), kind)
    pc.institutions = kept["institutions"]
    pc.multi_posts = [Post(p) for p in kept["multi"]]
    pc.expiring = [q for q in (_KeptQualification(qid, type_id, day(expires_on))
                               for qid, type_id, expires_on in kept["expiring"])
                   if q.expires_on >= on]
    pc.warning_from = day(kept.get("warning_from"))
    return pc


def _codes_only(rows: Iterable[PersonCompliance]) -> None:
    for pc in rows:
        pc.gaps = _gap_codes(pc)


# --- the tables of the drill-down (pages and exports share them) --------------------------------------

#: rows a page shows (an export holds them all; past EXPORT_JOB_ROWS a job makes it)
PER_PAGE = 25
EXPORT_JOB = "compliance.export"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
jobs.titled(EXPORT_JOB, _l("Compliance export"))

#: the rates pages show, each a count over "people"
RATES = ("certified", "hours_on_track", "health_current", "criminal_record_on_file")
#: the counts that must be zero
MUST_BE_ZERO = ("banned_employed", "multi_institution")
AREA_SORTS = ("name", "people", *RATES, *MUST_BE_ZERO)
AREA_PROBLEMS = ("below_target", "banned", "multi")
STAFF_SORTS = ("name", "gaps")


@dataclass
class AreaRow:
    """A district (in the city table) or an institution (in a district table)."""

    id: int
    name: str
    counts: dict
    targets: dict
    computed_at: datetime | None

    @property
    def rates(self) -> dict[str, float | None]:
        return rates_of(self.counts)

    @property
    def below_target(self) -> bool:
        rate = self.rates["certified"]
        return rate is not None and rate < self.targets["certified"]


@dataclass
class TablePage:
    """One page of a table, its filters, and the totals of every row the filters keep."""

    rows: list
    total: int
    page: int
    pages: int
    sort: str
    descending: bool
    filters: dict
    totals: dict
    #: the oldest snapshot time among the rows (None: computed now, from the raw rows)
    computed_at: datetime | None
    #: every row the filters keep (an institution's: with their gaps' messages only when the
    #: table is not paged; see institution_table)
    all_rows: list = field(default_factory=list, repr=False)


def rates_of(counts: dict) -> dict[str, float | None]:
    people = counts.get("people", 0)
    return {name: (100.0 * counts[name] / people if people else None) for name in RATES}


def _targets_for(district_ids: list[int | None], on: date) -> dict[int | None, dict[str, float]]:
    """The targets in force for many districts (get_setting's rule: the district's own latest
    value, else the city's, else the default), from the settings the rules read (one query,
    kept in the reference cache)."""
    view = settings.SettingsOn(TARGET_PREFIXES, on)
    return {did: {name: float(view.get(key, did)) for name, key in TARGET_SETTINGS.items()}
            for did in district_ids}


def _page(rows: list, page: int, per_page: int | None) -> tuple[list, int, int]:
    if per_page is None:
        return rows, 1, 1
    pages = max(1, -(-len(rows) // per_page))
    if page < 1 or page > pages:
        page = 1  # a page past the end (or garbage) is the first page, never an error
    return rows[(page - 1) * per_page: page * per_page], page, pages


def _sum(counts_list) -> dict:
    from .models import COUNTS

    totals = dict.fromkeys(COUNTS, 0)
    for counts in counts_list:
        for name in COUNTS:
            totals[name] += counts.get(name, 0)
    return totals


def _area_table(rows: list[AreaRow], *, sort, descending, q, problem, page, per_page) -> TablePage:
    sort = sort if sort in AREA_SORTS else "name"
    problem = problem if problem in AREA_PROBLEMS else ""
    q = " ".join((q or "").split())[:40]
    if q:
        rows = [r for r in rows if q in r.name]
    if problem == "below_target":
        rows = [r for r in rows if r.below_target]
    elif problem == "banned":
        rows = [r for r in rows if r.counts["banned_employed"]]
    elif problem == "multi":
        rows = [r for r in rows if r.counts["multi_institution"]]

    def key(r: AreaRow):
        if sort == "name":
            return (0, r.name, r.id)
        if sort in RATES:
            rate = r.rates[sort]
            return (rate is None, rate if rate is not None else 0, r.name)
        return (0, r.counts[sort], r.name)

    rows = sorted(rows, key=key, reverse=descending)
    shown, page, pages = _page(rows, page, per_page)
    stamps = [r.computed_at for r in rows if r.computed_at is not None]
    return TablePage(shown, len(rows), page, pages, sort, descending, {"q": q, "problem": problem},
                     _sum(r.counts for r in rows), min(stamps) if stamps else None, rows)


def _snapshots(scope: str, ids: list[int]) -> dict[int, object]:
    from .models import Snapshot

    out = {}
    for chunk in chunks(ids):
        for snap in db.session.scalars(select(Snapshot).where(Snapshot.scope == scope,
                                                              one_of(Snapshot.scope_id, chunk))):
            out[snap.scope_id] = snap
    return out


def _zero_counts() -> dict:
    from .models import COUNTS

    return dict.fromkeys(COUNTS, 0)


def city_table(actor, *, sort: str = "name", descending: bool = False, q: str = "",
               problem: str = "", page: int = 1, per_page: int | None = PER_PAGE) -> TablePage:
    """The districts of the city with their snapshot counts, against their targets."""
    from lms.core.models import District

    if scope_for(actor).kind != "city":
        raise PermissionDenied(_l("Only city-wide regulators see every district."))
    districts = list(db.session.scalars(select(District).order_by(District.code)))
    snaps = _snapshots("district", [d.id for d in districts])
    goals = _targets_for([d.id for d in districts], local_today())
    rows = [AreaRow(d.id, d.name, snaps[d.id].counts() if d.id in snaps else _zero_counts(),
                    goals[d.id], snaps[d.id].computed_at if d.id in snaps else None)
            for d in districts]
    return _area_table(rows, sort=sort, descending=descending, q=q, problem=problem, page=page,
                       per_page=per_page)


def district_table(actor, district, *, sort: str = "name", descending: bool = False, q: str = "",
                   problem: str = "", page: int = 1, per_page: int | None = PER_PAGE) -> TablePage:
    """A district's institutions with their snapshot counts, against the district's targets."""
    authorize(actor, rules.can_view_district_compliance, district=district,
              message=_l("This district is not in your area."))
    orgs = list(db.session.scalars(select(Organisation).where(
        Organisation.kind == OrgKind.INSTITUTION.value, Organisation.district_id == district.id)))
    snaps = _snapshots("institution", [o.id for o in orgs])
    goals = _targets_for([district.id], local_today())[district.id]
    rows = [AreaRow(o.id, o.name, snaps[o.id].counts() if o.id in snaps else _zero_counts(),
                    goals, snaps[o.id].computed_at if o.id in snaps else None) for o in orgs]
    return _area_table(rows, sort=sort, descending=descending, q=q, problem=problem, page=page,
                       per_page=per_page)


def staff_counts(rows: list[PersonCompliance]) -> dict:
    """The snapshot counts of a list of people (an institution's, computed now)."""
    counts = _zero_counts()
    for pc in rows:
        counts["people"] += 1
        counts["certified"] += pc.certified
        counts["hours_on_track"] += pc.hours_on_track
        counts["health_current"] += pc.health_current
        counts["criminal_record_on_file"] += pc.record_on_file
        counts["banned_employed"] += pc.banned
        counts["multi_institution"] += pc.multi_institution
    return counts


def institution_table(actor, org: Organisation, *, gap: str = "", q: str = "", sort: str = "name",
                      descending: bool = False, page: int = 1,
                      per_page: int | None = PER_PAGE) -> TablePage:
    """An institution's current staff, each with their gaps, computed now from the raw rows
    (`gap` keeps the people with that gap). The gaps' codes decide the filters and the order;
    their messages are written for the rows shown (every row when `per_page` is None, as the
    export asks): `all_rows` of a paged table carry codes only."""
    rows = staff_compliance(actor, org, messages=False)
    gap = gap if gap in GapCode.ALL else ""
    sort = sort if sort in STAFF_SORTS else "name"
    q = " ".join((q or "").split())[:40]
    if q:
        rows = [pc for pc in rows if q in pc.person.name]
    if gap:
        rows = [pc for pc in rows if gap in pc.gap_codes]
    if sort == "gaps":
        rows = sorted(rows, key=lambda pc: (len(pc.blocking_gaps), len(pc.gaps), pc.person.name),
                      reverse=descending)
    elif descending:
        rows = list(reversed(rows))
    shown, page, pages = _page(rows, page, per_page)
    with_messages(shown)
    return TablePage(shown, len(rows), page, pages, sort, descending, {"q": q, "gap": gap},
                     staff_counts(rows), None, rows)


def to_do(rows: list[PersonCompliance]) -> list[tuple[str, str, int]]:
    """What an institution must do: (gap code, title, people) for each gap anyone has."""
    counts: dict[str, int] = {}
    for pc in rows:
        for code in dict.fromkeys(pc.gap_codes):
            counts[code] = counts.get(code, 0) + 1
    return [(code, str(GAP_TITLES[code]), counts[code]) for code in GapCode.ALL if code in counts]


# --- figures for other doors ----------------------------------------------------------------------


def _scope_sees(scope: Scope, district_id: int | None, org_id: int | None = None) -> bool:
    if scope.kind == "city":
        return True
    if scope.kind == "district":
        return district_id is not None and district_id == scope.district_id
    return org_id is not None and org_id == scope.organisation_id


def institution_figures(scope: Scope, org: Organisation) -> AreaRow:
    """An institution's snapshot counts, its district's targets and the snapshot's time: the
    figures of its row on the district page (and, once refreshed, of its own page), for a door
    that authorised its caller by its own rule (the JSON API). PermissionDenied outside the
    scope."""
    if org.kind != OrgKind.INSTITUTION or not _scope_sees(scope, org.district_id, org.id):
        raise PermissionDenied(_l("This institution is not in your area."))
    snap = _snapshots("institution", [org.id]).get(org.id)
    goals = _targets_for([org.district_id], local_today())[org.district_id]
    return AreaRow(org.id, org.name, snap.counts() if snap else _zero_counts(), goals,
                   snap.computed_at if snap else None)


def district_figures(scope: Scope, district) -> tuple[AreaRow, list[AreaRow]]:
    """A district's snapshot counts with its targets (the district dashboard's headline) and
    its institutions' rows (its table, by name), for a door that authorised its caller by its
    own rule (the JSON API). PermissionDenied outside the scope."""
    if scope.kind == "institution" or not _scope_sees(scope, district.id):
        raise PermissionDenied(_l("This district is not in your area."))
    orgs = list(db.session.scalars(select(Organisation).where(
        Organisation.kind == OrgKind.INSTITUTION.value, Organisation.district_id == district.id)))
    orgs.sort(key=lambda o: (o.name, o.id))  # as the page sorts by name
    snaps = _snapshots("institution", [o.id for o in orgs])
    goals = _targets_for([district.id], local_today())[district.id]
    rows = [AreaRow(o.id, o.name, snaps[o.id].counts() if o.id in snaps else _zero_counts(),
                    goals, snaps[o.id].computed_at if o.id in snaps else None) for o in orgs]
    snap = _snapshots("district", [district.id]).get(district.id)
    return (AreaRow(district.id, district.name, snap.counts() if snap else _zero_counts(), goals,
                    snap.computed_at if snap else None), rows)


# --- the dashboard -----------------------------------------------------------------------------------


@dataclass
class Dashboard:
    scope: Scope
    #: the district shown, None for the city
    district: object | None
    counts: dict
    targets: dict
    computed_at: datetime | None
    #: the rows below: districts (city) or institutions (district)
    table: TablePage
    #: months of this year with their rates, for the trend chart
    trend: list[tuple[str, dict]]
    #: people marked changed since the figures were computed
    pending: int

    @property
    def rates(self) -> dict:
        return rates_of(self.counts)

    def bar_data(self) -> dict:
        """Certified-for-post rate per district or institution against the target."""
        rows = self.table.all_rows
        return {"labels": [r.name for r in rows],
                "values": [round(r.rates["certified"] or 0.0, 1) for r in rows],
                "target": self.targets["certified"], "unit": "%"}

    def trend_data(self) -> dict:
        names = {"certified": str(_l("Certified for post")),
                 "hours_on_track": str(_l("Hours on track")),
                 "health_current": str(_l("Health check current")),
                 "criminal_record_on_file": str(_l("Record on file"))}
        return {"labels": [month for month, _rates in self.trend],
                "series": [{"name": names[name],
                            "values": [round(r[name], 1) if r[name] is not None else None
                                       for _m, r in self.trend]} for name in RATES],
                "target": self.targets["certified"]}


def dashboard(actor, district=None, **table_args) -> Dashboard:
    """The regulator's dashboard for the actor's scope (a district regulator always sees their
    own district; the city may ask for one): headline counts from the snapshot, the targets,
    the table of districts or institutions, and this year's month-by-month trend."""
    from lms.core.models import District

    from .models import ComplianceDirty, Snapshot, SnapshotMonth

    authorize(actor, rules.can_view_regulator_compliance,
              message=_l("Only regulators see the compliance dashboard."))
    scope = scope_for(actor)
    if scope.kind == "district":
        district = db.session.get(District, scope.district_id)
    if district is None:
        table = city_table(actor, **table_args)
        key = ("city", 0)
    else:
        table = district_table(actor, district, **table_args)
        key = ("district", district.id)
    snap = db.session.scalar(select(Snapshot).where(Snapshot.scope == key[0],
                                                    Snapshot.scope_id == key[1]))
    year = str(local_today().year)
    months = db.session.scalars(select(SnapshotMonth).where(
        SnapshotMonth.scope == key[0], SnapshotMonth.scope_id == key[1],
        SnapshotMonth.month.startswith(year)).order_by(SnapshotMonth.month)).all()
    pending = db.session.scalar(select(func.count()).select_from(ComplianceDirty)) or 0
    return Dashboard(scope, district, snap.counts() if snap else _zero_counts(),
                     _targets_for([district.id if district else None], local_today())[
                         district.id if district else None],
                     snap.computed_at if snap else None, table,
                     [(m.month, rates_of(m.counts())) for m in months], pending)


# --- exports -------------------------------------------------------------------------------------------


def _export_table(actor, kind: str, obj, filters: dict) -> TablePage:
    filters = {k: v for k, v in filters.items() if k != "page"}
    if kind == "city":
        return city_table(actor, per_page=None, **filters)
    if kind == "district":
        return district_table(actor, obj, per_page=None, **filters)
    if kind == "institution":
        return institution_table(actor, obj, per_page=None, **filters)
    raise DomainError(_l("Unknown table."))


def export_xlsx(actor, kind: str, obj=None, **filters) -> tuple[bytes, int, dict]:
    """The table of a page as an .xlsx, from the same query as the screen (every row the filters
    keep, no paging): (bytes, rows, totals). `kind`: "city", "district" (obj: the district) or
    "institution" (obj: the institution). Whatever its size: start_export sends a large one to
    a job, which calls this."""
    return _export_file(_export_table(actor, kind, obj, filters), kind)


def start_export(actor, kind: str, obj=None, *, filename: str, locale: str = "", queue: bool = True,
                 **filters) -> tuple[bytes, int, dict] | jobs.Job | jobs.ExportNeedsJob:
    """The export the page asked for: the file at once, or past EXPORT_JOB_ROWS rows a queued
    job that makes it as this user (jobs.submit starts it; its page links to the file). With
    queue=False (a link followed) a big export only says its size: the user starts the job."""
    table = _export_table(actor, kind, obj, filters)
    if table.total <= jobs.export_job_rows():
        return _export_file(table, kind)
    if not queue:
        return jobs.ExportNeedsJob(table.total)
    filters = {k: v for k, v in filters.items() if k != "page"}
    return jobs.start_export(EXPORT_JOB, actor, {
        "kind": kind, "object_id": getattr(obj, "id", None), "filters": filters,
        "filename": filename}, rows=table.total, locale=locale)


def run_export(job: jobs.Job, progress) -> tuple[dict, str]:
    """The job's work: export_xlsx as the user who asked (their scope decides the rows), kept
    for them to download."""
    from lms.auth.models import User
    from lms.core.models import District

    user = db.session.get(User, job.created_by_id) if job.created_by_id else None
    jobs.check_requester(job, user)
    kind, object_id = job.params["kind"], job.params.get("object_id")
    model = {"district": District, "institution": Organisation}.get(kind)
    obj = db.session.get(model, object_id) if model is not None else None
    if model is not None and obj is None:
        raise LookupError(f"{kind} {object_id}")
    progress("export", 0, job.params.get("rows", 1))
    data, rows, totals = export_xlsx(user, kind, obj, **job.params.get("filters", {}))
    link = jobs.keep_output(job, data, job.params.get("filename") or "compliance.xlsx", XLSX)
    return {"rows": rows, "totals": totals}, link


def _export_file(table: TablePage, kind: str) -> tuple[bytes, int, dict]:
    from lms.core.clock import utc_now
    from lms.core.excel import write_xlsx
    from lms.core.idnumber import mask_id_number
    from lms.core.web import format_moment

    computed = table.computed_at
    freshness = (_("Figures as of %(time)s (snapshot).", time=format_moment(computed))
                 if computed else _("Figures computed at %(time)s from the records.",
                                    time=format_moment(utc_now())))
    count_headers = [_("People"), _("Certified for post"), _("Hours on track"),
                     _("Health check current"), _("Record on file"),
                     _("Banned and still employed"), _("At several institutions")]
    from .models import COUNTS

    if kind == "institution":
        headers = [_("Name"), _("Identity number"), _("Posts"), *count_headers[1:], _("Gaps")]
        rows = [[pc.person.name, mask_id_number(pc.person.id_number),
                 _(", ").join(p.employment.post_title for p in pc.posts),
                 int(pc.certified), int(pc.hours_on_track), int(pc.health_current),
                 int(pc.record_on_file), int(pc.banned), int(pc.multi_institution),
                 "; ".join(g.message for g in pc.gaps)] for pc in table.all_rows]
        totals = [_("Total"), "", "", *[table.totals[n] for n in COUNTS[1:]], ""]
    else:
        headers = [_("Name"), *count_headers]
        rows = [[r.name, *[r.counts[n] for n in COUNTS]] for r in table.all_rows]
        totals = [_("Total"), *[table.totals[n] for n in COUNTS]]
    data = write_xlsx(headers, [*rows, totals], text_columns={1} if kind == "institution" else set(),
                      sheet_name=str(_("Compliance"))[:31],
                      notes=[freshness, _("Identity numbers are masked.")])
    return data, len(rows), table.totals
