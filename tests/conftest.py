"""Fixtures: one app on a database built by the migrations (SQLite, or DATABASE_URL for
PostgreSQL), emptied after every test; a small world with one user per role."""

from __future__ import annotations

import contextvars
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import text
from werkzeug.security import generate_password_hash

_INSTANCE = tempfile.mkdtemp(prefix="lms-test-")
os.environ["LMS_INSTANCE_PATH"] = _INSTANCE
os.environ.setdefault("SECRET_KEY", "test-only-secret")  # noqa: S105 - tests only
# the fixed, published encryption keys (lms.core.crypto), also for the servers and workers the
# tests start; tests/core/test_crypto.py takes them away to see a production app refuse to start
os.environ.setdefault("LMS_DEMO_KEYS", "1")

from lms import create_app  # noqa: E402
from lms.auth.models import Role, User  # noqa: E402
from lms.core import audit_ddl, refcache  # noqa: E402
from lms.core.actors import DEMO  # noqa: E402
from lms.core.models import District, Setting  # noqa: E402
from lms.extensions import db  # noqa: E402
from lms.ledger import ddl as ledger_ddl  # noqa: E402
from lms.registry import service as registry  # noqa: E402
from lms.subsidies.service import ensure_standards  # noqa: E402
from tests.factories import credit_code, id_number  # noqa: E402

PASSWORD = "Passw0rd-test"  # noqa: S105
# a cheap hash keeps the many test sign-ins fast; production hashes use the default scrypt
_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


CITY = ZoneInfo("Asia/Shanghai")


def pytest_configure(config):
    """LMS_TEST_CLOCK=HH:MM runs the whole suite with the clock moved to that time of the city's
    today (Beijing), ticking on from there: `make test` runs SQLite at 00:30 and PostgreSQL at
    07:30, the hours when a server in UTC is still on the city's yesterday."""
    moved = os.environ.get("LMS_TEST_CLOCK")
    if not moved:
        return
    hours, minutes = (int(part) for part in moved.split(":"))
    destination = datetime.combine(datetime.now(CITY).date(), time(hours, minutes), tzinfo=CITY)
    # travel to a UTC time: given a ZoneInfo, time-machine would also set the process's TZ
    # to Beijing, and the process must stay in UTC (`make test` sets TZ=UTC)
    config._lms_clock = time_machine.travel(destination.astimezone(UTC), tick=True)
    config._lms_clock.start()


def pytest_report_header(config):
    moved = os.environ.get("LMS_TEST_CLOCK")
    return [f"clock: {datetime.now(CITY):%Y-%m-%d %H:%M} Beijing"
            f"{' (moved by LMS_TEST_CLOCK=' + moved + ')' if moved else ''}, process TZ={os.environ.get('TZ', '(unset)')}"]


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{Path(_INSTANCE) / 'test.sqlite3'}"


TEST_CONFIG = {
    "TESTING": True,
    "WTF_CSRF_ENABLED": False,
    "SESSION_COOKIE_SECURE": False,
    "RATELIMIT_ENABLED": True,  # one Limiter serves every app in the process: keep it on
    "LOGIN_RATE_LIMIT": "100000 per minute",
    # one-time passwords and changed passwords: cheap in tests, scrypt otherwise (lms.auth)
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    "SERVER_NAME": None,
    # assertions read English; tests/core/test_i18n.py checks the Chinese default and catalogs
    "BABEL_DEFAULT_LOCALE": "en",
    # jobs run inline where they are started (tests/core/test_jobs_worker.py runs a real worker)
    "JOBS_EAGER": True,
}


