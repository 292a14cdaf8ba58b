"""The schema is the migrations' job: they must produce exactly what the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from lms.extensions import db


def test_models_and_migrations_agree(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations differ; run `flask db migrate`: {diff}"


def test_every_table_comes_from_a_migration(app):
    with db.engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        names = set(db.inspect(connection).get_table_names())
    assert version
    assert set(db.metadata.tables) <= names
