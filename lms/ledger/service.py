"""The ledger's rules: every credited class hour is written here, and only here.

Entries are append-only (the database refuses UPDATE and DELETE, see ddl.py); one source
credits a person at most once (a unique constraint); the yearly totals are updated in the
same transaction as the entry, by an atomic upsert, so a dashboard never sums entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from lms.auth.models import Role
from lms.core import audit, settings
from lms.core.clock import local_today
from lms.core.errors import DomainError
from lms.core.permissions import authorize
from lms.core.states import StateMachine
from lms.core.uploads import document_type
from lms.extensions import db
from lms.ledger.models import (
    Category,
    ExternalAction,
    ExternalRecord,
    ExternalState,
    LedgerEntry,
    LedgerTotal,
    SourceType,
)
from lms.ledger.permissions import (
    can_confirm_external,
    can_correct_ledger,
    can_record_external,
    may_credit,
)
from lms.registry.models import Employment, Organisation, OrgKind, Person

settings.define("hours.skills_required", _l("Yearly skills-training hours required"), "int", 72, 0,
                500, _l("class hours"))
settings.define("hours.ethics_required", _l("Yearly professional-ethics hours required"), "int", 40,
                0, 500, _l("class hours"))
settings.define("ledger.minutes_per_class_hour", _l("Minutes in one class hour"), "int", 45,
                20, 60, _l("minutes"))
settings.define("ledger.external_hours_per_year",
                _l("External class hours one person may have recorded per year"), "int", 120,
                0, 500, _l("class hours"))
settings.define("ledger.external_hours_confirm_above",
                _l("External class hours per person and year above which a record waits for "
                   "an administrator's or regulator's confirmation"), "int", 24, 0, 500,
                _l("class hours"))

FOUR_PLACES = Decimal("0.0001")
MAX_EXTERNAL_HOURS = Decimal(200)
MAX_EVIDENCE_BYTES = 5 * 1024 * 1024


def minutes_to_hours(minutes, district_id: int | None = None, on: date | None = None) -> Decimal:
    """Class hours for a number of minutes, at the conversion in force (1 课时 = 45 min)."""
    per_hour = settings.get_setting("ledger.minutes_per_class_hour", district_id, on)
    return (Decimal(minutes) / Decimal(per_hour)).quantize(FOUR_PLACES, ROUND_HALF_UP)


def _upsert_total(person_id: int, year: int, category: str, hours: Decimal) -> None:
    """Add to the yearly total atomically (INSERT ... ON CONFLICT DO UPDATE on both databases)."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(LedgerTotal).values(person_id=person_id, year=year, category=category,
                                      hours=hours, entries=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["person_id", "year", "category"],
        set_={"hours": LedgerTotal.hours + stmt.excluded.hours,
              "entries": LedgerTotal.entries + 1})
    db.session.execute(stmt)


def credit(actor, person: Person, *, year: int, category: str, hours: Decimal, source_type: str,
           source_ref: str, description: str = "", reverses: LedgerEntry | None = None,
           reason: str = "", at: datetime | None = None) -> tuple[LedgerEntry, bool]:
    """Write one ledger entry and its total; (the existing entry, False) if the source already
    credited this person — decided by the database's unique constraint, not by a lookup.

    The actor is who vouches for the credit (see permissions.may_credit); the study clock and
    jobs pass a named system actor."""
    authorize(actor, may_credit, person=person, source_type=source_type,
              message=_l("You may not credit class hours of this kind."))
    hours = Decimal(hours).quantize(FOUR_PLACES, ROUND_HALF_UP)
    if hours == 0:
        raise DomainError(_l("A ledger entry needs a number of hours."))
    Category(category), SourceType(source_type)  # noqa: B018 - raise ValueError on nonsense
    entry = LedgerEntry(
        person_id=person.id, year=year, category=category, hours=hours, source_type=source_type,
        source_ref=str(source_ref), description=(description or "")[:200],
        recorded_by_id=getattr(actor, "id", None),
        recorded_by_label=(getattr(actor, "display_name", None) or "system")[:120],
        reverses_id=reverses.id if reverses is not None else None, reason=reason or "")
    if at is not None:  # when the credit was earned, if the caller knows better than the clock
        entry.created_at = at
    try:
        with db.session.begin_nested():
            db.session.add(entry)
            db.session.flush()
    except IntegrityError:
        existing = db.session.scalar(select(LedgerEntry).where(
            LedgerEntry.person_id == person.id, LedgerEntry.source_type == source_type,
            LedgerEntry.source_ref == str(source_ref)))
        if existing is None:  # another constraint failed: not a duplicate source
            raise
        return existing, False
    _upsert_total(person.id, year, category, hours)
    return entry, True


