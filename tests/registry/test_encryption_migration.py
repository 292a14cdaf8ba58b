"""The migration that encrypts identity and bank account numbers (issue 18) on a database that
holds them in clear: afterwards the app reads and finds every one, the ban gate still refuses,
one person per number still holds, and the database's files no longer contain any of them —
on SQLite not in the recreated tables' old pages nor the write-ahead log, on PostgreSQL not in
the old row versions nor the dropped columns. Downgrading gives them back."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import IntegrityError

from lms.core.crypto import keyring
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import Person
from lms.subsidies.models import SubsidyClaim
from tests.conftest import database_url, make_app
from tests.factories import id_number

BEFORE = "a4c1e7d2b9f0"
NUMBERS = [id_number("320102", f"19{70 + i}0307", 10 + i) for i in range(30)]
BANNED = id_number("320106", "19800101", 9)  # banned, never registered
ACCOUNT = "6222020402012345678"
FILE = b"PK roster file: " + NUMBERS[0].encode()


def _seed_in_clear() -> None:
    run = db.session.execute
    if db.engine.dialect.name == "sqlite":
        run(text("PRAGMA foreign_keys=OFF"))  # only the rows this migration reads
    else:
        run(text("SET LOCAL session_replication_role = replica"))  # the same, on PostgreSQL
    for i, number in enumerate(NUMBERS, start=1):
        run(text("INSERT INTO persons (id, id_number, name, gender, birth_date, updated_at, "
                 "created_at) VALUES (:id, :n, :name, 'female', '1980-03-07', '2026-01-01', "
                 "'2026-01-01')"), {"id": i, "n": number, "name": f"张{'一二三四五六七八九十'[i % 10]}"})
    for i, (number, person) in enumerate(((NUMBERS[1], 2), (BANNED, None)), start=1):
        run(text("INSERT INTO bans (id, id_number, person_id, name, kind, state, category, "
                 "starts_on, reason, decision_ref, lift_reason, authority, created_at) VALUES "
                 "(:id, :n, :p, '禁业者', 'lifetime', 'in_force', 'child_abuse', '2025-01-01', "
                 "'虐童', '', '', '', '2025-01-01')"), {"id": i, "n": number, "p": person})
    run(text("INSERT INTO subsidy_claims (id, person_id, certificate_id, qualification_type_id, "
             "level, base_id, district_id, standard_id, amount, state, year, payee_kind, "
             "payee_name, bank_name, bank_account, submitted_at, rejected_reason, payment_ref, "
             "updated_at) VALUES (1, 1, 1, 1, 5, 1, 1, 1, 1500, 'submitted', 2026, 'person', "
             "'张一', '工商银行', :a, '2026-01-01', '', '', '2026-01-01')"), {"a": ACCOUNT})
    run(text("INSERT INTO jobs (id, kind, task_id, state, params, progress_done, progress_total, "
             "message, result_link, error, attempts, locale, created_by_label, created_at, "
             "updated_at) VALUES (1, 'registry.import_roster', '', 'queued', '{}', 0, 0, '', '', "
             "'', 0, '', '', '2026-01-01', '2026-01-01')"))
    run(text("INSERT INTO job_inputs (job_id, data) VALUES (1, :d)"), {"d": FILE})
    db.session.commit()


@pytest.fixture
def scratch_database(tmp_path):
    """A database of its own: an SQLite file, or on PostgreSQL (the suite's DATABASE_URL) a
    scratch database beside the suite's, dropped afterwards."""
    url = database_url()
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'm.sqlite3'}", tmp_path / "m.sqlite3"
        return
    name = f"lms_crypt_{uuid.uuid4().hex[:12]}"
    server = create_engine(url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False), None
    finally:
        with server.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.dispose()


def test_existing_numbers_are_encrypted_found_and_gone_from_the_file(scratch_database):
    url, path = scratch_database
    app = make_app(SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade(revision=BEFORE)
        _seed_in_clear()
        upgrade()
        db.session.expire_all()
        assert registry.find_person(NUMBERS[7]).id == 8
        assert {p.id_number for p in db.session.query(Person)} == set(NUMBERS)
        gate = registry.ban_gate([NUMBERS[1], BANNED, NUMBERS[2]], date(2026, 6, 1))
        assert set(gate) == {NUMBERS[1], BANNED}
        assert db.session.get(SubsidyClaim, 1).bank_account == ACCOUNT
        stored = db.session.execute(text("SELECT data FROM job_inputs")).scalar()
        assert NUMBERS[0].encode() not in stored
        assert keyring().open(stored, "file") == FILE
        db.session.commit()
        # one person per number: the unique index is on the lookup hash now
        db.session.add(Person(id_number=NUMBERS[3], name="冒名", gender="female",
                              birth_date=date(1973, 3, 7)))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
        if path is not None:
            files = [Path(str(path) + s) for s in ("", "-wal")]
        else:
            # PostgreSQL on this machine (the suite's server): the tables' own files, after a
            # checkpoint wrote them out. DROP COLUMN alone would leave the numbers there.
            db.session.execute(text("CHECKPOINT"))
            folder = Path(db.session.execute(text("SHOW data_directory")).scalar())
            files = []
            for table in ("persons", "bans", "subsidy_claims", "job_inputs"):
                relation = db.session.execute(text("SELECT pg_relation_filepath(:t)"),
                                              {"t": table}).scalar()
                files += folder.glob(relation + "*")
            db.session.rollback()
        content = b"".join(f.read_bytes() for f in files if f.exists())
        assert len(content) > 8000
        assert [n for n in [*NUMBERS, BANNED, ACCOUNT] if n.encode() in content] == []

        downgrade(revision=BEFORE)
        assert sorted(db.session.execute(text("SELECT id_number FROM persons")).scalars()) == sorted(
            NUMBERS)
        assert db.session.execute(text("SELECT bank_account FROM subsidy_claims")).scalar() == ACCOUNT
        assert db.session.execute(text("SELECT data FROM job_inputs")).scalar() == FILE
        db.session.commit()
        db.engine.dispose()
