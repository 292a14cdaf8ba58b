"""Compliance summary rows keep the facts behind each person's gaps and a digest of the rules
they were computed under, so an institution's staff table is served from them (people changed
since, or whose row may have gone wrong with the date or a rule, are computed from the records)

Revision ID: 7e2f4b8c1d36
Revises: 3c0e5a7d91b2
Create Date: 2026-12-04 13:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7e2f4b8c1d36'
down_revision = '3c0e5a7d91b2'
branch_labels = None
depends_on = None


def upgrade():
    # NULL until the person's next refresh: such a row is never served
    with op.batch_alter_table('compliance_person_status', schema=None) as batch_op:
        batch_op.add_column(sa.Column('facts', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('rules', sa.String(length=16), nullable=True))
    # the city's row: the rules of the last refresh (another digest: everyone is recomputed)
    with op.batch_alter_table('compliance_snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rules', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('compliance_snapshots', schema=None) as batch_op:
        batch_op.drop_column('rules')
    with op.batch_alter_table('compliance_person_status', schema=None) as batch_op:
        batch_op.drop_column('rules')
        batch_op.drop_column('facts')