def reverse(actor, entry: LedgerEntry, reason: str) -> LedgerEntry:
    """Cancel an entry with a new, opposite entry; the original stays as it was."""
    authorize(actor, can_correct_ledger, entry=entry,
              message=_l("Only a system administrator may correct the ledger."))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("Give the reason for the correction."), field="reason")
    if entry.source_type == SourceType.CORRECTION:
        raise DomainError(_l("A correction cannot itself be reversed; record a new entry instead."))
    correction, created = credit(
        actor, entry.person, year=entry.year, category=entry.category, hours=-entry.hours,
        source_type=SourceType.CORRECTION.value, source_ref=f"reversal:{entry.id}",
        description=entry.description, reverses=entry, reason=reason)
    if not created:
        raise DomainError(_l("This entry has already been reversed."))
    audit.record(actor, "ledger.reversed", correction, reverses=entry.id, hours=str(entry.hours),
                 reason=reason)
    return correction


# --- external hours -------------------------------------------------------------------------------
#
# Hours earned elsewhere are recorded by someone who can vouch for them (permissions.
# can_record_external), with a file as evidence, within a yearly bound per person. A record that
# takes the person's external hours for its year above the confirmation threshold waits
# (pending) for an administrator or a regulator of the person's district, never the recorder;
# below it, it is confirmed at once. Only a confirmed record reaches the ledger. The threshold
# counts the year's earlier records too, so splitting one claim into small ones gains nothing.

ES, EA = ExternalState, ExternalAction
#: (state, action) -> next state; a record under the threshold starts confirmed
EXTERNAL_TRANSITIONS = {
    (ES.PENDING, EA.CONFIRM): ES.CONFIRMED,
    (ES.PENDING, EA.REJECT): ES.REJECTED,
}


def _may_decide(user, record: ExternalRecord, action) -> bool:
    # four eyes: whoever recorded the hours does not also confirm them
    return can_confirm_external(user, record=record) and getattr(user, "id", None) != record.recorded_by_id


EXTERNAL = StateMachine(ExternalRecord, ExternalState, ExternalAction, EXTERNAL_TRANSITIONS,
                        may=_may_decide, audit_prefix="ledger.external")


def parse_hours(raw, maximum: Decimal = MAX_EXTERNAL_HOURS) -> Decimal:
    try:
        hours = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise DomainError(_l("Hours must be a number such as 4 or 1.5."), field="hours") from None
    if not hours.is_finite() or hours <= 0 or hours > maximum:
        raise DomainError(_l("Hours must be more than 0 and at most %(max)s.",
                             max=maximum), field="hours")
    if hours != hours.quantize(Decimal("0.01")):
        raise DomainError(_l("Hours may have at most two decimal places."), field="hours")
    return hours


def evidence_type(data: bytes) -> str:
    """The check of uploaded evidence of class hours (lms.core.uploads); its content type."""
    return document_type(data, field="evidence", max_bytes=MAX_EVIDENCE_BYTES,
                         missing=_l("Attach the evidence (a PDF, JPEG or PNG file)."),
                         too_big=_l("The evidence file is larger than 5 MB."),
                         wrong_type=_l("The evidence must be a PDF, JPEG or PNG file."))


def identify(id_number: str, name: str) -> Person:
    """The registry person a clerk means: the number must be registered and the name typed
    must be the registered one (a check against a mistyped number crediting someone else)."""
    from lms.core.idnumber import IdNumberError, normalise_id_number, normalise_name
    from lms.registry.service import find_person

    try:
        number = normalise_id_number(id_number)
    except IdNumberError as err:
        raise DomainError(str(err), field="id_number") from None
    person = find_person(number)
    if person is None:
        raise DomainError(_l("No one with this identity number is in the registry."), field="id_number")
    try:
        typed = normalise_name(name)
    except DomainError:
        typed = None
    if typed != person.name:
        raise DomainError(_l("The name does not match the registry record for this number."),
                          field="name")
    return person


