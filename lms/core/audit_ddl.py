"""The database half of "the audit log is append-only": triggers that refuse UPDATE always,
TRUNCATE on PostgreSQL, and DELETE of any entry but one past the retention cutoff, as
lms/ledger/ddl.py does for the ledger.

Retention (Cybersecurity Law art. 21: network logs are kept at least six months) needs old
entries deleted, and nothing else may be. The one-row table `audit_retention` holds the cutoff:
the retention purge (lms.core.audit_retention) sets it inside its own transaction, deletes, and
clears it again. The DELETE trigger lets a row go only when that cutoff is set, the row was
created before it, and the cutoff itself is at least MINIMUM_DAYS before the database's own
clock, so a plain `DELETE FROM audit_logs` fails and no setting, no application clock and no
SQL can delete an entry younger than that.

The migrations that install them carry their own copy of these statements (a migration never
imports application code; tests/core/test_audit_retention.py checks the copies agree); they are
here so the test suite can lift them for its own table-emptying between tests
(tests/conftest.py), and so a later migration that has to rebuild the table (SQLite's batch
mode copies it, dropping its triggers) can put them back. In production the application
connects as a role that owns no table, so it can neither drop these triggers nor turn them off
(README, "PostgreSQL").
"""

from __future__ import annotations

MESSAGE = "audit log entries are append-only"
#: what a refused DELETE says (it contains MESSAGE)
DELETE_MESSAGE = (f"{MESSAGE}: only entries older than the retention cutoff, itself at least "
                  "183 days old, may be deleted")
#: the youngest cutoff the database accepts, in days before its own clock (six months and more)
MINIMUM_DAYS = 183

SQLITE = {
    "create": [
        "CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
        # created_at and purge_before are stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC) and
        # compare as text, as does datetime('now'), the database's clock in UTC
        "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "  # noqa: S608 - constants
        "WHEN NOT EXISTS (SELECT 1 FROM audit_retention WHERE purge_before IS NOT NULL "
        f"AND purge_before <= datetime('now', '-{MINIMUM_DAYS} days') "
        "AND OLD.created_at < purge_before) "
        f"BEGIN SELECT RAISE(ABORT, '{DELETE_MESSAGE}'); END",
    ],
    "drop": [
        "DROP TRIGGER IF EXISTS audit_logs_no_update",
        "DROP TRIGGER IF EXISTS audit_logs_no_delete",
    ],
}

POSTGRESQL = {
    "create": [
        "CREATE FUNCTION audit_logs_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation'; END $$",
        "CREATE FUNCTION audit_logs_delete_past_retention() RETURNS trigger "  # noqa: S608
        "LANGUAGE plpgsql "
        "AS $$ BEGIN "
        "IF EXISTS (SELECT 1 FROM audit_retention WHERE purge_before IS NOT NULL "
        f"AND purge_before <= (now() AT TIME ZONE 'UTC') - interval '{MINIMUM_DAYS} days' "
        "AND OLD.created_at < purge_before) THEN RETURN OLD; END IF; "
        f"RAISE EXCEPTION '{DELETE_MESSAGE}' USING ERRCODE = 'restrict_violation'; END $$",
        "CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse()",
        "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "  # noqa: S608 - constants
        "FOR EACH ROW EXECUTE FUNCTION audit_logs_delete_past_retention()",
        "CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse()",
    ],
    "drop": [
        "DROP TRIGGER IF EXISTS audit_logs_no_truncate ON audit_logs",
        "DROP TRIGGER IF EXISTS audit_logs_no_delete ON audit_logs",
        "DROP TRIGGER IF EXISTS audit_logs_no_update ON audit_logs",
        "DROP FUNCTION IF EXISTS audit_logs_delete_past_retention()",
        "DROP FUNCTION IF EXISTS audit_logs_refuse()",
    ],
}


def statements(dialect: str, which: str) -> list[str]:
    return {"sqlite": SQLITE, "postgresql": POSTGRESQL}[dialect][which]
