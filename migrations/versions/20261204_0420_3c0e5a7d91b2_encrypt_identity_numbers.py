"""Identity and bank account numbers encrypted at rest, with keyed lookup hashes (issue 18)

persons.id_number and bans.id_number become id_number_enc (AES-GCM ciphertext),
id_number_hash (HMAC-SHA256, unique on persons, indexed on bans) and id_number_tail (HMAC of
the last four); subsidy_claims.bank_account becomes bank_account_enc; the stored files that
carry numbers (job_inputs.data: uploaded rosters; job_outputs.data: exports, the payment
export with bank accounts; certificates.pdf) are encrypted
(lms.core.crypto.EncryptedBlob; same column names). Existing rows are
encrypted in batches with the keys of the running configuration (LMS_DATA_KEYS,
LMS_LOOKUP_KEY: lms.core.crypto), then the plaintext columns are dropped. On SQLite the tables
are recreated (batch mode); migrations/env.py turns foreign keys off around it, and SQLite's
secure_delete (lms/__init__.py) wipes the old tables' pages, so no plaintext stays in the file.

Revision ID: 3c0e5a7d91b2
Revises: a4c1e7d2b9f0
Create Date: 2026-12-04 04:00:00

"""
from alembic import op
import sqlalchemy as sa
from flask import current_app


# revision identifiers, used by Alembic.
revision = '3c0e5a7d91b2'
down_revision = 'a4c1e7d2b9f0'
branch_labels = None
depends_on = None

BATCH = 10000


def _keyring():
    return current_app.extensions["lms_keyring"]


def _convert(table, source, updates, convert, key="id", binary=False):
    """Read `source` in key order, batch by batch, and write the converted columns by key."""
    bind = op.get_bind()
    assignments = ", ".join(f"{column} = :{column}" for column in updates)
    update = sa.text(f"UPDATE {table} SET {assignments} WHERE {key} = :key")  # noqa: S608
    if binary:
        update = update.bindparams(*(sa.bindparam(column, type_=sa.LargeBinary)
                                     for column in updates))
    postgresql = bind.dialect.name == "postgresql"
    if postgresql:
        # a province has a million persons: each batch goes by COPY into a scratch table and
        # one UPDATE ... FROM, not a million single-row updates
        kind = "bytea" if binary else "text"
        bind.exec_driver_sql(f"CREATE TEMPORARY TABLE _converted (key integer PRIMARY KEY, "
                             + ", ".join(f"{c} {kind}" for c in updates) + ") ON COMMIT DROP")
        update = sa.text(f"UPDATE {table} SET "  # noqa: S608
                         + ", ".join(f"{c} = _converted.{c}" for c in updates)
                         + f" FROM _converted WHERE {table}.{key} = _converted.key")
    last = 0
    while True:
        rows = bind.execute(sa.text(
            f"SELECT {key}, {source} FROM {table} WHERE {key} > :last "  # noqa: S608
            f"AND {source} IS NOT NULL ORDER BY {key} LIMIT {BATCH}"),
            {"last": last}).all()
        if not rows:
            break
        if postgresql:
            cursor = bind.connection.driver_connection.cursor()
            with cursor.copy(f"COPY _converted (key, {', '.join(updates)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[0], *convert(row[1])])
            bind.execute(update)
            bind.exec_driver_sql("TRUNCATE _converted")
        else:
            bind.execute(update, [{"key": row[0], **dict(zip(updates, convert(row[1])))}
                                  for row in rows])
        last = rows[-1][0]
    if postgresql:
        bind.exec_driver_sql("DROP TABLE _converted")


FILES = (("job_inputs", "data", "job_id", False), ("job_outputs", "data", "job_id", False),
         ("certificates", "pdf", "id", True))


def _encrypt_files(ring):
    """The stored files that print or list identity numbers, encrypted. On PostgreSQL into a new
    column that takes the old one's name: an update in place would leave the plaintext in the
    old row versions, which the rewrite below keeps (this transaction may still roll back),
    while a dropped column it empties. On SQLite in place (the old pages are overwritten; a
    recreated certificates table would break an older migration's downgrade)."""
    if op.get_bind().dialect.name != "postgresql":
        for table, column, key, _nullable in FILES:
            _convert(table, column, (column,), lambda data: (ring.seal(bytes(data), "file"),),
                     key=key, binary=True)
        return
    for table, column, key, nullable in FILES:
        sealed = f"{column}_sealed"
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(sealed, sa.LargeBinary(), nullable=True))
        _convert(table, column, (sealed,), lambda data: (ring.seal(bytes(data), "file"),),
                 key=key, binary=True)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column(column)
            batch_op.alter_column(sealed, new_column_name=column,
                                  existing_type=sa.LargeBinary(), nullable=nullable)


