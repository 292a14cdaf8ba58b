"""Employment managers: who directly managed each employment, dated (issue 15, child-abuse bans)

Revision ID: 58709708c5d8
Revises: 8bd1b183ecdc
Create Date: 2026-12-03 22:37:58.030969

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '58709708c5d8'
down_revision = '8bd1b183ecdc'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('employment_managers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('employment_id', sa.Integer(), nullable=False),
    sa.Column('manager_employment_id', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('ends_on IS NULL OR ends_on >= starts_on', name=op.f('ck_employment_managers_ends_after_start')),
    sa.ForeignKeyConstraint(['employment_id'], ['employments.id'], name=op.f('fk_employment_managers_employment_id_employments')),
    sa.ForeignKeyConstraint(['manager_employment_id'], ['employments.id'], name=op.f('fk_employment_managers_manager_employment_id_employments')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_employment_managers_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employment_managers'))
    )
    with op.batch_alter_table('employment_managers', schema=None) as batch_op:
        batch_op.create_index('ix_employment_managers_employment', ['employment_id', 'starts_on'], unique=False)



def downgrade():
    with op.batch_alter_table('employment_managers', schema=None) as batch_op:
        batch_op.drop_index('ix_employment_managers_employment')

    op.drop_table('employment_managers')
