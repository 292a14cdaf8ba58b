"""Certificates on the shared state machine: the authority of a suspension or revocation, the
history moved into state_events, re-grades of certified results, and exam results marked
certified

Revision ID: 5c2e8a417f3b
Revises: 345a805d3ec7
Create Date: 2026-12-03 21:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '5c2e8a417f3b'
down_revision = '345a805d3ec7'
branch_labels = None
depends_on = None

#: lms.certificates.models.Authority, as of this revision
AUTHORITIES = ("issuer", "regulator", "admin", "regrade", "system")
#: what a user's role acted as on a certificate, as of this revision (lms.certificates.permissions)
ROLE_AUTHORITY = {"regulator": "regulator", "admin": "admin", "base_staff": "issuer"}
#: certificate_events.action -> (state_events.action, the state it led to)
MOVES = {"issued": ("create", "valid"), "suspend": ("suspend", "suspended"),
         "reinstate": ("reinstate", "valid"), "revoke": ("revoke", "revoked"),
         "reissued": ("reissue", None)}


def upgrade():
    bind = op.get_bind()
    allowed = ", ".join(f"'{a}'" for a in AUTHORITIES)
    if bind.dialect.name == "sqlite":
        # a plain ADD COLUMN keeps the table (and its partial unique index) as it is
        op.execute(f"ALTER TABLE certificates ADD COLUMN status_authority VARCHAR(16) "
                   f"CONSTRAINT ck_certificates_valid_status_authority "
                   f"CHECK (status_authority IN ({allowed}))")
    else:
        op.add_column('certificates', sa.Column('status_authority', sa.String(length=16), nullable=True))
        op.create_check_constraint(op.f('ck_certificates_valid_status_authority'), 'certificates',
                                   f"status_authority IN ({allowed})")
    op.add_column('exam_registrations', sa.Column('certified_at', sa.DateTime(), nullable=True))
    op.create_table('certificate_regrades',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('theory_before', sa.Numeric(precision=5, scale=1), nullable=True),
    sa.Column('practical_before', sa.Numeric(precision=5, scale=1), nullable=True),
    sa.Column('theory_after', sa.Numeric(precision=5, scale=1), nullable=True),
    sa.Column('practical_after', sa.Numeric(precision=5, scale=1), nullable=True),
    sa.Column('result_before', sa.String(length=8), nullable=False),
    sa.Column('result_after', sa.String(length=8), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("outcome IN ('unchanged', 'revoked')", name=op.f('ck_certificate_regrades_valid_outcome')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_certificate_regrades_actor_id_users')),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], name=op.f('fk_certificate_regrades_certificate_id_certificates')),
    sa.ForeignKeyConstraint(['registration_id'], ['exam_registrations.id'], name=op.f('fk_certificate_regrades_registration_id_exam_registrations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate_regrades'))
    )
    op.create_index(op.f('ix_certificate_regrades_certificate_id'), 'certificate_regrades', ['certificate_id'], unique=False)

    # results that already have a certificate: their scores are settled
    op.execute("UPDATE exam_registrations SET certified_at = (SELECT c.created_at FROM certificates c "
               "WHERE c.registration_id = exam_registrations.id) WHERE EXISTS (SELECT 1 FROM "
               "certificates c WHERE c.registration_id = exam_registrations.id)")

    # the history, into the shared table; each move's authority from the actor's role
    rows = bind.execute(sa.text(
        "SELECT e.certificate_id, e.action, e.reason, e.actor_id, e.actor_label, e.created_at, u.role "
        "FROM certificate_events e LEFT JOIN users u ON u.id = e.actor_id "
        "ORDER BY e.certificate_id, e.created_at, e.id")).fetchall()
    events = sa.table("state_events", *(sa.column(c) for c in (
        "object_type", "object_id", "action", "from_state", "to_state", "actor_id", "actor_label",
        "authority", "reason", "created_at")))
    state: dict[int, str] = {}
    authority_in_force: dict[int, str] = {}
    batch = []
    for cert_id, action, reason, actor_id, label, created_at, role in rows:
        new_action, target = MOVES.get(action, (action, None))
        source = state.get(cert_id, "")
        target = target or source or "valid"
        authority = ROLE_AUTHORITY.get(role or "", "system" if actor_id is None else "")
        if new_action in ("suspend", "revoke"):
            authority_in_force[cert_id] = authority or "regulator"
        elif new_action == "reinstate":
            authority_in_force.pop(cert_id, None)
        state[cert_id] = target
        batch.append(dict(object_type="certificates", object_id=cert_id, action=new_action,
                          from_state=source, to_state=target, actor_id=actor_id,
                          actor_label=label or "", authority=authority, reason=reason or "",
                          created_at=created_at))
    if batch:
        op.bulk_insert(events, batch)
    certificates = sa.table("certificates", sa.column("id", sa.Integer),
                            sa.column("status", sa.String), sa.column("status_authority", sa.String))
    for cert_id, authority in authority_in_force.items():
        op.execute(certificates.update().where(certificates.c.id == cert_id,
                                               certificates.c.status != "valid")
                   .values(status_authority=authority))
    # a suspension with no history left: the strictest reading (a regulator's)
    op.execute(certificates.update().where(certificates.c.status != "valid",
                                           certificates.c.status_authority.is_(None))
               .values(status_authority="regulator"))

    op.drop_index(op.f('ix_certificate_events_certificate_id'), table_name='certificate_events')
    op.drop_table('certificate_events')


def downgrade():
    op.create_table('certificate_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_certificate_events_actor_id_users')),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], name=op.f('fk_certificate_events_certificate_id_certificates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate_events'))
    )
    op.create_index(op.f('ix_certificate_events_certificate_id'), 'certificate_events', ['certificate_id'], unique=False)
    op.execute("INSERT INTO certificate_events (certificate_id, action, reason, actor_id, actor_label, created_at) "
               "SELECT object_id, CASE action WHEN 'create' THEN 'issued' WHEN 'reissue' THEN 'reissued' "
               "ELSE action END, reason, actor_id, actor_label, created_at FROM state_events "
               "WHERE object_type = 'certificates' ORDER BY id")
    op.execute("DELETE FROM state_events WHERE object_type = 'certificates'")
    op.drop_index(op.f('ix_certificate_regrades_certificate_id'), table_name='certificate_regrades')
    op.drop_table('certificate_regrades')
    with op.batch_alter_table('exam_registrations', schema=None) as batch_op:
        batch_op.drop_column('certified_at')
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE certificates DROP COLUMN status_authority")
    else:
        op.drop_constraint(op.f('ck_certificates_valid_status_authority'), 'certificates', type_='check')
        op.drop_column('certificates', 'status_authority')