def _decrypt_files(ring):
    for table, column, key, _nullable in FILES:
        _convert(table, column, (column,), lambda data: (ring.open(bytes(data), "file"),),
                 key=key, binary=True)


def _encrypt_numbers(table):
    ring = _keyring()
    _convert(table, "id_number", ("id_number_enc", "id_number_hash", "id_number_tail"),
             lambda number: (ring.encrypt(number, "id_number"), ring.lookup(number),
                             ring.tail_lookup(number)))


def upgrade():
    for table in ("persons", "bans"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('id_number_enc', sa.String(length=128), nullable=True))
            batch_op.add_column(sa.Column('id_number_hash', sa.String(length=64), nullable=True))
            batch_op.add_column(sa.Column('id_number_tail', sa.String(length=64), nullable=True))
        _encrypt_numbers(table)
    with op.batch_alter_table('subsidy_claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bank_account_enc', sa.String(length=128), nullable=True))
    ring = _keyring()
    _convert("subsidy_claims", "bank_account", ("bank_account_enc",),
             lambda account: (ring.encrypt(account, "bank_account"),))
    _encrypt_files(ring)

    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_persons_id_number'), type_='unique')
        batch_op.drop_column('id_number')
        for column in ('id_number_enc', 'id_number_hash', 'id_number_tail'):
            batch_op.alter_column(column, existing_type=sa.String(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_persons_id_number_hash'),
                                          ['id_number_hash'])
    with op.batch_alter_table('bans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bans_id_number'))
        batch_op.drop_column('id_number')
        for column in ('id_number_enc', 'id_number_hash', 'id_number_tail'):
            batch_op.alter_column(column, existing_type=sa.String(), nullable=False)
        batch_op.create_index(batch_op.f('ix_bans_id_number_hash'), ['id_number_hash'],
                              unique=False)
    with op.batch_alter_table('subsidy_claims', schema=None) as batch_op:
        batch_op.drop_column('bank_account')
        batch_op.alter_column('bank_account_enc', existing_type=sa.String(length=128),
                              nullable=False)
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL's DROP COLUMN only hides the column, and the updates above left the old row
        # versions behind: rewrite each table (CLUSTER nulls dropped columns and keeps only live
        # rows), so its files hold no number in clear. Old backups and WAL archives still do.
        for table in ("persons", "bans", "subsidy_claims", "job_inputs", "job_outputs",
                      "certificates"):
            op.execute(f"CLUSTER {table} USING pk_{table}")
            op.execute(f"ALTER TABLE {table} SET WITHOUT CLUSTER")


def downgrade():
    ring = _keyring()
    for table in ("persons", "bans"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('id_number', sa.String(length=18), nullable=True))
        _convert(table, "id_number_enc", ("id_number",),
                 lambda token: (ring.decrypt(token, "id_number"),))
    with op.batch_alter_table('subsidy_claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bank_account', sa.String(length=32), nullable=True))
    _convert("subsidy_claims", "bank_account_enc", ("bank_account",),
             lambda token: (ring.decrypt(token, "bank_account"),))
    _decrypt_files(ring)

    with op.batch_alter_table('subsidy_claims', schema=None) as batch_op:
        batch_op.drop_column('bank_account_enc')
        batch_op.alter_column('bank_account', existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table('bans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bans_id_number_hash'))
        for column in ('id_number_enc', 'id_number_hash', 'id_number_tail'):
            batch_op.drop_column(column)
        batch_op.alter_column('id_number', existing_type=sa.String(length=18), nullable=False)
        batch_op.create_index(batch_op.f('ix_bans_id_number'), ['id_number'], unique=False)
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_persons_id_number_hash'), type_='unique')
        for column in ('id_number_enc', 'id_number_hash', 'id_number_tail'):
            batch_op.drop_column(column)
        batch_op.alter_column('id_number', existing_type=sa.String(length=18), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_persons_id_number'), ['id_number'])
