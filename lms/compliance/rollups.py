"""Roll-ups at province scale: per-person summary rows refreshed past a dirty list, and
per-institution, per-district and city snapshots aggregated from them in SQL.

The watermark is twofold:
- people marked in `compliance_dirty` since the last refresh (tracking.py marks them in the
  transaction that changed their records) are recomputed, and only the institutions and
  districts they work or worked at are re-aggregated;
- the date: hours on track (pro rata), health-check lapses, certificate expiries and term bans
  move with the city's day. Each summary row knows the first day it may go wrong by the date
  alone (`stable_until`), so a new day's refresh recomputes only those rows, and the people
  whose ban starts or ends in the days passed. Everyone is recomputed on a new year (new yearly
  hours), when a setting the rules read was recorded or took effect since the last refresh, or
  a post rule changed (service.rules_digest), and with `full` (`flask compliance refresh --all`).

Each summary row also keeps the facts its person's gaps were written from (service.facts_of):
an institution's staff table is served from them while they hold (service.staff_compliance).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, case, delete, func, or_, select, tuple_, update

from lms.core import audit
from lms.core.actors import system_actor
from lms.core.bulk import chunks, one_of
from lms.core.clock import local_today, utc_now
from lms.core.permissions import authorize
from lms.extensions import db
from lms.registry.models import Employment, Organisation, OrgKind, Person

from . import service
from .models import COUNTS, ComplianceDirty, PersonStatus, PostCheck, Snapshot, SnapshotMonth
from .permissions import can_refresh_compliance

ROLLUP = system_actor("job:compliance_refresh")
BATCH = 1000


@dataclass
class RefreshResult:
    persons: int
    institutions: int
    districts: int
    full: bool
    computed_at: datetime


@dataclass
class Difference:
    scope: str
    scope_id: int
    name: str
    kept: dict = field(default_factory=dict)
    recomputed: dict = field(default_factory=dict)


def _upsert(model, rows: list[dict], keys: list[str]) -> None:
    if not rows:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    columns = [k for k in rows[0] if k not in keys]
    stmt = insert(model.__table__)
    stmt = stmt.on_conflict_do_update(index_elements=keys,
                                      set_={c: stmt.excluded[c] for c in columns})
    for chunk in chunks(rows, 5000):  # one statement compiled, executed for many rows
        db.session.execute(stmt, chunk)


# --- people ------------------------------------------------------------------------------------


def _recompute_people(person_ids: list[int], on: date, now: datetime) -> None:
    """Rewrite the summary rows of these people (batches of BATCH), with the facts their
    gaps were written from and the rules they were computed under (institution tables are
    served from them)."""
    digest = service.rules_digest(on)
    for chunk in chunks(person_ids, BATCH):
        persons = list(db.session.scalars(select(Person).where(one_of(Person.id, chunk))))
        found = service.compliance_for(ROLLUP, persons, on, messages=False)
        db.session.execute(delete(PostCheck).where(one_of(PostCheck.person_id, chunk)))
        statuses, checks = [], []
        for pc in found.values():
            statuses.append({
                "person_id": pc.person.id, "computed_on": on, "computed_at": now,
                "certified": pc.certified, "hours_on_track": pc.hours_on_track,
                "health_current": pc.health_current,
                "criminal_record_on_file": pc.record_on_file, "banned": pc.banned,
                "multi_institution": pc.multi_institution, "gaps": len(pc.blocking_gaps),
                "stable_until": pc.stable_until(), "facts": service.facts_of(pc),
                "rules": digest})
            checks += [{"employment_id": p.employment.id, "person_id": pc.person.id,
                        "organisation_id": p.employment.organisation_id,
                        "certified": p.certified} for p in pc.posts]
        _upsert(PersonStatus, statuses, ["person_id"])
        if checks:
            db.session.execute(PostCheck.__table__.insert(), checks)


# --- aggregates --------------------------------------------------------------------------------


def _aggregate(group, *where) -> dict:
    """{group value: counts} over current employments at institutions and the people's rows
    (group None: one row for everything, under the key 0)."""
    e, o, s, pc = Employment, Organisation, PersonStatus, PostCheck

    def people_where(condition):
        return func.count(func.distinct(case((condition, e.person_id))))

    columns = [func.count(func.distinct(e.person_id)),
               people_where(pc.certified.is_(False)),
               people_where(s.hours_on_track.is_(True)),
               people_where(s.health_current.is_(True)),
               people_where(s.criminal_record_on_file.is_(True)),
               people_where(s.banned.is_(True)),
               people_where(s.multi_institution.is_(True))]
    stmt = (select(*([group] if group is not None else []), *columns).select_from(e)
            .join(o, o.id == e.organisation_id).join(s, s.person_id == e.person_id)
            .outerjoin(pc, pc.employment_id == e.id)
            .where(e.end_date.is_(None), o.kind == OrgKind.INSTITUTION.value, *where))
    if group is not None:
        stmt = stmt.group_by(group)
    out = {}
    for row in db.session.execute(stmt):
        if group is None:
            row = (0, *row)
        key, people, uncertified, hours, health, record, banned, multi = row
        out[key] = {"people": people, "certified": people - uncertified, "hours_on_track": hours,
                    "health_current": health, "criminal_record_on_file": record,
                    "banned_employed": banned, "multi_institution": multi}
    return out


def _zero() -> dict:
    return dict.fromkeys(COUNTS, 0)


def _store(scope: str, rows: dict[int, dict], on: date, now: datetime,
           districts: dict[int, int] | None = None, rules: str | None = None) -> None:
    month = on.strftime("%Y-%m")
    _upsert(Snapshot, [{"scope": scope, "scope_id": sid, "computed_at": now, "computed_on": on,
                        "district_id": (districts or {}).get(sid), "rules": rules, **counts}
                       for sid, counts in rows.items()], ["scope", "scope_id"])
    _upsert(SnapshotMonth, [{"scope": scope, "scope_id": sid, "month": month, "computed_at": now,
                             **counts} for sid, counts in rows.items()],
            ["scope", "scope_id", "month"])


def refresh(actor, *, full: bool = False) -> RefreshResult:
    """Bring the summary rows and snapshots up to date: the people marked dirty (everyone
    employed at the first refresh of a day, or with `full`), then the snapshots of the
    institutions and districts they work or worked at, and the city's."""
    authorize(actor, can_refresh_compliance)
    on, now = local_today(), utc_now()
    city = db.session.scalar(select(Snapshot).where(Snapshot.scope == "city"))
    new_day = city is None or city.computed_on != on
    digest = service.rules_digest(on)
    full = (full or city is None or city.computed_on.year != on.year
            or city.rules != digest or _settings_moved(city, on))
    marks = dict(db.session.execute(select(ComplianceDirty.person_id, ComplianceDirty.marked_at)).all())
    dirty = list(marks)
    if full:
        people = set(db.session.scalars(select(Employment.person_id).where(
            Employment.end_date.is_(None)).distinct())) | set(dirty)
    else:
        people = set(dirty)
        if new_day:
            people |= set(db.session.scalars(select(PersonStatus.person_id).where(
                PersonStatus.stable_until <= on)))
            people |= _ban_boundaries(city.computed_on, on)
    person_ids = sorted(people)
    _recompute_people(person_ids, on, now)
    _forget(marks)

    institutions = select(Organisation.id, Organisation.district_id).where(
        Organisation.kind == OrgKind.INSTITUTION.value)
    if full:
        orgs = dict(db.session.execute(institutions).all())
    else:
        org_ids: set[int] = set()
        for chunk in chunks(person_ids):
            org_ids.update(db.session.scalars(select(Employment.organisation_id).where(
                one_of(Employment.person_id, chunk)).distinct()))
        orgs = {}
        for chunk in chunks(sorted(org_ids)):
            orgs.update(db.session.execute(institutions.where(one_of(Organisation.id, chunk))).all())
    district_ids = sorted(set(orgs.values()))

    by_org: dict[int, dict] = {}
    for chunk in chunks(sorted(orgs)):
        by_org.update(_aggregate(Employment.organisation_id, one_of(Employment.organisation_id, chunk)))
    _store("institution", {oid: by_org.get(oid, _zero()) for oid in orgs}, on, now, orgs)
    by_district = _aggregate(Organisation.district_id, Organisation.district_id.in_(district_ids)) \
        if district_ids else {}
    _store("district", {did: by_district.get(did, _zero()) for did in district_ids}, on, now)
    everyone = _aggregate(None)
    _store("city", {0: everyone.get(0, _zero())}, on, now, rules=digest)
    _expire_loaded_rows()
    if new_day and not full:
        _carry_forward(on, now)
        _expire_loaded_rows()
    audit.record(actor, "compliance.refreshed", object_type="compliance_snapshots",
                 persons=len(person_ids), institutions=len(orgs), full=full)
    db.session.flush()
    return RefreshResult(len(person_ids), len(orgs), len(district_ids), full, now)


