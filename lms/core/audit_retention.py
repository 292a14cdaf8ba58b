"""Audit log retention: entries are kept `audit.retention_months` months (never under six: the
Cybersecurity Law, art. 21, keeps network logs at least six months), then the nightly retention
job deletes them, a batch at a time.

The audit log is otherwise append-only in the database itself (lms/core/audit_ddl.py): the
DELETE trigger lets an entry go only when it is older than the cutoff in `audit_retention`, a
cutoff this purge sets inside its own transaction and clears before the transaction ends, and
only when that cutoff is at least 183 days before the database's own clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from lms.core import audit, audit_ddl, clock
from lms.core.models import AuditLog, AuditRetention
from lms.core.permissions import authorize, has_role
from lms.core.settings import define, get_setting
from lms.extensions import db

#: six months is the legal floor: a value under it is refused when set (settings.set_setting)
RETENTION_MONTHS = define(
    "audit.retention_months", _l("Months the audit log is kept (at least 6: Cybersecurity Law "
                                 "art. 21)"), "int", 36, 6, 600, _l("months"))

#: the service never asks for a cutoff younger than this many days: the database refuses one
#: under audit_ddl.MINIMUM_DAYS by its own clock, and the day more absorbs a difference between
#: the application server's clock and the database's
FLOOR_DAYS = audit_ddl.MINIMUM_DAYS + 1
#: entries deleted by one statement
BATCH_SIZE = 5000
#: entries deleted by one run at most (its one transaction stays bounded); the rest go next night
MAX_PER_RUN = 500_000

#: who may purge: the retention job and the CLI (system actors), or an administrator
can_purge_audit_log = has_role("admin")


def retention_months(on=None) -> int:
    """How many months audit entries are kept (the setting in force on the city's day `on`)."""
    return int(get_setting(RETENTION_MONTHS.key, on=on))


def retention_cutoff(now: datetime | None = None) -> datetime:
    """The stored instant before which audit entries may be deleted: the start of the city's day
    `audit.retention_months` months ago, and never less than FLOOR_DAYS days ago."""
    today = clock.local_today(now)
    by_setting = clock.start_of_local_day(clock.months_before(today, retention_months(today)))
    floor = clock.start_of_local_day(today - timedelta(days=FLOOR_DAYS))
    return min(by_setting, floor)


def purge_audit_log(actor, *, now: datetime | None = None, batch_size: int = BATCH_SIZE,
                    limit: int = MAX_PER_RUN) -> dict:
    """Delete audit entries older than the retention period, `batch_size` at a time and at most
    `limit` in one run, and record how many went and the cutoff."""
    authorize(actor, can_purge_audit_log)
    cutoff = retention_cutoff(now)
    _set_cutoff(cutoff)
    table = AuditLog.__table__
    purged = 0
    while purged < limit:
        batch = (select(table.c.id).where(table.c.created_at < cutoff)
                 .limit(min(batch_size, limit - purged)).scalar_subquery())
        deleted = db.session.execute(delete(table).where(table.c.id.in_(batch))).rowcount or 0
        purged += deleted
        if deleted < batch_size:
            break
    # no cutoff outside this transaction: between purges the trigger refuses every DELETE
    _set_cutoff(None)
    result = {"count": purged, "cutoff": cutoff.isoformat(sep=" "),
              "retention_months": retention_months(clock.local_today(now)),
              "more": purged >= limit}
    audit.record(actor, "audit.purged", None, object_type="audit_logs", **result)
    db.session.flush()
    return result


def _set_cutoff(cutoff: datetime | None) -> None:
    row = db.session.get(AuditRetention, 1)
    if row is None:
        row = AuditRetention(id=1)
        db.session.add(row)
    row.purge_before = cutoff
    db.session.flush()  # the trigger reads the row: it must be written before the deletes
