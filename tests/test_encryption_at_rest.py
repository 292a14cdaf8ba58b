"""A copy of the database alone reveals no identity number and no bank account number (issue
18): after a realistic seeding — the demo city (persons, employments, bans, certificates with
their PDFs, subsidy claims paid to bank accounts, the audit log), a roster import run as a job,
a roster upload still queued (its file stored), refusals by the ban gate, registry look-ups,
failed sign-ins by identity number (security events) and an API call — not one seeded number
is in the SQLite file (nor its write-ahead log), in plain bytes or inside a stored zip or PDF;
on the suite's own database (SQLite or PostgreSQL) no text or file column holds one either."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import LargeBinary, String, Text, inspect, select, text

from lms.auth import service as auth_service
from lms.auth.models import Role, User
from lms.core import jobs
from lms.core.clock import local_today
from lms.core.errors import DomainError
from lms.core.excel import write_xlsx
from lms.extensions import db
from lms.registry import roster
from lms.registry import service as registry
from lms.registry.models import Ban, Organisation, Person
from lms.subsidies.models import SubsidyClaim
from tests.conftest import make_app
from tests.factories import id_number

HEADERS = [names[0] for names in roster.COLUMNS.values()][:6]
GIVEN = "安宁静雅慧敏芳丽娟秀英华玉兰桂芝红梅琳洁"
ROSTER = [[f"花{GIVEN[i % 20]}{GIVEN[i // 20]}", id_number("320106", f"1988{1 + i % 9:02d}12", 100 + i), f"1390000{i:04d}",
           "保育员", "2024-03-01", "否"] for i in range(40)]
QUEUED = [["待导入", id_number("320106", "19910405", 777), "", "保育员", "2024-03-01", "否"]]


def _roster_file(rows) -> bytes:
    return write_xlsx(HEADERS, rows, text_columns={1, 2})


def _seed() -> None:
    from lms.api.service import person_status
    from lms.demo import build_demo_city

    summary = build_demo_city()
    db.session.commit()
    admin = db.session.scalar(select(User).where(User.role == Role.INSTITUTION_ADMIN)
                              .order_by(User.id))
    org = db.session.get(Organisation, admin.organisation_id)
    done = jobs.submit(roster.start_import(admin, org, _roster_file(ROSTER)))
    assert done.result["ok"], done.result["errors"][:3]
    # an upload waiting for a worker: its file is in the database
    roster.start_import(admin, org, _roster_file(QUEUED))
    db.session.commit()
    banned = summary["banned_id_number"]
    with pytest.raises(registry.BannedError):  # recorded as a security event
        registry.check_not_banned(banned)
    with pytest.raises(DomainError):
        registry.add_staff(admin, org, id_number=banned, name=summary["banned_name"],
                           post="nursery_carer", start_date=local_today())
    db.session.rollback()
    viewer = db.session.scalar(select(User).where(User.role == Role.ADMIN))
    some = db.session.scalars(select(Person).order_by(Person.id).limit(3)).all()
    for person in some:
        registry.lookup_person(viewer, person.id_number, person.name)
        registry.reveal_id_number(viewer, person)
        with pytest.raises(DomainError):
            auth_service.check_password(person.id_number, "wrong password 1")
    db.session.commit()
    from lms.api.actors import ApiClientActor

    person_status(ApiClientActor(client_id=1, token_id=1, client_name="城市平台", scope="city"),
                  some[0].id_number)
    db.session.commit()
    # the payment export made by a job (it lists bank accounts in full: the bank needs them)
    from flask import current_app

    from lms.subsidies import service as subsidies

    reviewer = db.session.scalar(select(User).where(User.role == Role.HR_REVIEWER)
                                 .order_by(User.id))
    current_app.config["EXPORT_JOB_ROWS"] = 0
    export = jobs.submit(subsidies.start_export(reviewer, subsidies.QueueFilter.from_args({})))
    assert export.result["rows"] >= 1
    assert jobs.has_output(export)
    db.session.commit()


def _numbers() -> set[str]:
    numbers = set(db.session.scalars(select(Person.id_number)))
    numbers |= set(db.session.scalars(select(Ban.id_number)))
    numbers |= {row[1] for row in ROSTER + QUEUED}
    return numbers


def _accounts() -> set[str]:
    return set(db.session.scalars(select(SubsidyClaim.bank_account)))


def _readable(blob: bytes) -> str:
    """What a stored file shows to whoever opens it: a zip's members, a PDF's text."""
    if blob[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            return "".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    if blob[:4] == b"%PDF":
        return subprocess.run(["pdftotext", "-", "-"], input=blob, capture_output=True,
                              check=True).stdout.decode("utf-8", "replace")
    return blob.decode("latin-1")


def _found(haystack: str, needles: set[str]) -> list[str]:
    return sorted(n for n in needles if n in haystack)


def _stored_files() -> list[bytes]:
    blobs = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, LargeBinary) or isinstance(
                    getattr(column.type, "impl", None), LargeBinary):
                raw = select(text(column.name)).select_from(table).where(
                    text(f"{column.name} IS NOT NULL"))
                blobs.extend(bytes(b) for b in db.session.scalars(raw))
    return blobs


def test_the_sqlite_file_holds_no_identity_or_bank_account_number(tmp_path):
    path = tmp_path / "city.sqlite3"
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
    with app.app_context():
        upgrade()
        _seed()
        numbers, accounts = _numbers(), _accounts()
        assert len(numbers) > 150 and len(accounts) >= 1
        # the application still reads them in full
        assert all(len(n) == 18 for n in numbers)
        assert registry.find_person(ROSTER[0][1]).name == ROSTER[0][0]
        blobs = _stored_files()
        assert len(blobs) >= 3  # the queued roster, the payment export, the certificate PDFs
        db.session.commit()
        files = [Path(str(path) + suffix) for suffix in ("", "-wal", "-shm")]
        content = b"".join(f.read_bytes() for f in files if f.exists())
        db.engine.dispose()
    assert len(content) > 1_000_000
    as_text = content.decode("latin-1")
    assert _found(as_text, numbers) == []
    assert _found(as_text, accounts) == []
    # encoded as UTF-16 (as some drivers and exports would), neither
    assert _found(content.decode("utf-16-le", "replace"), numbers) == []
    for blob in blobs:
        assert _found(_readable(blob), numbers | accounts) == []


def test_no_text_or_file_column_holds_a_number_on_the_suites_database(app, world):
    """The same on whichever database the suite runs (PostgreSQL in `make test-pg`): every
    text, JSON and file column of every table, read back as stored."""
    admin = world.users["inst_admin"]
    jobs.submit(roster.start_import(admin, world.inst, _roster_file(ROSTER[:10])))
    roster.start_import(admin, world.inst, _roster_file(QUEUED))
    db.session.commit()
    numbers = set(db.session.scalars(select(Person.id_number))) | {r[1] for r in QUEUED}
    assert len(numbers) >= 11
    hits = []
    inspector = inspect(db.engine)
    for table in db.metadata.sorted_tables:
        names = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in names:
                continue
            kind = getattr(column.type, "impl", column.type)
            if isinstance(kind, LargeBinary):
                continue
            if not isinstance(kind, String | Text) and type(kind).__name__ != "JSON":
                continue
            stmt = select(text(f"CAST({column.name} AS TEXT)")).select_from(table)
            for value in db.session.scalars(stmt):
                if value and _found(value, numbers):
                    hits.append((table.name, column.name))
    for blob in _stored_files():
        if _found(_readable(blob), numbers):
            hits.append(("file", blob[:8]))
    assert hits == []
    assert registry.find_person(ROSTER[0][1]) is not None
    assert local_today()  # the seeding ran on the suite's clock
