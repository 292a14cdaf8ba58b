"""Where to object to a subsidy notice: a contact per HR bureau, and the bureau of each notice

Revision ID: 5b1f0c2e7a44
Revises: b7d4c2a9e615
Create Date: 2026-12-03 19:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '5b1f0c2e7a44'
down_revision = 'b7d4c2a9e615'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('subsidy_objection_contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('contact', sa.String(length=300), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_subsidy_objection_contacts_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_subsidy_objection_contacts_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subsidy_objection_contacts')),
    sa.UniqueConstraint('organisation_id', name=op.f('uq_subsidy_objection_contacts_organisation_id'))
    )
    with op.batch_alter_table('subsidy_notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bureau_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_subsidy_notices_bureau_id_organisations'), 'organisations', ['bureau_id'], ['id'])


def downgrade():
    with op.batch_alter_table('subsidy_notices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_subsidy_notices_bureau_id_organisations'), type_='foreignkey')
        batch_op.drop_column('bureau_id')
    op.drop_table('subsidy_objection_contacts')
