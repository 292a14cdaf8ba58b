"""The class-hour ledger: append-only in the database, one credit per source, totals that
equal the entries, corrections by reversal, external hours with evidence."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from lms.core.actors import system_actor
from lms.core.errors import DomainError, PermissionDenied
from lms.extensions import db
from lms.ledger import service
from lms.ledger.cli import verify_command
from lms.ledger.models import LedgerEntry, LedgerTotal

PDF = b"%PDF-1.4\n%evidence\n"
TEST = system_actor("test")


def _credit(person, ref, hours="1.5", category="skills", year=2026, source_type="lesson"):
    return service.credit(TEST, person, year=year, category=category, hours=Decimal(hours),
                          source_type=source_type, source_ref=ref, description=f"lesson {ref}")


def _total(person, year=2026, category="skills"):
    row = db.session.get(LedgerTotal, (person.id, year, category))
    return row.hours if row else Decimal(0)


def test_a_credit_writes_an_entry_and_its_yearly_total(world):
    entry, created = _credit(world.staff, "1")
    _credit(world.staff, "2", hours="0.6667")
    _credit(world.staff, "3", hours="2", category="ethics")
    db.session.commit()
    assert created and entry.hours == Decimal("1.5000")
    assert _total(world.staff) == Decimal("2.1667")
    assert _total(world.staff, category="ethics") == Decimal("2")
    assert db.session.get(LedgerTotal, (world.staff.id, 2026, "skills")).entries == 2


def test_one_source_credits_a_person_once(world):
    first, created = _credit(world.staff, "lesson-7")
    again, created_again = _credit(world.staff, "lesson-7", hours="9")
    db.session.commit()
    assert created and not created_again and again.id == first.id
    assert _total(world.staff) == Decimal("1.5")
    # the database itself refuses the duplicate, whatever the code does
    with pytest.raises(IntegrityError):
        db.session.execute(text(
            "INSERT INTO ledger_entries (person_id, year, category, hours, source_type, source_ref,"
            " description, recorded_by_label, created_at, reason) VALUES (:p, 2026, 'skills', 1,"
            " 'lesson', 'lesson-7', '', 'x', CURRENT_TIMESTAMP, '')"), {"p": world.staff.id})
    db.session.rollback()
    # another person may be credited for the same source
    _, created_other = _credit(world.staff_other, "lesson-7")
    assert created_other


@pytest.mark.parametrize("statement", [
    "UPDATE ledger_entries SET hours = 100",
    "UPDATE ledger_entries SET description = 'edited' WHERE id = :id",
    "DELETE FROM ledger_entries WHERE id = :id",
    "DELETE FROM ledger_entries",
])
def test_the_database_refuses_to_change_or_delete_an_entry(world, statement):
    entry, _ = _credit(world.staff, "1")
    db.session.commit()
    with pytest.raises(DBAPIError) as raised:
        db.session.execute(text(statement), {"id": entry.id})
        db.session.commit()
    assert "append-only" in str(raised.value)
    db.session.rollback()
    assert db.session.scalar(select(LedgerEntry.hours).where(LedgerEntry.id == entry.id)) == Decimal("1.5")


def test_postgresql_also_refuses_truncate(world):
    if db.engine.dialect.name != "postgresql":
        assert db.engine.dialect.name == "sqlite"  # SQLite has no TRUNCATE; DELETE is covered
        return
    _credit(world.staff, "1")
    db.session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text("TRUNCATE ledger_entries CASCADE"))
    db.session.rollback()


def test_a_correction_reverses_an_entry_and_keeps_both(world):
    entry, _ = _credit(world.staff, "1", hours="3")
    admin = world.users["admin"]
    with pytest.raises(PermissionDenied):
        service.reverse(world.users["inst_admin"], entry, "wrong person")
    with pytest.raises(DomainError):
        service.reverse(admin, entry, "  ")
    correction = service.reverse(admin, entry, "credited to the wrong person")
    db.session.commit()
    assert correction.hours == Decimal("-3") and correction.reverses_id == entry.id
    assert correction.recorded_by_id == admin.id and correction.reason == "credited to the wrong person"
    assert _total(world.staff) == 0
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 2
    with pytest.raises(DomainError, match="already been reversed"):
        service.reverse(admin, entry, "again")
    db.session.rollback()
    with pytest.raises(DomainError, match="cannot itself be reversed"):
        service.reverse(admin, db.session.get(LedgerEntry, correction.id), "undo")


def test_verify_reports_a_total_that_differs_from_its_entries(app, world):
    _credit(world.staff, "1", hours="2")
    _credit(world.staff, "2", hours="1.25")
    db.session.commit()
    runner = app.test_cli_runner()
    ok = runner.invoke(verify_command)
    assert ok.exit_code == 0, ok.output
    # someone edits a kept total behind the service's back (totals are not the ledger)
    db.session.execute(text("UPDATE ledger_totals SET hours = 99 WHERE person_id = :p"),
                       {"p": world.staff.id})
    db.session.commit()
    differences = service.verify()
    assert len(differences) == 1 and differences[0].from_entries == Decimal("3.25")
    bad = runner.invoke(verify_command)
    assert bad.exit_code == 1
    assert "entries add up to 3.2500" in bad.output


def test_concurrent_credits_for_one_person_keep_totals_equal_to_entries(app, world):
    """Many threads credit one person at once (two categories, some the same source twice):
    every distinct source lands once and the kept totals equal the entries."""
    person_id = world.staff.id
    errors = []
    barrier = threading.Barrier(12)

    def work(worker):
        with app.app_context():
            from lms.registry.models import Person
            person = db.session.get(Person, person_id)
            barrier.wait()
            for i in range(10):
                # workers 0-5 and 6-11 credit the same 60 sources: each source once in the end
                ref = f"w{worker % 6}-{i}"
                try:
                    service.credit(TEST, person, year=2026,
                                   category="ethics" if i % 3 == 0 else "skills",
                                   hours=Decimal("0.3333"), source_type="session", source_ref=ref)
                    db.session.commit()
                except Exception as err:  # noqa: BLE001 - reported below
                    db.session.rollback()
                    errors.append(repr(err))
            db.session.remove()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    db.session.expire_all()
    entries = db.session.scalar(select(func.count()).select_from(LedgerEntry))
    assert entries == 60
    assert service.verify() == []
    skills = _total(world.staff)
    ethics = _total(world.staff, category="ethics")
    assert skills == Decimal("0.3333") * 36 and ethics == Decimal("0.3333") * 24


def test_credits_are_written_only_by_whoever_may_vouch_for_them(world):
    """The ledger authorises its writers itself: a caregiver cannot credit their own hours,
    a training base credits attendance but not external hours, a bare name is no actor."""
    def credit(actor, source_type="session", ref="s-1"):
        return service.credit(actor, world.staff, year=2026, category="skills", hours=Decimal(1),
                              source_type=source_type, source_ref=ref)

    for actor in (world.users["caregiver"], world.users["hr_reviewer"], "test", None):
        with pytest.raises(PermissionDenied):
            credit(actor)
    with pytest.raises(PermissionDenied):
        credit(world.users["base_staff"], "external", "x-1")
    with pytest.raises(PermissionDenied):
        credit(world.users["inst_admin"], "lesson", "l-1")
    entry, created = credit(world.users["base_staff"])
    assert created and entry.recorded_by_id == world.users["base_staff"].id
    assert _total(world.staff) == Decimal(1)


def test_the_ledger_migration_carries_its_own_trigger_ddl():
    """History cannot change when live code does: the migration imports nothing from lms, and
    its inlined triggers are (today) the ones the tests lift."""
    import ast
    import importlib.util
    from pathlib import Path

    from lms.ledger import ddl

    path = next(Path(__file__).resolve().parents[2].glob("migrations/versions/*_9f9b6f55c666_*.py"))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [n.module if isinstance(n, ast.ImportFrom) else a.name
                for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
                for a in (n.names if isinstance(n, ast.Import) else [n])]
    assert not [m for m in imported if m and m.split(".")[0] == "lms"], imported
    spec = importlib.util.spec_from_file_location("ledger_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for dialect in ("sqlite", "postgresql"):
        for which in ("create", "drop"):
            assert module._TRIGGERS[dialect][which] == ddl.statements(dialect, which)