def _forget(marks: dict[int, datetime]) -> None:
    """Clear the dirty marks a refresh read, each only as it read it: a person marked again
    since (by a write committed while the refresh ran, which it may not have seen) stays
    marked for the next refresh."""
    pairs = sorted(marks.items())
    for chunk in chunks(pairs, 2000):
        db.session.execute(delete(ComplianceDirty).where(
            tuple_(ComplianceDirty.person_id, ComplianceDirty.marked_at).in_(chunk)))


#: settings the rules read: a new value (or one taking effect) means everyone is recomputed
RULE_SETTINGS = ("hours.", "compliance.")


def _expire_loaded_rows() -> None:
    """The rows were written past the ORM (bulk upserts): objects already loaded reload."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Snapshot | SnapshotMonth | PersonStatus | PostCheck):
            db.session.expire(obj)


def _settings_moved(city: Snapshot, on: date) -> bool:
    from lms.core.models import Setting

    relevant = or_(*[Setting.key.startswith(prefix) for prefix in RULE_SETTINGS])
    return db.session.scalar(select(Setting.id).where(relevant, or_(
        Setting.created_at >= city.computed_at,
        and_(Setting.effective_from > city.computed_on, Setting.effective_from <= on))).limit(1)) \
        is not None


def _ban_boundaries(since: date, on: date) -> set[int]:
    """People whose ban started or ended in (since, on]: the gate's answer changed by the date."""
    from lms.registry.models import Ban

    return set(db.session.scalars(select(Person.id).join(Ban, Ban.id_number == Person.id_number)
                                  .where(or_(and_(Ban.starts_on > since, Ban.starts_on <= on),
                                             and_(Ban.ends_on > since, Ban.ends_on <= on)))))