def identify_for_external(actor, id_number: str, name: str) -> Person:
    """The person external hours are for. An institution learns nothing about people it does
    not employ: an unknown number, another name and someone else's staff get one answer."""
    authorize(actor, can_record_external, message=_l(
        "External hours are recorded by the person's current institution or an administrator."))
    if getattr(actor, "role", None) != Role.INSTITUTION_ADMIN:
        return identify(id_number, name)
    from lms.core.idnumber import IdNumberError, normalise_id_number, normalise_name
    from lms.registry.service import find_person

    try:
        number = normalise_id_number(id_number)
    except IdNumberError as err:  # a malformed number: nothing about the registry is revealed
        raise DomainError(str(err), field="id_number") from None
    person = find_person(number)
    try:
        typed = normalise_name(name)
    except DomainError:
        typed = None
    if person is None or typed != person.name or not can_record_external(actor, person=person):
        raise DomainError(_l("None of your current staff has this identity number and name."),
                          field="id_number")
    return person


def external_hours_of_year(person: Person, year: int) -> Decimal:
    """The person's external hours for a year that count against the bound: pending and
    confirmed records (rejected ones do not)."""
    return Decimal(db.session.scalar(select(func.coalesce(func.sum(ExternalRecord.hours), 0)).where(
        ExternalRecord.person_id == person.id, ExternalRecord.year == year,
        ExternalRecord.state.in_([ES.PENDING.value, ES.CONFIRMED.value]))) or 0)


def record_external(actor, person: Person, *, year: int, category: str, hours, provider: str,
                    reference: str, evidence_name: str, evidence: bytes, note: str = "",
                    today: date | None = None) -> ExternalRecord:
    """Record hours earned elsewhere, with evidence: credited at once under the confirmation
    threshold, otherwise waiting for an administrator's or a regulator's confirmation."""
    authorize(actor, can_record_external, person=person, message=_l(
        "External hours are recorded by the person's current institution or an administrator."))
    today = today or local_today()
    if category not in {c.value for c in Category}:
        raise DomainError(_l("Choose skills training or professional ethics."), field="category")
    if not (today.year - 5 <= int(year) <= today.year):
        raise DomainError(_l("The year must be between %(first)s and %(last)s.",
                             first=today.year - 5, last=today.year), field="year")
    hours = parse_hours(hours)
    provider, reference = (provider or "").strip(), (reference or "").strip()
    if not provider:
        raise DomainError(_l("Name the platform or organisation the hours come from."), field="provider")
    if not reference:
        raise DomainError(_l("Give the record or certificate number."), field="reference")
    kind = evidence_type(evidence)
    _lock_person(person)  # two clerks at once cannot both fit under the yearly bound
    duplicate = db.session.scalar(select(ExternalRecord.id).where(
        ExternalRecord.person_id == person.id, ExternalRecord.provider == provider[:120],
        ExternalRecord.reference == reference[:80]))
    if duplicate is not None:
        raise DomainError(_l("This record has already been entered for this person."),
                          field="reference")
    district_id = person_district_id(person)
    bound = Decimal(settings.get_setting("ledger.external_hours_per_year", district_id, today))
    threshold = Decimal(settings.get_setting("ledger.external_hours_confirm_above", district_id, today))
    before = external_hours_of_year(person, int(year))
    if before + hours > bound:
        raise DomainError(_l("External hours are limited to %(bound)s class hours per person and "
                             "year; %(name)s already has %(had)s for %(year)s.", bound=bound,
                             name=person.name, had=before.normalize(), year=int(year)), field="hours")
    state = ES.PENDING if before + hours > threshold else ES.CONFIRMED
    organisation_id = actor.organisation_id if getattr(actor, "role", None) == Role.INSTITUTION_ADMIN else None
    record = ExternalRecord(
        person_id=person.id, year=int(year), category=category, hours=hours,
        provider=provider[:120], reference=reference[:80], note=(note or "").strip(),
        evidence_name=(evidence_name or "evidence")[:200], evidence_type=kind,
        evidence_data=evidence, recorded_by_id=getattr(actor, "id", None),
        organisation_id=organisation_id, state=state.value, district_id=district_id)
    db.session.add(record)
    db.session.flush()
    EXTERNAL.record_start(actor, record, authority=getattr(actor, "role", ""))
    audit.record(actor, "ledger.external_recorded", record, person_id=person.id,
                 hours=str(hours), category=category, year=int(year), state=state.value,
                 year_hours_before=str(before), threshold=str(threshold), bound=str(bound))
    if state is ES.CONFIRMED:
        _credit_external(actor, record)
    return record


