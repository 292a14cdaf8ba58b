"""Job outputs (large exports made by a job) and the marks that keep two scheduled reminders
once each: a subsidy notice's end reported to HR, a caregiver's hours reminder per quarter

Revision ID: a4c1e7d2b9f0
Revises: 3d5de8955483
Create Date: 2026-12-04 03:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a4c1e7d2b9f0'
down_revision = '3d5de8955483'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('job_outputs',
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('mimetype', sa.String(length=120), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_job_outputs_job_id_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_id', name=op.f('pk_job_outputs'))
    )
    op.create_table('compliance_hours_reminders',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('quarter', sa.String(length=7), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_compliance_hours_reminders_person_id_persons')),
    sa.PrimaryKeyConstraint('person_id', 'quarter', name=op.f('pk_compliance_hours_reminders'))
    )
    with op.batch_alter_table('subsidy_notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('end_reported_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('subsidy_notices', schema=None) as batch_op:
        batch_op.drop_column('end_reported_at')
    op.drop_table('compliance_hours_reminders')
    op.drop_table('job_outputs')