def _carry_forward(on: date, now: datetime) -> None:
    """On a new day, the snapshots no recomputed person touched still hold (their people's rows
    are stable until a later day): date them today, and give the new month its history rows."""
    db.session.execute(update(Snapshot).where(Snapshot.computed_on < on)
                       .values(computed_on=on, computed_at=now))
    month = on.strftime("%Y-%m")
    rows = [{"scope": snap.scope, "scope_id": snap.scope_id, "month": month, "computed_at": now,
             **snap.counts()} for snap in db.session.scalars(select(Snapshot))]
    _upsert(SnapshotMonth, rows, ["scope", "scope_id", "month"])


# --- the consistency check ---------------------------------------------------------------------


def counts_from_raw(org_ids: list[int], on: date) -> dict[int, dict]:
    """Each institution's counts recomputed from the raw rows through the compliance service
    (no summary row, no snapshot): what `check` compares the snapshots with."""
    staff: dict[int, set[int]] = {oid: set() for oid in org_ids}
    for chunk in chunks(org_ids):
        for oid, pid in db.session.execute(select(Employment.organisation_id, Employment.person_id)
                                           .where(one_of(Employment.organisation_id, chunk),
                                                  Employment.end_date.is_(None))):
            staff[oid].add(pid)
    person_ids = sorted(set().union(*staff.values())) if staff else []
    found: dict[int, service.PersonCompliance] = {}
    for chunk in chunks(person_ids, BATCH):
        persons = list(db.session.scalars(select(Person).where(one_of(Person.id, chunk))))
        found.update(service.compliance_for(ROLLUP, persons, on, messages=False))
    out = {}
    for oid, pids in staff.items():
        counts = _zero()
        for pid in pids:
            pc = found[pid]
            counts["people"] += 1
            counts["certified"] += all(p.certified for p in pc.posts
                                       if p.employment.organisation_id == oid)
            counts["hours_on_track"] += pc.hours_on_track
            counts["health_current"] += pc.health_current
            counts["criminal_record_on_file"] += pc.record_on_file
            counts["banned_employed"] += pc.banned
            counts["multi_institution"] += pc.multi_institution
        out[oid] = counts
    return out


