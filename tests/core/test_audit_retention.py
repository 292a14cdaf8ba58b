"""Audit log retention: entries past the retention period are purged by the nightly job, a batch
at a time; nothing younger can be deleted, not even by SQL, and nothing can be changed."""

from __future__ import annotations

import ast
import importlib.util
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError

from lms.core import audit_ddl, settings
from lms.core.actors import DEMO, system_actor
from lms.core.audit_retention import FLOOR_DAYS, purge_audit_log, retention_cutoff
from lms.core.clock import local_today, utc_now
from lms.core.errors import DomainError
from lms.core.models import AuditLog, AuditRetention
from lms.extensions import db
from tests.conftest import login

JOB = system_actor("jobs:test")


def _entries(**ages: float) -> dict[str, int]:
    """Audit entries named by their action, created `days` days ago (committed at once)."""
    now = utc_now()
    with db.engine.begin() as conn:
        for action, days in ages.items():
            conn.execute(insert(AuditLog.__table__).values(
                action=action, created_at=now - timedelta(days=days), actor_label="test",
                object_type="test", details={}, origin="test"))
    return dict(db.session.execute(select(AuditLog.action, AuditLog.id)
                                   .where(AuditLog.action.in_(ages))).all())


def _actions() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(AuditLog.action).where(AuditLog.object_type == "test")))


def _set_months(months: str) -> None:
    settings.set_setting(DEMO, "audit.retention_months", months, date(2000, 1, 1))
    db.session.commit()


def test_the_purge_deletes_only_entries_past_the_retention_period(world):
    _entries(old_4y=4 * 366, old_37m=37 * 31, kept_35m=35 * 30, kept_200d=200, kept_new=0)

    result = purge_audit_log(JOB)
    db.session.commit()

    assert result["count"] == 2 and result["retention_months"] == 36  # the default: 3 years
    assert _actions() == {"kept_35m", "kept_200d", "kept_new"}
    record = db.session.scalar(select(AuditLog).where(AuditLog.action == "audit.purged"))
    assert record.actor_label == "jobs:test"
    assert record.details["count"] == 2
    assert record.details["cutoff"] == retention_cutoff().isoformat(sep=" ")
    # the world's own entries (just written) are all still there
    assert db.session.scalar(select(func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "registry.person_created")) >= 2
    # between purges no cutoff is left for a plain DELETE to use
    assert db.session.get(AuditRetention, 1).purge_before is None


def test_the_purge_goes_in_batches_and_leaves_the_rest_for_the_next_run(world):
    _entries(**{f"old_{n}": 1200 + n for n in range(5)}, kept=30)
    first = purge_audit_log(JOB, batch_size=2, limit=3)
    assert (first["count"], first["more"]) == (3, True)
    second = purge_audit_log(JOB, batch_size=2, limit=3)
    db.session.commit()
    assert (second["count"], second["more"]) == (2, False)
    assert _actions() == {"kept"}


def test_six_months_is_the_floor_of_the_setting(world):
    with pytest.raises(DomainError, match="at least 6") as refused:
        settings.set_setting(DEMO, "audit.retention_months", "5", local_today())
    assert "between 6 and" in str(refused.value)
    db.session.rollback()
    _set_months("6")
    _entries(gone=FLOOR_DAYS + 10, kept=170)
    assert purge_audit_log(JOB)["count"] == 1
    db.session.commit()
    assert _actions() == {"kept"}


def test_the_cutoff_is_the_city_day_and_never_under_the_floor(app):
    # 00:30 on 1 September in Beijing is still 31 August in UTC: three years before the city's day
    assert retention_cutoff(datetime(2026, 8, 31, 16, 30)) == datetime(2023, 8, 31, 16, 0)
    _set_months("6")
    # 31 March less six months is 30 September, 182 days: the floor keeps 184 days
    assert retention_cutoff(datetime(2027, 3, 31, 4, 0)) == datetime(2026, 9, 27, 16, 0)
    assert retention_cutoff(datetime(2027, 3, 31, 4, 0)) <= datetime(2027, 3, 31) - timedelta(
        days=audit_ddl.MINIMUM_DAYS)


def _retention_row(purge_before: datetime | None) -> None:
    row = db.session.get(AuditRetention, 1) or AuditRetention(id=1)
    row.purge_before = purge_before
    db.session.add(row)
    db.session.commit()


def _delete(entry_id: int) -> None:
    db.session.execute(text("DELETE FROM audit_logs WHERE id = :id"), {"id": entry_id})
    db.session.commit()


def test_a_recent_entry_cannot_be_deleted_even_by_sql(world):
    ids = _entries(recent=100, old=400)
    now = utc_now()
    # whatever cutoff SQL writes, the database refuses one younger than 183 days by its clock
    for cutoff in (None, now, now - timedelta(days=150), now + timedelta(days=3650)):
        _retention_row(cutoff)
        for name in ("recent", "old"):
            with pytest.raises(DBAPIError) as refused:
                _delete(ids[name])
            assert audit_ddl.DELETE_MESSAGE in str(refused.value)
            db.session.rollback()
    # a plain DELETE of everything fails
    _retention_row(now - timedelta(days=300))
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text("DELETE FROM audit_logs"))
    db.session.rollback()
    assert _actions() == {"recent", "old"}
    # an old enough cutoff lets exactly the entries before it go (what the purge relies on)
    _delete(ids["old"])
    assert _actions() == {"recent"}


def test_no_entry_can_be_changed_whatever_the_cutoff(world):
    ids = _entries(old=900)
    _retention_row(utc_now() - timedelta(days=800))
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text("UPDATE audit_logs SET action = 'forged' WHERE id = :id"),
                           {"id": ids["old"]})
        db.session.commit()
    db.session.rollback()
    assert _actions() == {"old"}


def test_the_retention_job_purges_and_audits(app, world):
    _entries(old=1200, kept=10)
    result = app.test_cli_runner().invoke(args=["jobs", "run", "retention-purge"])
    assert result.exit_code == 0, result.output
    assert "'audit_logs': 1" in result.output
    assert _actions() == {"kept"}
    record = db.session.scalar(select(AuditLog).where(AuditLog.action == "audit.purged"))
    assert record.actor_label == "jobs:auth.purge_expired" and record.details["count"] == 1


def test_the_audit_log_page_says_how_long_entries_are_kept(client, world):
    _set_months("60")
    login(client, "admin")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "Entries are kept 60 months" in page


def test_the_migration_installs_the_triggers_the_tests_lift():
    """The migration inlines its triggers (it imports no application code); they are the ones
    lms/core/audit_ddl.py keeps for the test suite."""
    path = next(Path(__file__).resolve().parents[2].glob(
        "migrations/versions/*_3d5de8955483_*.py"))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [n.module if isinstance(n, ast.ImportFrom) else a.name
                for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
                for a in (n.names if isinstance(n, ast.Import) else [n])]
    assert not [m for m in imported if m and m.split(".")[0] == "lms"], imported
    spec = importlib.util.spec_from_file_location("audit_retention_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for dialect in ("sqlite", "postgresql"):
        for which in ("create", "drop"):
            assert module._TRIGGERS[dialect][which] == audit_ddl.statements(dialect, which)
