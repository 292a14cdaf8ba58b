"""The audit log is append-only in the database itself, on SQLite and PostgreSQL alike."""

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from lms.core import audit, audit_ddl
from lms.core.models import AuditLog
from lms.extensions import db


def _entry(world) -> AuditLog:
    entry = audit.record(world.users["admin"], "test.recorded", world.inst, note="kept")
    db.session.commit()
    return entry


@pytest.mark.parametrize("statement", [
    "UPDATE audit_logs SET action = 'test.forged' WHERE id = :id",
    "UPDATE audit_logs SET actor_id = NULL",
    "DELETE FROM audit_logs WHERE id = :id",
    "DELETE FROM audit_logs",
])
def test_the_database_refuses_to_change_or_delete_an_audit_entry(world, statement):
    entry = _entry(world)
    with pytest.raises(DBAPIError) as raised:
        db.session.execute(text(statement), {"id": entry.id})
        db.session.commit()
    assert audit_ddl.MESSAGE in str(raised.value)
    db.session.rollback()
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.id == entry.id)) == "test.recorded"


def test_the_orm_cannot_change_one_either(world):
    entry = _entry(world)
    entry.details = {"note": "rewritten"}
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditLog, entry.id))
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditLog, entry.id, populate_existing=True).details == {"note": "kept"}


def test_adding_entries_still_works(world):
    before = db.session.scalar(select(db.func.count(AuditLog.id)))
    _entry(world)
    assert db.session.scalar(select(db.func.count(AuditLog.id))) == before + 1


def test_postgresql_also_refuses_truncate(world):
    _entry(world)
    if db.engine.dialect.name != "postgresql":
        assert db.engine.dialect.name == "sqlite"  # SQLite has no TRUNCATE; DELETE is covered
        return
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text("TRUNCATE audit_logs CASCADE"))
    db.session.rollback()
