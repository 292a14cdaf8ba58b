"""Sessions and exam sittings share the base's venues and one clash check

Venues stay in their table (now the registry's: an organisation's rooms); every session that
is not cancelled and every exam sitting gets a reservation row, which the one clash check
reads. Exam sittings' free-text venue becomes a venue of the base: a base venue of the same
name, or a new one. The data moves inline, as of this revision.

Revision ID: b7d4c2a9e615
Revises: 3a7c1e0b9d21
Create Date: 2026-12-03 19:00:00

"""
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = 'b7d4c2a9e615'
down_revision = '3a7c1e0b9d21'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('venues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reservations_version', sa.Integer(), nullable=False,
                                      server_default='0'))

    op.create_table('venue_reservations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('venue_id', sa.Integer(), nullable=False),
    sa.Column('use', sa.String(length=10), nullable=False),
    sa.Column('holder_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("use IN ('session', 'exam')", name=op.f('ck_venue_reservations_valid_use')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_venue_reservations_ends_after_start')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_venue_reservations_created_by_id_users')),
    sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], name=op.f('fk_venue_reservations_venue_id_venues')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_venue_reservations')),
    sa.UniqueConstraint('use', 'holder_id', name='uq_venue_reservations_holder')
    )
    op.create_index('ix_venue_reservations_venue_time', 'venue_reservations', ['venue_id', 'starts_at'], unique=False)

    with op.batch_alter_table('exam_sittings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('venue_id', sa.Integer(), nullable=True))

    bind = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)  # stored times are naive UTC
    venues = sa.table('venues', sa.column('id', sa.Integer), sa.column('organisation_id', sa.Integer),
                      sa.column('name', sa.String), sa.column('address', sa.String),
                      sa.column('is_active', sa.Boolean), sa.column('reservations_version', sa.Integer))
    reservations = sa.table(
        'venue_reservations', sa.column('venue_id', sa.Integer), sa.column('use', sa.String),
        sa.column('holder_id', sa.Integer), sa.column('title', sa.String),
        sa.column('starts_at', sa.DateTime), sa.column('ends_at', sa.DateTime),
        sa.column('created_by_id', sa.Integer), sa.column('created_at', sa.DateTime))

    # exam sittings: the free-text venue becomes the base's venue of that name
    sittings = bind.execute(sa.text(
        "SELECT s.id, s.organisation_id, s.venue, s.starts_at, s.duration_minutes, s.created_by_id, "
        "q.name_zh FROM exam_sittings s JOIN qualification_types q ON q.id = s.qualification_type_id"
    )).all()
    known = {(org, name): vid for vid, org, name in bind.execute(
        sa.text("SELECT id, organisation_id, name FROM venues")).all()}
    for sid, org, text, starts, minutes, creator, title in sittings:
        name = " ".join((text or "").split())[:80] or "考场"
        if (org, name) not in known:
            bind.execute(venues.insert().values(organisation_id=org, name=name, address='',
                                                is_active=True, reservations_version=0))
            known[(org, name)] = bind.execute(sa.text(
                "SELECT id FROM venues WHERE organisation_id = :org AND name = :name"),
                {"org": org, "name": name}).scalar_one()
        bind.execute(sa.text("UPDATE exam_sittings SET venue_id = :v WHERE id = :id"),
                     {"v": known[(org, name)], "id": sid})
        if isinstance(starts, str):  # SQLite without type information
            starts = datetime.fromisoformat(starts)
        bind.execute(reservations.insert().values(
            venue_id=known[(org, name)], use='exam', holder_id=sid, title=(title or '')[:200],
            starts_at=starts, ends_at=starts + timedelta(minutes=minutes), created_by_id=creator,
            created_at=now))

    # sessions that still hold their room (cancelled ones gave it back)
    bind.execute(sa.text(
        "INSERT INTO venue_reservations (venue_id, use, holder_id, title, starts_at, ends_at, "
        "created_by_id, created_at) "
        "SELECT t.venue_id, 'session', t.id, substr(c.title, 1, 200), t.starts_at, t.ends_at, "
        "t.created_by_id, t.created_at FROM training_sessions t JOIN courses c ON c.id = t.course_id "
        "WHERE t.status <> 'cancelled'"))

    with op.batch_alter_table('exam_sittings', schema=None) as batch_op:
        batch_op.alter_column('venue_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_exam_sittings_venue_id_venues'), 'venues',
                                    ['venue_id'], ['id'])
        batch_op.drop_column('venue')


def downgrade():
    with op.batch_alter_table('exam_sittings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('venue', sa.String(length=200), nullable=True))
    op.get_bind().execute(sa.text(
        "UPDATE exam_sittings SET venue = (SELECT name FROM venues WHERE venues.id = exam_sittings.venue_id)"))
    with op.batch_alter_table('exam_sittings', schema=None) as batch_op:
        batch_op.alter_column('venue', existing_type=sa.String(length=200), nullable=False)
        batch_op.drop_constraint(batch_op.f('fk_exam_sittings_venue_id_venues'), type_='foreignkey')
        batch_op.drop_column('venue_id')
    op.drop_index('ix_venue_reservations_venue_time', table_name='venue_reservations')
    op.drop_table('venue_reservations')
    with op.batch_alter_table('venues', schema=None) as batch_op:
        batch_op.drop_column('reservations_version')