def check(actor, sample: int = 50, seed: int | None = None) -> tuple[list[Difference], int]:
    """Recompute a random sample of institution snapshots (and the districts they are in, up to
    a tenth of the sample) from the raw rows; (differences, institutions skipped because their
    people are waiting for a refresh)."""
    authorize(actor, can_refresh_compliance)
    rng = random.Random(seed)  # noqa: S311 - a sample, not a secret
    snapshots = list(db.session.scalars(select(Snapshot).where(Snapshot.scope == "institution")))
    pending = set(db.session.scalars(
        select(Employment.organisation_id).join(ComplianceDirty,
                                                ComplianceDirty.person_id == Employment.person_id)
        .distinct()))
    eligible = [s for s in snapshots if s.scope_id not in pending]
    picked = rng.sample(eligible, min(sample, len(eligible)))
    names = dict(db.session.execute(select(Organisation.id, Organisation.name).where(
        Organisation.id.in_([s.scope_id for s in picked] or [0]))).all())
    differences = []
    by_day: dict[date, list[Snapshot]] = {}
    for snap in picked:
        by_day.setdefault(snap.computed_on, []).append(snap)
    for day, snaps in by_day.items():
        raw = counts_from_raw([s.scope_id for s in snaps], day)
        for snap in snaps:
            if snap.counts() != raw[snap.scope_id]:
                differences.append(Difference("institution", snap.scope_id,
                                              names.get(snap.scope_id, ""), snap.counts(),
                                              raw[snap.scope_id]))
    # the staff tables served from the summary rows: each person's gaps as computed now
    today = local_today()
    for snap in picked:
        org = db.session.get(Organisation, snap.scope_id)
        kept, computed = ({pc.person.id: pc.gap_codes for pc in service.staff_compliance(
            ROLLUP, org, today, messages=False, served=served)} for served in (True, False))
        if kept != computed:
            differences.append(Difference("staff", snap.scope_id, names.get(snap.scope_id, ""),
                                          {k: v for k, v in kept.items() if computed.get(k) != v},
                                          {k: v for k, v in computed.items() if kept.get(k) != v}))
    # districts: the sum over institutions double-counts people at two of them, so recompute
    districts = sorted({s.district_id for s in picked if s.district_id is not None})
    for did in rng.sample(districts, min(len(districts), max(1, sample // 10))):
        snap = db.session.scalar(select(Snapshot).where(Snapshot.scope == "district",
                                                        Snapshot.scope_id == did))
        if snap is None:
            continue
        org_ids = list(db.session.scalars(select(Organisation.id).where(
            Organisation.district_id == did, Organisation.kind == OrgKind.INSTITUTION.value)))
        if pending & set(org_ids):
            continue
        want = _district_from_raw(org_ids, snap.computed_on)
        if snap.counts() != want:
            differences.append(Difference("district", did, str(did), snap.counts(), want))
    return differences, len([s for s in snapshots if s.scope_id in pending])


def _district_from_raw(org_ids: list[int], on: date) -> dict:
    pids: set[int] = set()
    for chunk in chunks(org_ids):
        pids.update(db.session.scalars(select(Employment.person_id).where(
            one_of(Employment.organisation_id, chunk), Employment.end_date.is_(None))))
    counts = _zero()
    orgs = set(org_ids)
    for chunk in chunks(sorted(pids), BATCH):
        persons = list(db.session.scalars(select(Person).where(one_of(Person.id, chunk))))
        for pc in service.compliance_for(ROLLUP, persons, on, messages=False).values():
            counts["people"] += 1
            counts["certified"] += all(p.certified for p in pc.posts
                                       if p.employment.organisation_id in orgs)
            counts["hours_on_track"] += pc.hours_on_track
            counts["health_current"] += pc.health_current
            counts["criminal_record_on_file"] += pc.record_on_file
            counts["banned_employed"] += pc.banned
            counts["multi_institution"] += pc.multi_institution
    return counts

