"""Bans the regulator imposes: category, state (a transition table), the decision, evidence,
four-eyes lift requests, re-screen alerts; enrolments a ban cancels

Revision ID: 49cfff1898a9
Revises: 36e13b458046
Create Date: 2026-12-03 21:01:41.843431

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '49cfff1898a9'
down_revision = '36e13b458046'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ban_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ban_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('employment_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('district_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['ban_id'], ['bans.id'], name=op.f('fk_ban_alerts_ban_id_bans')),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_ban_alerts_district_id_districts')),
    sa.ForeignKeyConstraint(['employment_id'], ['employments.id'], name=op.f('fk_ban_alerts_employment_id_employments')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_ban_alerts_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_ban_alerts_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ban_alerts'))
    )
    with op.batch_alter_table('ban_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_ban_alerts_district_open', ['district_id', 'resolved_at'], unique=False)
        batch_op.create_index('ix_ban_alerts_org_open', ['organisation_id', 'resolved_at'], unique=False)
        batch_op.create_index('uq_ban_alerts_open', ['employment_id'], unique=True, sqlite_where=sa.text('resolved_at IS NULL'), postgresql_where=sa.text('resolved_at IS NULL'))

    op.create_table('ban_evidence',
    sa.Column('ban_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ban_id'], ['bans.id'], name=op.f('fk_ban_evidence_ban_id_bans')),
    sa.PrimaryKeyConstraint('ban_id', name=op.f('pk_ban_evidence'))
    )
    op.create_table('ban_lift_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ban_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=False),
    sa.CheckConstraint("kind IN ('lift', 'annul')", name=op.f('ck_ban_lift_requests_valid_kind')),
    sa.CheckConstraint("state IN ('pending', 'approved', 'refused')", name=op.f('ck_ban_lift_requests_valid_state')),
    sa.CheckConstraint('decided_by_id IS NULL OR decided_by_id <> requested_by_id', name=op.f('ck_ban_lift_requests_four_eyes')),
    sa.ForeignKeyConstraint(['ban_id'], ['bans.id'], name=op.f('fk_ban_lift_requests_ban_id_bans')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_ban_lift_requests_decided_by_id_users')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_ban_lift_requests_requested_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ban_lift_requests'))
    )
    with op.batch_alter_table('ban_lift_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ban_lift_requests_ban_id'), ['ban_id'], unique=False)
        batch_op.create_index('uq_ban_lift_requests_pending', ['ban_id'], unique=True, sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))

    with op.batch_alter_table('bans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=16), server_default='other', nullable=False))
        batch_op.add_column(sa.Column('state', sa.String(length=10), server_default='in_force', nullable=False))
        batch_op.add_column(sa.Column('decision_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('authority', sa.String(length=120), server_default='', nullable=False))
        batch_op.add_column(sa.Column('incident_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('district_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('linked_to_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_bans_district_id'), ['district_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bans_linked_to_id'), ['linked_to_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_bans_linked_to_id_bans'), 'bans', ['linked_to_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_bans_district_id_districts'), 'districts', ['district_id'], ['id'])
        batch_op.create_check_constraint(op.f('ck_bans_valid_category'),
                                         "category IN ('child_abuse', 'ethics', 'other')")
        batch_op.create_check_constraint(op.f('ck_bans_valid_state'),
                                         "state IN ('in_force', 'lifted', 'annulled', 'expired')")
        batch_op.create_check_constraint(op.f('ck_bans_lifetime_never_expires'),
                                         "kind = 'term' OR state <> 'expired'")

    # bans lifted before there was a state column (as of this revision: only lifted_at said so)
    op.execute("UPDATE bans SET state = 'lifted' WHERE lifted_at IS NOT NULL")

    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('cancel_reason', sa.String(length=200), server_default='', nullable=False))



def downgrade():
    with op.batch_alter_table('enrolments', schema=None) as batch_op:
        batch_op.drop_column('cancel_reason')
        batch_op.drop_column('cancelled_at')

    with op.batch_alter_table('bans', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_bans_lifetime_never_expires'), type_='check')
        batch_op.drop_constraint(op.f('ck_bans_valid_state'), type_='check')
        batch_op.drop_constraint(op.f('ck_bans_valid_category'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_bans_district_id_districts'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_bans_linked_to_id_bans'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_bans_linked_to_id'))
        batch_op.drop_index(batch_op.f('ix_bans_district_id'))
        batch_op.drop_column('linked_to_id')
        batch_op.drop_column('district_id')
        batch_op.drop_column('incident_date')
        batch_op.drop_column('authority')
        batch_op.drop_column('decision_date')
        batch_op.drop_column('state')
        batch_op.drop_column('category')

    with op.batch_alter_table('ban_lift_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_ban_lift_requests_pending', sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_ban_lift_requests_ban_id'))

    op.drop_table('ban_lift_requests')
    op.drop_table('ban_evidence')
    with op.batch_alter_table('ban_alerts', schema=None) as batch_op:
        batch_op.drop_index('uq_ban_alerts_open', sqlite_where=sa.text('resolved_at IS NULL'), postgresql_where=sa.text('resolved_at IS NULL'))
        batch_op.drop_index('ix_ban_alerts_org_open')
        batch_op.drop_index('ix_ban_alerts_district_open')

    op.drop_table('ban_alerts')
