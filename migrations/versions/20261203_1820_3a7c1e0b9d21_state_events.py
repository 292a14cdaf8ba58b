"""One event table for every stateful object's moves (the shared transition helper)

Revision ID: 3a7c1e0b9d21
Revises: 2568302fa5c5
Create Date: 2026-12-03 18:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '3a7c1e0b9d21'
down_revision = '2568302fa5c5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('state_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('from_state', sa.String(length=40), nullable=False),
    sa.Column('to_state', sa.String(length=40), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=120), nullable=False),
    sa.Column('authority', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_state_events_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_state_events'))
    )
    op.create_index('ix_state_events_object', 'state_events', ['object_type', 'object_id'], unique=False)


def downgrade():
    op.drop_index('ix_state_events_object', table_name='state_events')
    op.drop_table('state_events')