def decide_external(actor, record: ExternalRecord, action, reason: str = "") -> ExternalRecord:
    """Confirm (and credit) or reject external hours awaiting confirmation."""
    authorize(actor, can_confirm_external, record=record,
              message=_l("External hours are confirmed by an administrator or a regulator of "
                         "the person's district."))
    action = EXTERNAL.parse_action(action)
    reason = (reason or "").strip()
    if action is EA.REJECT and not reason:
        raise DomainError(_l("Give the reason for rejecting the hours."), field="reason")
    EXTERNAL.apply(actor, record, action, reason=reason, authority=getattr(actor, "role", ""))
    if action is EA.CONFIRM:
        _credit_external(actor, record)
    return record


def _credit_external(actor, record: ExternalRecord) -> LedgerEntry:
    entry, _created = credit(
        actor, record.person, year=record.year, category=record.category, hours=record.hours,
        source_type=SourceType.EXTERNAL.value, source_ref=str(record.id),
        description=f"{record.provider} {record.reference[:60]}")
    record.ledger_entry_id = entry.id
    db.session.flush()
    return entry


def _lock_person(person: Person) -> None:
    """Serialise writes about one person (PostgreSQL row lock; SQLite has one writer anyway)."""
    db.session.execute(select(Person.id).where(Person.id == person.id).with_for_update())


def external_actions(record: ExternalRecord, user) -> list:
    """What the user may do with the record now (what its page offers)."""
    return EXTERNAL.allowed_actions(record, user)


def external_history(record: ExternalRecord):
    return EXTERNAL.history(record)


def recent_external(actor, limit: int = 20) -> list[ExternalRecord]:
    """What this institution (or, for an administrator, anyone) recorded lately."""
    stmt = select(ExternalRecord).order_by(ExternalRecord.id.desc()).limit(limit)
    if actor.role != Role.ADMIN:
        stmt = stmt.where(ExternalRecord.organisation_id == actor.organisation_id)
    return list(db.session.scalars(stmt))


def external_queue(user, limit: int = 200) -> list[ExternalRecord]:
    """Records awaiting confirmation that this administrator or regulator may decide, oldest first."""
    if not can_confirm_external(user):
        return []
    stmt = select(ExternalRecord).where(ExternalRecord.state == ES.PENDING.value)
    if user.role == Role.REGULATOR and user.district_id is not None:
        stmt = stmt.where(ExternalRecord.district_id == user.district_id)
    return list(db.session.scalars(stmt.order_by(ExternalRecord.created_at, ExternalRecord.id).limit(limit)))


# --- reading --------------------------------------------------------------------------------------


def person_district_id(person: Person) -> int | None:
    """The district whose settings apply: that of the person's current institution, if any."""
    return db.session.scalar(
        select(Organisation.district_id).join(Employment, Employment.organisation_id == Organisation.id)
        .where(Employment.person_id == person.id, Employment.end_date.is_(None),
               Organisation.kind == OrgKind.INSTITUTION.value)
        .order_by(Employment.start_date.desc()).limit(1))


def required_hours(district_id: int | None, on: date, *, get=None) -> dict[str, Decimal]:
    """The yearly hours required in the district on the date; `get(key, district_id)` reads the
    settings (default: settings.get_setting on the date; a settings.SettingsOn in a batch)."""
    if get is None:
        def get(key, district):
            return settings.get_setting(key, district, on)
    return {Category.SKILLS.value: Decimal(get("hours.skills_required", district_id)),
            Category.ETHICS.value: Decimal(get("hours.ethics_required", district_id))}


@dataclass
class Progress:
    category: Category
    hours: Decimal
    required: Decimal

    @property
    def percent(self) -> int:
        if self.required <= 0:
            return 100
        return max(0, min(100, int(self.hours * 100 / self.required)))

    @property
    def short_by(self) -> Decimal:
        return max(Decimal(0), self.required - self.hours)

    @property
    def met(self) -> bool:
        return self.hours >= self.required


def totals_for(person_ids: list[int], year: int) -> dict[int, dict[str, Decimal]]:
    """{person_id: {category: hours}} from the kept totals (never from the entries)."""
    result: dict[int, dict[str, Decimal]] = {pid: {} for pid in person_ids}
    if not person_ids:
        return result
    from lms.core.bulk import chunks, one_of
    for chunk in chunks(person_ids):
        # three columns, not the entities: an institution's page reads two rows per person
        for person_id, category, hours in db.session.execute(
                select(LedgerTotal.person_id, LedgerTotal.category, LedgerTotal.hours).where(
                    one_of(LedgerTotal.person_id, chunk), LedgerTotal.year == year)):
            result[person_id][category] = hours
    return result