class IsolatedClient(FlaskClient):
    """Each request runs as in production: its own app context, session and `g`, even while
    the test itself holds an app context for direct database work."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


def make_app(**overrides):
    application = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url(),
                              **overrides})
    application.test_client_class = IsolatedClient
    return application


@pytest.fixture(scope="session")
def app():
    from flask_migrate import upgrade

    application = make_app()
    with application.app_context():
        upgrade()  # the schema is built by the migrations, never by create_all
    yield application
    with application.app_context():
        db.engine.dispose()


def _empty_database() -> None:
    """Empty every table between tests. The ledger and the audit log refuse DELETE and
    TRUNCATE (that is their point), so their triggers are lifted for this, and only this, in
    tests."""
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(t.name for t in tables)
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for statement in [*ledger_ddl.statements("sqlite", "drop"),
                          *audit_ddl.statements("sqlite", "drop")]:
            db.session.execute(text(statement))
        for table in tables:
            db.session.execute(table.delete())
        for statement in [*ledger_ddl.statements("sqlite", "create"),
                          *audit_ddl.statements("sqlite", "create")]:
            db.session.execute(text(statement))
    db.session.commit()
    refcache.clear()  # TRUNCATE and DELETE went past the ORM


@pytest.fixture(autouse=True)
def _context(request, app):
    if "e2e" in request.keywords:
        yield
        return
    with app.app_context():
        registry.ensure_reference_data()
        ensure_standards()
        db.session.commit()
        yield
        db.session.rollback()
        _empty_database()


@pytest.fixture()
def client(app):
    return app.test_client()


@dataclass
class World:
    xuanwu: District
    gulou: District
    inst: object
    inst_other: object  # another institution, another district
    base: object
    hr: object
    users: dict[str, User]
    staff: object  # a person employed at `inst`
    staff_other: object  # a person employed at `inst_other`


def build_world() -> World:
    xuanwu = District(code="320102", name="玄武区", city="南京市")
    gulou = District(code="320106", name="鼓楼区", city="南京市")
    db.session.add_all([xuanwu, gulou])
    db.session.flush()
    inst = registry.create_organisation(DEMO, kind="institution", name="小橡树托育中心",
                                        district=xuanwu, credit_code=credit_code(1), filing_no="TY-1")
    inst_other = registry.create_organisation(DEMO, kind="institution", name="童心托育园",
                                              district=gulou, credit_code=credit_code(2),
                                              filing_no="TY-2")
    base = registry.create_organisation(DEMO, kind="training_base", name="实训基地",
                                        district=xuanwu, credit_code=credit_code(3))
    hr = registry.create_organisation(DEMO, kind="hr_bureau", name="人社局", district=xuanwu,
                                      credit_code=credit_code(4))
    users = {}
    # The staff here must use a second factor after a grace period (14 days by default); tests
    # move the clock weeks ahead (the new year) and are about other things, so this world gives
    # a year. The second factor's own tests move an account's grace start instead.
    db.session.add(Setting(key="auth.second_factor_grace_days", district_id=None,
                           effective_from=date(2000, 1, 1), value="365", note="test world"))

    def staff_user(name, role, **kw):
        user = User(username=name, display_name=name, role=role, password_hash=_HASH,
                    must_change_password=False, **kw)
        db.session.add(user)
        users[name] = user
        return user

    staff_user("admin", Role.ADMIN.value)
    staff_user("inst_admin", Role.INSTITUTION_ADMIN.value, organisation_id=inst.id)
    staff_user("inst_admin_other", Role.INSTITUTION_ADMIN.value, organisation_id=inst_other.id)
    staff_user("base_staff", Role.BASE_STAFF.value, organisation_id=base.id)
    staff_user("hr_reviewer", Role.HR_REVIEWER.value, organisation_id=hr.id)
    staff_user("regulator", Role.REGULATOR.value, district_id=xuanwu.id)
    staff_user("regulator_other", Role.REGULATOR.value, district_id=gulou.id)
    staff_user("regulator_city", Role.REGULATOR.value)
    added = registry.add_staff(DEMO, inst, id_number=id_number("320102", "19900307", 2),
                               name="张晓雯", mobile="13912345678", post="nursery_carer",
                               start_date=date(2024, 3, 1))
    other = registry.add_staff(DEMO, inst_other, id_number=id_number("320106", "19880715", 2),
                               name="欧阳·娜娜", mobile="13812345678", post="infant_carer",
                               start_date=date(2023, 9, 1))
    caregiver = db.session.scalars(
        db.select(User).where(User.person_id == added.employment.person_id)).one()
    caregiver.password_hash = _HASH
    caregiver.must_change_password = False
    users["caregiver"] = caregiver
    caregiver_other = db.session.scalars(
        db.select(User).where(User.person_id == other.employment.person_id)).one()
    caregiver_other.password_hash = _HASH
    caregiver_other.must_change_password = False
    users["caregiver_other"] = caregiver_other
    db.session.commit()
    return World(xuanwu, gulou, inst, inst_other, base, hr, users,
                 added.employment.person, other.employment.person)


@pytest.fixture()
def world() -> World:
    return build_world()


def login(client, identifier: str, password: str = PASSWORD, follow: bool = False):
    return client.post("/login", data={"identifier": identifier, "password": password},
                       follow_redirects=follow)


@pytest.fixture()
def login_as(client):
    def do(identifier: str, password: str = PASSWORD):
        response = login(client, identifier, password)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return do


FIXTURE_COURSES = Path(__file__).resolve().parent / "fixtures" / "courses"
#: the 保育师 exam bank the TT-101 course's exams draw from (exams never draw self-checks)
FIXTURE_EXAM_BANK = Path(__file__).resolve().parent / "fixtures" / "exam-banks"


def import_test_course():
    """The small TT-101 course (lessons of 1, 14 (video) and 30 minutes), imported, with the
    保育师 exam bank its exams draw from."""
    from lms.catalog.exam_bank import import_exam_banks
    from lms.catalog.service import course_by_code, import_courses
    from lms.core.actors import system_actor

    import_courses(system_actor("test"), FIXTURE_COURSES)
    import_exam_banks(system_actor("test"), FIXTURE_EXAM_BANK)
    db.session.commit()
    return course_by_code("TT-101")


@pytest.fixture()
def course():
    return import_test_course()
