"""One clock: the city's today at every hour, whatever zone the server runs in.

A server in UTC is still on the city's yesterday between 00:00 and 08:00 Beijing time; these
tests move the clock (time-machine) to just after midnight and just before 08:00 Beijing, run
the process in UTC and in a second zone, and check the date rules and a few journeys answer
with Beijing's date.
"""

from __future__ import annotations

import os
import re
import time
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from lms.core import clock, settings
from lms.extensions import db
from lms.registry.models import Employment, Person, Qualification, QualificationType
from tests.factories import id_number

BEIJING = ZoneInfo("Asia/Shanghai")
#: a day whose Beijing date differs from UTC's before 08:00 and which ends a year
NEW_YEAR = date(2027, 1, 1)
MOMENTS = {
    "00:30 Beijing": datetime.combine(NEW_YEAR, clock_time(0, 30), tzinfo=BEIJING),
    "07:30 Beijing": datetime.combine(NEW_YEAR, clock_time(7, 30), tzinfo=BEIJING),
}


@pytest.fixture(params=["UTC", "America/Los_Angeles"])
def process_zone(request):
    """The server process's own zone (TZ): UTC, as in a container, and a second zone."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield request.param
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


def travel(moment):
    """Move the clock to `moment` leaving the process's zone alone: given an aware datetime,
    time-machine also sets TZ to its zone, which would hide the trap; a timestamp does not."""
    return time_machine.travel(moment.timestamp(), tick=False)


@pytest.fixture(params=list(MOMENTS))
def moment(request, process_zone):
    with travel(MOMENTS[request.param]):
        assert os.environ["TZ"] == process_zone
        yield MOMENTS[request.param]


def test_today_is_the_citys_today_whatever_the_process_zone(moment):
    # the trap being avoided: the process's own date is still the old year's last day
    assert datetime.now().date() == date(2026, 12, 31)  # noqa: DTZ005 - the trap, on purpose
    assert clock.local_today() == NEW_YEAR
    assert clock.this_year() == 2027
    assert clock.local_now().date() == NEW_YEAR
    assert clock.utc_now() == moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    assert clock.to_local(clock.utc_now()) == moment.replace(tzinfo=None)
    assert clock.start_of_local_day(NEW_YEAR) == datetime(2026, 12, 31, 16, 0)


def test_the_city_zone_is_a_setting(app, moment):
    app.config["CITY_TIMEZONE"] = "Asia/Urumqi"  # UTC+6: 00:30 Beijing is 22:30 the day before
    try:
        expected = moment.astimezone(ZoneInfo("Asia/Urumqi")).date()
        assert clock.local_today() == expected
        assert expected == (NEW_YEAR - timedelta(days=1) if moment.hour < 2 else NEW_YEAR)
    finally:
        app.config["CITY_TIMEZONE"] = "Asia/Shanghai"


def test_a_setting_in_force_from_today_applies_now(world, moment):
    settings.set_setting(world.users["admin"], "hours.skills_required", 80, NEW_YEAR)
    assert settings.get_setting("hours.skills_required") == 80


def test_staff_start_today_and_certificates_issued_today(client, world, login_as, moment):
    login_as("inst_admin")
    number = id_number("320104", "19950505", 4)
    response = client.post(f"/institutions/{world.inst.id}/staff/new", data={
        "id_number": number, "name": "刘婷婷", "mobile": "13600001111", "post": "infant_carer",
        "start_date": NEW_YEAR.isoformat()})
    assert response.status_code == 200 and "刘婷婷" in response.get_data(as_text=True)
    person = db.session.scalar(select(Person).where(Person.id_number == number))
    employment = db.session.scalar(select(Employment).where(Employment.person_id == person.id))
    assert employment.start_date == NEW_YEAR

    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "health_cert"))
    url = f"/institutions/{world.inst.id}/staff/{person.id}/qualifications"
    form = {"qualification_type_id": qtype.id, "certificate_no": "JK-2027-001",
            "issuer": "玄武区疾控中心", "expires_on": "2028-01-01"}
    tomorrow = client.post(url, data={**form, "issued_on": "2027-01-02"}).get_data(as_text=True)
    assert "The issue date is in the future." in tomorrow
    client.post(url, data={**form, "issued_on": NEW_YEAR.isoformat()})
    record = db.session.scalar(select(Qualification).where(Qualification.person_id == person.id))
    assert record is not None and record.issued_on == NEW_YEAR


def test_hours_studied_after_midnight_count_for_the_new_year(world, moment):
    from decimal import Decimal

    from lms.ledger import service as ledger

    assert ledger.now_year() == 2027
    ledger.credit(world.users["admin"], world.staff, year=ledger.now_year(), category="skills",
                  hours=Decimal(2),
                  source_type="external", source_ref="clock-test")
    progress = {p.category: p for p in ledger.year_progress(world.staff, 2027)}
    assert progress["skills"].hours == Decimal(2)


@pytest.mark.parametrize("role", ["admin", "inst_admin", "base_staff", "hr_reviewer", "regulator",
                                  "caregiver"])
def test_every_home_page_answers_at_the_awkward_hours(client, world, login_as, role):
    for moment in MOMENTS.values():
        with travel(moment):
            user = world.users[role]
            login_as(user.username or world.staff.mobile)
            assert client.get("/").status_code == 200
            client.post("/logout")


def test_nothing_reads_the_process_clock_directly():
    """One clock: lms/core/clock.py is the only place that asks the system for the time."""
    root = Path(__file__).resolve().parents[2]
    forbidden = re.compile(r"\b(date\.today|datetime\.now|datetime\.utcnow|time\.localtime)\(")
    offenders = []
    for folder in ("lms", "tests"):
        for path in (root / folder).rglob("*.py"):
            # the clock itself, this test, and the suite's clock mover (it sets the moved time)
            if path.relative_to(root).as_posix() in {"lms/core/clock.py", "tests/conftest.py"} \
                    or path == Path(__file__):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if forbidden.search(line):
                    offenders.append(f"{path.relative_to(root)}:{number}")
    assert offenders == [], offenders
