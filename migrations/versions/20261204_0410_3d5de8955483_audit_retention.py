"""Audit log retention: a DELETE is allowed only for entries past a cutoff the database checks

Revision ID: 3d5de8955483
Revises: 58709708c5d8
Create Date: 2026-12-04 04:10:00

Cybersecurity Law art. 21: logs are kept at least six months; the audit log is then purged after
a configurable period. A one-row table `audit_retention` holds the cutoff the purge sets inside
its own transaction; the DELETE trigger lets a row go only if it was created before that cutoff
and the cutoff is at least 183 days before the database's own clock. UPDATE (and on PostgreSQL
TRUNCATE) stays refused. The statements are written out here as of this revision
(lms/core/audit_ddl.py keeps the same text for the test suite); a migration never imports
application code.
"""
from alembic import op
import sqlalchemy as sa


revision = '3d5de8955483'
down_revision = '58709708c5d8'
branch_labels = None
depends_on = None

MESSAGE = "audit log entries are append-only"
DELETE_MESSAGE = (f"{MESSAGE}: only entries older than the retention cutoff, itself at least "
                  "183 days old, may be deleted")
MINIMUM_DAYS = 183

#: the triggers of this revision
_TRIGGERS = {
    "sqlite": {
        "create": [
            "CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
            "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "
            "WHEN NOT EXISTS (SELECT 1 FROM audit_retention WHERE purge_before IS NOT NULL "
            f"AND purge_before <= datetime('now', '-{MINIMUM_DAYS} days') "
            "AND OLD.created_at < purge_before) "
            f"BEGIN SELECT RAISE(ABORT, '{DELETE_MESSAGE}'); END",
        ],
        "drop": [
            "DROP TRIGGER IF EXISTS audit_logs_no_update",
            "DROP TRIGGER IF EXISTS audit_logs_no_delete",
        ],
    },
    "postgresql": {
        "create": [
            "CREATE FUNCTION audit_logs_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation'; END $$",
            "CREATE FUNCTION audit_logs_delete_past_retention() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN "
            "IF EXISTS (SELECT 1 FROM audit_retention WHERE purge_before IS NOT NULL "
            f"AND purge_before <= (now() AT TIME ZONE 'UTC') - interval '{MINIMUM_DAYS} days' "
            "AND OLD.created_at < purge_before) THEN RETURN OLD; END IF; "
            f"RAISE EXCEPTION '{DELETE_MESSAGE}' USING ERRCODE = 'restrict_violation'; END $$",
            "CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs "
            "FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse()",
            "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "
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
    },
}

#: the triggers of revision 66f284ccbcf7 (every UPDATE and DELETE refused), for the downgrade
_PREVIOUS = {
    "sqlite": {
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
    },
    "postgresql": {
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
    },
}


def upgrade():
    dialect = op.get_bind().dialect.name
    retention = op.create_table('audit_retention',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('purge_before', sa.DateTime(), nullable=True),
    sa.CheckConstraint('id = 1', name=op.f('ck_audit_retention_one_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_retention'))
    )
    op.bulk_insert(retention, [{"id": 1, "purge_before": None}])
    for statement in [*_PREVIOUS[dialect]["drop"], *_TRIGGERS[dialect]["create"]]:
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for statement in [*_TRIGGERS[dialect]["drop"], *_PREVIOUS[dialect]["create"]]:
        op.execute(statement)
    op.drop_table('audit_retention')
