"""The database half of "the audit log is append-only": triggers that refuse UPDATE, DELETE
(and on PostgreSQL TRUNCATE) on audit_logs, as lms/ledger/ddl.py does for the ledger.

The migration that installs them carries its own copy of these statements (a migration never
imports application code); they are here so the test suite can lift them for its own
table-emptying between tests (tests/conftest.py), and so a later migration that has to
rebuild the table (SQLite's batch mode copies it, dropping its triggers) can put them back.
In production the application connects as a role that owns no table, so it can neither drop
these triggers nor turn them off (README, "PostgreSQL").
"""

from __future__ import annotations

MESSAGE = "audit log entries are append-only"

SQLITE = {
    "create": [
        "CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
        "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
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
        "CREATE TRIGGER audit_logs_no_change BEFORE UPDATE OR DELETE ON audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse()",
        "CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse()",
    ],
    "drop": [
        "DROP TRIGGER IF EXISTS audit_logs_no_truncate ON audit_logs",
        "DROP TRIGGER IF EXISTS audit_logs_no_change ON audit_logs",
        "DROP FUNCTION IF EXISTS audit_logs_refuse()",
    ],
}


def statements(dialect: str, which: str) -> list[str]:
    return {"sqlite": SQLITE, "postgresql": POSTGRESQL}[dialect][which]
