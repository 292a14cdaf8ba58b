"""The audit log is append-only: triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL)

Revision ID: 66f284ccbcf7
Revises: 5c2e8a417f3b
Create Date: 2026-12-03 19:00:00

The statements are written out here as of this revision (lms/core/audit_ddl.py keeps the
same text for the test suite); a migration never imports application code.
"""
from alembic import op


revision = '66f284ccbcf7'
down_revision = '5c2e8a417f3b'
branch_labels = None
depends_on = None

MESSAGE = "audit log entries are append-only"

CREATE = {
    "sqlite": [
        "CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
        "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION audit_logs_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation'; END $$",
        "CREATE TRIGGER audit_logs_no_change BEFORE UPDATE OR DELETE ON audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse()",
        "CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse()",
    ],
}

DROP = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS audit_logs_no_update",
        "DROP TRIGGER IF EXISTS audit_logs_no_delete",
    ],
    "postgresql": [
        "DROP TRIGGER IF EXISTS audit_logs_no_truncate ON audit_logs",
        "DROP TRIGGER IF EXISTS audit_logs_no_change ON audit_logs",
        "DROP FUNCTION IF EXISTS audit_logs_refuse()",
    ],
}


def upgrade():
    for statement in CREATE[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade():
    for statement in DROP[op.get_bind().dialect.name]:
        op.execute(statement)
