"""Marks people whose compliance may have changed, in the transaction that changed it.

Lower packages (registry, ledger, certificates, enforcement's bans) may not import compliance
(DESIGN §3), so compliance listens to the ORM session instead: after every flush, the persons of
new, changed or deleted employments, ledger entries (the ledger's yearly totals are written
beside them), qualifications (certificates, issued or entered), bans and staff records go into
`compliance_dirty`. A state machine moves its object with a compare-and-set UPDATE the ORM does
not see, but records a StateEvent beside it: an event on an employment (ended), a ban or a staff
record marks that row's person. The roster import writes employments in bulk, past the ORM,
and tells us with lms.core.bulk.people_changed, chunk by chunk on its writing connection.

Registered once, when create_app imports lms.compliance.models."""

from __future__ import annotations

from sqlalchemy import event, literal, select, true
from sqlalchemy.orm import Session

from lms.core.bulk import chunks, each_of, people_changed
from lms.core.models import StateEvent, utcnow
from lms.ledger.models import LedgerEntry
from lms.registry.models import Ban, Employment, Person, Qualification, StaffRecord

from .models import ComplianceDirty

#: models whose rows carry a person_id that decides compliance
TRACKED = (Employment, LedgerEntry, Qualification, StaffRecord, Ban)
#: state-machine objects, by table: their moves are UPDATEs the session does not track
MOVED = {model.__tablename__: model for model in (Employment, Qualification, StaffRecord, Ban)}


def _insert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


@event.listens_for(Session, "after_flush")
def _mark_dirty(session: Session, flush_context) -> None:
    person_ids: set[int] = set()
    id_numbers: set[str] = set()
    moved: dict[str, set[int]] = {}
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, StateEvent) and obj.object_type in MOVED:
            moved.setdefault(obj.object_type, set()).add(obj.object_id)
            continue
        if isinstance(obj, TRACKED):
            if getattr(obj, "person_id", None) is not None:
                person_ids.add(obj.person_id)
            elif isinstance(obj, Ban):
                id_numbers.add(obj.id_number)
    if not (person_ids or id_numbers or moved):
        return
    connection = session.connection()
    insert = _insert(connection.dialect.name)
    table = ComplianceDirty.__table__
    now = utcnow()
    if person_ids:
        connection.execute(_marked(insert(table).values(
            [{"person_id": pid, "marked_at": now} for pid in sorted(person_ids)])))
    sources = []
    if id_numbers:
        sources.append(select(Person.id, literal(now)).where(Person.id_number.in_(sorted(id_numbers))))
    for table_name, ids in moved.items():
        model = MOVED[table_name]
        sources.append(select(model.person_id, literal(now))
                       .where(model.id.in_(sorted(ids)), model.person_id.is_not(None)))
        if model is Ban:
            sources.append(select(Person.id, literal(now)).join(Ban, Ban.id_number == Person.id_number)
                           .where(Ban.id.in_(sorted(ids))))
    for source in sources:
        connection.execute(_marked(insert(table).from_select(["person_id", "marked_at"], source)))


@people_changed.connect
def _mark_people(sender, *, connection, person_ids) -> None:
    """People whose rows were written in bulk (a roster import's employments), marked on the
    connection that wrote them, in its transaction."""
    dialect = connection.dialect.name
    insert = _insert(dialect)
    now = utcnow()
    for chunk in chunks(sorted(set(person_ids))):
        ids = each_of(chunk, dialect)
        connection.execute(_marked(insert(ComplianceDirty.__table__).from_select(
            # WHERE: SQLite would read the upsert's ON as a join's without one
            ["person_id", "marked_at"], select(ids.c.value, literal(now)).where(true()))))


def _marked(statement):
    """Mark, or mark again: a person already marked gets this write's time, so a refresh that
    read the earlier mark (and maybe not this write) leaves the new one (rollups._forget)."""
    return statement.on_conflict_do_update(index_elements=["person_id"],
                                           set_={"marked_at": statement.excluded.marked_at})
