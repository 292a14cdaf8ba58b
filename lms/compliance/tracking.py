"""Marks people whose compliance may have changed, in the transaction that changed it.

Lower packages (registry, ledger, certificates, enforcement's bans) may not import compliance
(DESIGN §3), so compliance listens to the ORM session instead: after every flush, the persons of
new, changed or deleted employments, ledger entries (the ledger's yearly totals are written
beside them), qualifications (certificates, issued or entered), bans and staff records go into
`compliance_dirty`. A state machine moves its object with a compare-and-set UPDATE the ORM does
not see, but records a StateEvent beside it: an event on an employment (ended), a ban or a staff
record marks that row's person. The roster import writes employments in bulk (COPY), past the ORM; its audit
record names the import batch, so that batch's people are marked from the employments table.

Registered once, when create_app imports lms.compliance.models."""

from __future__ import annotations

from sqlalchemy import event, literal, select
from sqlalchemy.orm import Session

from lms.core.models import AuditLog, StateEvent, utcnow
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
    batches: set[str] = set()
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
        elif isinstance(obj, AuditLog) and obj.action == "registry.roster_imported":
            batch = (obj.details or {}).get("batch")
            if batch:
                batches.add(batch)
    if not (person_ids or id_numbers or batches or moved):
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
    if batches:
        sources.append(select(Employment.person_id, literal(now))
                       .where(Employment.import_batch.in_(sorted(batches))).distinct())
    for table_name, ids in moved.items():
        model = MOVED[table_name]
        sources.append(select(model.person_id, literal(now))
                       .where(model.id.in_(sorted(ids)), model.person_id.is_not(None)))
        if model is Ban:
            sources.append(select(Person.id, literal(now)).join(Ban, Ban.id_number == Person.id_number)
                           .where(Ban.id.in_(sorted(ids))))
    for source in sources:
        connection.execute(_marked(insert(table).from_select(["person_id", "marked_at"], source)))


def _marked(statement):
    """Mark, or mark again: a person already marked gets this write's time, so a refresh that
    read the earlier mark (and maybe not this write) leaves the new one (rollups._forget)."""
    return statement.on_conflict_do_update(index_elements=["person_id"],
                                           set_={"marked_at": statement.excluded.marked_at})
