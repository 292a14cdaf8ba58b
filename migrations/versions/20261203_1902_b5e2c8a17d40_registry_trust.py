"""registry trust: employment states, who created a caregiver account, occupation data

Employments get a state column (current/ended) for the shared state machine, kept equal to
the end date by a CHECK. account_origins records which institution created a caregiver
account (only it may hand that unused account one-time passwords); it is filled from the
roster imports' accounts and from the audit log's account creations by institution admins.
The occupation data of the seeded certificate types is corrected (data as of this revision,
never imported from the application): 婴幼儿发展引导员 is 4-10-01-01 with levels 四级..一级.

Revision ID: b5e2c8a17d40
Revises: 5b1f0c2e7a44
Create Date: 2026-12-03 19:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'b5e2c8a17d40'
down_revision = '5b1f0c2e7a44'
branch_labels = None
depends_on = None

#: code -> (wrong values seeded before, right values), as of this revision
OCCUPATIONS = {
    # 国家职业分类大典 (2022): 4-10-01-01; 国家职业技能标准《婴幼儿发展引导员》(2021): 四级..一级
    "yingyouer_fazhan": ({"occupation_code": "4-10-01-06", "levels": "5,4,3,2,1"},
                         {"occupation_code": "4-10-01-01", "levels": "4,3,2,1"}),
    # 《育婴员》: 五级..三级
    "yuyingyuan": ({"occupation_code": "4-10-01-02", "levels": "5,4,3,2,1"},
                   {"occupation_code": "4-10-01-02", "levels": "5,4,3"}),
}


def upgrade():
    with op.batch_alter_table('employments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=10), server_default='current',
                                      nullable=False))
    employments = sa.table('employments', sa.column('state', sa.String),
                           sa.column('end_date', sa.Date))
    op.execute(employments.update().where(employments.c.end_date.is_not(None))
               .values(state='ended'))
    with op.batch_alter_table('employments', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_employments_valid_state'), "state IN ('current', 'ended')")
        batch_op.create_check_constraint(
            op.f('ck_employments_state_matches_end'), "(state = 'current' AND end_date IS NULL) OR "
                                 "(state = 'ended' AND end_date IS NOT NULL)")

    op.create_table('account_origins',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_account_origins_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_account_origins_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_account_origins'))
    )
    with op.batch_alter_table('account_origins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_origins_organisation_id'), ['organisation_id'], unique=False)
    # accounts a roster import created belong to the importing institution
    op.execute(sa.text(
        "INSERT INTO account_origins (user_id, organisation_id, created_at) "
        "SELECT r.user_id, MIN(e.organisation_id), CURRENT_TIMESTAMP FROM roster_accounts r "
        "JOIN employments e ON e.import_batch = r.batch GROUP BY r.user_id"))
    # accounts an institution admin created by adding a staff member
    op.execute(sa.text(
        "INSERT INTO account_origins (user_id, organisation_id, created_at) "
        "SELECT u.id, MIN(a.organisation_id), CURRENT_TIMESTAMP FROM audit_logs l "
        "JOIN users a ON a.id = l.actor_id AND a.role = 'institution_admin' "
        "AND a.organisation_id IS NOT NULL "
        "JOIN users u ON l.object_type = 'users' AND l.object_id = CAST(u.id AS VARCHAR(40)) "
        "WHERE l.action = 'auth.user_created' AND u.role = 'caregiver' "
        "AND u.id NOT IN (SELECT user_id FROM account_origins) GROUP BY u.id"))

    fix_occupations()


def fix_occupations():
    """Fix what the seed got wrong; a value an administrator already corrected stays."""
    types = sa.table('qualification_types', sa.column('code', sa.String),
                     sa.column('occupation_code', sa.String), sa.column('levels', sa.String))
    for code, (wrong, right) in OCCUPATIONS.items():
        for column in ('occupation_code', 'levels'):
            if wrong[column] != right[column]:
                op.execute(types.update().where(types.c.code == code,
                                                types.c[column].in_([wrong[column], '']))
                           .values({column: right[column]}))


def downgrade():
    types = sa.table('qualification_types', sa.column('code', sa.String),
                     sa.column('occupation_code', sa.String), sa.column('levels', sa.String))
    for code, (wrong, right) in OCCUPATIONS.items():
        for column in ('occupation_code', 'levels'):
            if wrong[column] != right[column]:
                op.execute(types.update().where(types.c.code == code,
                                                types.c[column] == right[column])
                           .values({column: wrong[column]}))
    with op.batch_alter_table('account_origins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_origins_organisation_id'))
    op.drop_table('account_origins')
    with op.batch_alter_table('employments', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_employments_state_matches_end'), type_='check')
        batch_op.drop_constraint(op.f('ck_employments_valid_state'), type_='check')
        batch_op.drop_column('state')