def year_hours(person_id, year: int, category: str):
    """A person's kept total of a category for a year, as a scalar subquery correlated to the
    column `person_id` (e.g. Person.id): NULL when nothing was credited. For a statement that
    reads the hours with other rows (compliance); the same kept totals as totals_for."""
    return select(LedgerTotal.hours).where(
        LedgerTotal.person_id == person_id, LedgerTotal.year == year,
        LedgerTotal.category == category).scalar_subquery()


def year_progress(person: Person, year: int, on: date | None = None) -> list[Progress]:
    """This year's hours against the required hours of the person's district."""
    on = on or local_today()
    required = required_hours(person_district_id(person), on)
    totals = totals_for([person.id], year)[person.id]
    return [Progress(c, totals.get(c.value, Decimal(0)), required[c.value]) for c in Category]


def entries_for(person: Person, year: int | None = None) -> list[LedgerEntry]:
    stmt = select(LedgerEntry).where(LedgerEntry.person_id == person.id)
    if year is not None:
        stmt = stmt.where(LedgerEntry.year == year)
    return list(db.session.scalars(stmt.order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())))


def years_with_entries(person: Person) -> list[int]:
    return list(db.session.scalars(select(LedgerTotal.year).where(LedgerTotal.person_id == person.id)
                                   .distinct().order_by(LedgerTotal.year.desc())))


@dataclass
class StaffHours:
    employment: Employment
    skills: Progress
    ethics: Progress

    @property
    def behind(self) -> bool:
        return not (self.skills.met and self.ethics.met)


STAFF_SORTS = {
    "name": lambda r: (r.employment.person.name,),
    "skills": lambda r: (r.skills.hours, r.employment.person.name),
    "ethics": lambda r: (r.ethics.hours, r.employment.person.name),
    "behind": lambda r: (-(r.skills.short_by + r.ethics.short_by), r.employment.person.name),
}


def staff_hours(org: Organisation, year: int, *, sort: str = "behind", descending: bool = False,
                on: date | None = None) -> list[StaffHours]:
    """One row per current staff member: this year's hours against the district's requirement."""
    from lms.registry.service import staff_statement

    on = on or local_today()
    employments = list(db.session.scalars(staff_statement(org)).unique())
    seen: dict[int, Employment] = {}
    for employment in employments:  # one row per person, whatever their number of posts
        seen.setdefault(employment.person_id, employment)
    required = required_hours(org.district_id, on)
    totals = totals_for(list(seen), year)
    rows = []
    for person_id, employment in seen.items():
        mine = totals[person_id]
        rows.append(StaffHours(
            employment,
            Progress(Category.SKILLS, mine.get("skills", Decimal(0)), required["skills"]),
            Progress(Category.ETHICS, mine.get("ethics", Decimal(0)), required["ethics"])))
    rows.sort(key=STAFF_SORTS.get(sort, STAFF_SORTS["behind"]), reverse=descending)
    return rows


# --- verification ---------------------------------------------------------------------------------


@dataclass
class Difference:
    person_id: int
    year: int
    category: str
    kept: Decimal | None
    from_entries: Decimal | None
    kept_count: int | None
    entry_count: int | None


def verify() -> list[Difference]:
    """Recompute every yearly total from the entries and list where the kept totals differ."""
    computed = {
        (row.person_id, row.year, row.category): (Decimal(row.hours), row.n)
        for row in db.session.execute(
            select(LedgerEntry.person_id, LedgerEntry.year, LedgerEntry.category,
                   func.sum(LedgerEntry.hours).label("hours"), func.count().label("n"))
            .group_by(LedgerEntry.person_id, LedgerEntry.year, LedgerEntry.category))
    }
    kept = {(t.person_id, t.year, t.category): (Decimal(t.hours), t.entries)
            for t in db.session.scalars(select(LedgerTotal))}
    differences = []
    for key in sorted(set(computed) | set(kept)):
        have, want = kept.get(key), computed.get(key)
        if have is None or want is None or have[0] != want[0] or have[1] != want[1]:
            differences.append(Difference(*key, have and have[0], want and want[0],
                                          have and have[1], want and want[1]))
    return differences


def now_year(now: datetime | None = None) -> int:
    """The calendar year in the system's time zone (Asia/Shanghai): credits count there."""
    return local_today(now).year
