"""exams: a bank of exam-only questions; registrations and attempts get states

Papers drew from the lessons' self-check questions, whose answers caregivers see. From here
they draw from `exam_questions` only. Papers already drawn keep their questions: each self-check
question a paper used is copied, inactive (never drawn again), into the bank of the sitting's
certificate as `legacy-<id>`, and the paper's items point at the copy.

Registrations (registered, started, withdrawn, absent) and attempts (open, handed_in,
timed_out) get a state column, filled from what the rows already say.

Revision ID: 33eefac7026a
Revises: b5e2c8a17d40
Create Date: 2026-12-03 19:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '33eefac7026a'
down_revision = 'b5e2c8a17d40'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('exam_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('qualification_type_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('levels', sa.JSON(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('stem', sa.Text(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('single', 'multiple', 'truefalse')", name=op.f('ck_exam_questions_valid_kind')),
    sa.ForeignKeyConstraint(['qualification_type_id'], ['qualification_types.id'], name=op.f('fk_exam_questions_qualification_type_id_qualification_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exam_questions')),
    sa.UniqueConstraint('qualification_type_id', 'key', name='uq_exam_questions_key')
    )
    with op.batch_alter_table('exam_questions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exam_questions_qualification_type_id'), ['qualification_type_id'], unique=False)

    # the papers already drawn: their self-check questions, copied inactive into the exam bank
    items = sa.table('exam_attempt_items', sa.column('id', sa.Integer), sa.column('attempt_id', sa.Integer),
                     sa.column('question_id', sa.Integer))
    attempts = sa.table('exam_attempts', sa.column('id', sa.Integer), sa.column('registration_id', sa.Integer),
                        sa.column('submitted_at', sa.DateTime), sa.column('auto_submitted', sa.Boolean),
                        sa.column('state', sa.String))
    registrations = sa.table('exam_registrations', sa.column('id', sa.Integer), sa.column('sitting_id', sa.Integer),
                             sa.column('theory_score', sa.Numeric), sa.column('state', sa.String))
    sittings = sa.table('exam_sittings', sa.column('id', sa.Integer), sa.column('qualification_type_id', sa.Integer))
    questions = sa.table('questions', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                         sa.column('stem', sa.Text), sa.column('options', sa.JSON), sa.column('answer', sa.JSON),
                         sa.column('tags', sa.JSON))
    bank = sa.table('exam_questions', sa.column('id', sa.Integer), sa.column('qualification_type_id', sa.Integer),
                    sa.column('key', sa.String), sa.column('levels', sa.JSON), sa.column('kind', sa.String),
                    sa.column('stem', sa.Text), sa.column('options', sa.JSON), sa.column('answer', sa.JSON),
                    sa.column('tags', sa.JSON), sa.column('source', sa.String),
                    sa.column('is_active', sa.Boolean), sa.column('imported_at', sa.DateTime))

    def legacy_key(question_id):
        return sa.literal('legacy-') + sa.cast(question_id, sa.String)

    used = (sa.select(sittings.c.qualification_type_id.label('qtype_id'), items.c.question_id.label('question_id'))
            .select_from(items.join(attempts, attempts.c.id == items.c.attempt_id)
                         .join(registrations, registrations.c.id == attempts.c.registration_id)
                         .join(sittings, sittings.c.id == registrations.c.sitting_id))
            .distinct().subquery())
    op.execute(bank.insert().from_select(
        ['qualification_type_id', 'key', 'levels', 'kind', 'stem', 'options', 'answer', 'tags', 'source',
         'is_active', 'imported_at'],
        sa.select(used.c.qtype_id, legacy_key(questions.c.id), sa.literal([], sa.JSON),
                  questions.c.kind, questions.c.stem, questions.c.options, questions.c.answer,
                  questions.c.tags, sa.literal('questions'), sa.false(), sa.func.current_timestamp())
        .select_from(used.join(questions, questions.c.id == used.c.question_id))))

    with op.batch_alter_table('exam_attempt_items', schema=None) as batch_op:
        batch_op.drop_constraint('fk_exam_attempt_items_question_id_questions', type_='foreignkey')
    copy = (sa.select(bank.c.id)
            .select_from(attempts.join(registrations, registrations.c.id == attempts.c.registration_id)
                         .join(sittings, sittings.c.id == registrations.c.sitting_id)
                         .join(bank, bank.c.qualification_type_id == sittings.c.qualification_type_id))
            .where(attempts.c.id == items.c.attempt_id, bank.c.key == legacy_key(items.c.question_id))
            .scalar_subquery())
    op.execute(items.update().values(question_id=copy))
    with op.batch_alter_table('exam_attempt_items', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_exam_attempt_items_question_id_exam_questions'),
                                    'exam_questions', ['question_id'], ['id'])

    # states, from what the rows say
    _add_state('exam_registrations', 'registered', ('registered', 'started', 'withdrawn', 'absent'))
    op.execute(registrations.update().where(registrations.c.id.in_(sa.select(attempts.c.registration_id)))
               .values(state='started'))
    op.execute(registrations.update().where(registrations.c.state == 'registered',
                                            registrations.c.theory_score.is_not(None))
               .values(state='absent'))
    _add_state('exam_attempts', 'open', ('open', 'handed_in', 'timed_out'))
    op.execute(attempts.update().where(attempts.c.submitted_at.is_not(None), attempts.c.auto_submitted.is_(True))
               .values(state='timed_out'))
    op.execute(attempts.update().where(attempts.c.submitted_at.is_not(None), attempts.c.state == 'open')
               .values(state='handed_in'))


def _add_state(table, first, states):
    """A NOT NULL state column with its CHECK, filled with `first` for the rows there are."""
    check = f"state IN ({', '.join(repr(s) for s in states)})"
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite adds the column and its CHECK in place; a batch copy would drop the table,
        # which the foreign keys of its children's rows refuse
        op.execute(f"ALTER TABLE {table} ADD COLUMN state VARCHAR(16) NOT NULL DEFAULT '{first}' "
                   f"CONSTRAINT ck_{table}_valid_state CHECK ({check})")
        return
    op.add_column(table, sa.Column('state', sa.String(length=16), nullable=False, server_default=first))
    op.alter_column(table, 'state', server_default=None)
    op.create_check_constraint(op.f(f'ck_{table}_valid_state'), table, check)


def downgrade():
    with op.batch_alter_table('exam_attempts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_exam_attempts_valid_state'), type_='check')
        batch_op.drop_column('state')
    with op.batch_alter_table('exam_registrations', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_exam_registrations_valid_state'), type_='check')
        batch_op.drop_column('state')
    # papers drawn from the exam bank cannot point back at self-check questions
    op.execute("DELETE FROM exam_attempt_items")
    with op.batch_alter_table('exam_attempt_items', schema=None) as batch_op:
        batch_op.drop_constraint('fk_exam_attempt_items_question_id_exam_questions', type_='foreignkey')
        batch_op.create_foreign_key('fk_exam_attempt_items_question_id_questions', 'questions',
                                    ['question_id'], ['id'])
    with op.batch_alter_table('exam_questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exam_questions_qualification_type_id'))
    op.drop_table('exam_questions')
