"""External hours wait for confirmation above a threshold; presence questions about the lesson

Revision ID: 345a805d3ec7
Revises: 33eefac7026a
Create Date: 2026-12-03 19:00:00

External records gain a state (existing records were credited when entered: confirmed), the
district whose regulators confirm them and the ledger entry that credited them. The study
clock's arithmetic question becomes a question about the lesson (a pending arithmetic question
is dropped: that clock simply runs on), and every presence question asked is kept with the time
its answer took.
"""
import sqlalchemy as sa
from alembic import op

revision = '345a805d3ec7'
down_revision = '33eefac7026a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ledger_external_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=10), nullable=False,
                                      server_default='confirmed'))
        batch_op.add_column(sa.Column('district_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('ledger_entry_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_ledger_external_records_district_id_districts'),
                                    'districts', ['district_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_ledger_external_records_ledger_entry_id_ledger_entries'),
                                    'ledger_entries', ['ledger_entry_id'], ['id'])
        batch_op.create_check_constraint(
            'valid_state', "state IN ('pending', 'confirmed', 'rejected')")
        batch_op.create_index('ix_ledger_external_records_state_district', ['state', 'district_id'],
                              unique=False)
    # every record entered so far was credited at once: link it to its entry
    op.execute(
        "UPDATE ledger_external_records SET ledger_entry_id = (SELECT e.id FROM ledger_entries e "
        "WHERE e.source_type = 'external' AND e.person_id = ledger_external_records.person_id "
        "AND e.source_ref = CAST(ledger_external_records.id AS VARCHAR(64)))")
    with op.batch_alter_table('ledger_external_records', schema=None) as batch_op:
        batch_op.alter_column('state', server_default=None)

    with op.batch_alter_table('study_clocks', schema=None) as batch_op:
        batch_op.drop_column('challenge_question')
        batch_op.drop_column('challenge_answer')
        batch_op.add_column(sa.Column('challenge', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('challenge_key', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('challenge_question_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('challenge_asked_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('challenge_reason', sa.String(length=10), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_study_clocks_challenge_question_id_questions'),
                                    'questions', ['challenge_question_id'], ['id'])

    op.create_table('presence_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=10), nullable=False),
    sa.Column('asked_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=False),
    sa.Column('answer_seconds', sa.Integer(), nullable=False),
    sa.Column('wrong_answers', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.CheckConstraint("reason IN ('periodic', 'idle')", name=op.f('ck_presence_checks_valid_reason')),
    sa.CheckConstraint("outcome IN ('answered', 'replaced')", name=op.f('ck_presence_checks_valid_outcome')),
    sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], name=op.f('fk_presence_checks_lesson_id_lessons')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_presence_checks_person_id_persons')),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_presence_checks_question_id_questions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_presence_checks'))
    )
    op.create_index('ix_presence_checks_person_lesson', 'presence_checks', ['person_id', 'lesson_id'],
                    unique=False)


def downgrade():
    op.drop_index('ix_presence_checks_person_lesson', table_name='presence_checks')
    op.drop_table('presence_checks')
    with op.batch_alter_table('study_clocks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_study_clocks_challenge_question_id_questions'),
                                 type_='foreignkey')
        batch_op.drop_column('challenge_reason')
        batch_op.drop_column('challenge_asked_at')
        batch_op.drop_column('challenge_question_id')
        batch_op.drop_column('challenge_key')
        batch_op.drop_column('challenge')
        batch_op.add_column(sa.Column('challenge_answer', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('challenge_question', sa.String(length=40), nullable=True))
    with op.batch_alter_table('ledger_external_records', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_external_records_state_district')
        batch_op.drop_constraint('valid_state', type_='check')
        batch_op.drop_constraint(batch_op.f('fk_ledger_external_records_ledger_entry_id_ledger_entries'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_ledger_external_records_district_id_districts'),
                                 type_='foreignkey')
        batch_op.drop_column('ledger_entry_id')
        batch_op.drop_column('district_id')
        batch_op.drop_column('state')
