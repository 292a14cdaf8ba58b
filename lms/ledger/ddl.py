"""The database half of "append-only": triggers that refuse UPDATE and DELETE on ledger rows.

The migration that creates the ledger installs its own copy of these statements (inlined as of
its revision: a migration never imports live code); they are kept here so the test suite can
lift the triggers for its own table-emptying between tests (tests/conftest.py), and a test
checks this copy still matches the migration's.
"""

from __future__ import annotations

MESSAGE = "ledger entries are append-only"

SQLITE = {
    "create": [
        "CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
        "CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    ],
    "drop": [
        "DROP TRIGGER IF EXISTS ledger_entries_no_update",
        "DROP TRIGGER IF EXISTS ledger_entries_no_delete",
    ],
}

POSTGRESQL = {
    "create": [
        "CREATE FUNCTION ledger_entries_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation'; END $$",
        "CREATE TRIGGER ledger_entries_no_change BEFORE UPDATE OR DELETE ON ledger_entries "
        "FOR EACH ROW EXECUTE FUNCTION ledger_entries_refuse()",
        "CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries "
        "FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_refuse()",
    ],
    "drop": [
        "DROP TRIGGER IF EXISTS ledger_entries_no_truncate ON ledger_entries",
        "DROP TRIGGER IF EXISTS ledger_entries_no_change ON ledger_entries",
        "DROP FUNCTION IF EXISTS ledger_entries_refuse()",
    ],
}


def statements(dialect: str, which: str) -> list[str]:
    return {"sqlite": SQLITE, "postgresql": POSTGRESQL}[dialect][which]
