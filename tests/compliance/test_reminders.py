"""hours-behind-reminders: once a quarter, caregivers whose hours this year are behind pro rata
(the compliance rule "hours on track") are reminded, each once per quarter however often the
schedule runs."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from lms.compliance.models import HoursReminder
from lms.compliance.reminders import remind_hours_behind
from lms.core import jobs
from lms.core.actors import system_actor
from lms.core.errors import PermissionDenied
from lms.core.models import Notification
from lms.extensions import db
from lms.jobs import SCHEDULE
from tests.compliance.conftest import hours

CITY = ZoneInfo("Asia/Shanghai")


def _on(day: date):
    return time_machine.travel(datetime.combine(day, time(9), tzinfo=CITY), tick=False)


def _run(app, day: date) -> str:
    with _on(day):
        result = app.test_cli_runner().invoke(args=["jobs", "run", "hours-behind-reminders"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return result.output


def _notes(user) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(
        Notification.user_id == user.id, Notification.kind == "compliance.hours_behind")
        .order_by(Notification.id)))


def test_caregivers_behind_are_reminded_once_a_quarter(app, world, client):
    with _on(date(2027, 3, 1)):
        hours(world.staff, "skills", 72)  # the whole year's hours: on track all year
        hours(world.staff, "ethics", 40)
        hours(world.staff_other, "skills", 72)  # skills done, ethics not started: behind
        db.session.commit()
    assert "hours-behind-reminders" in SCHEDULE
    output = _run(app, date(2027, 3, 1))
    assert "'behind': 1" in output and "'sent': 1" in output
    behind = world.users["caregiver_other"]
    notes = _notes(behind)
    assert len(notes) == 1 and notes[0].link == "/hours"
    assert notes[0].params["year"] == "2027" and notes[0].params["ethics"] == "0"
    assert notes[0].params["skills"] == "72"
    assert _notes(world.users["caregiver"]) == []
    # again the same day, and later in the quarter: nothing more
    assert "'sent': 0" in _run(app, date(2027, 3, 1))
    assert "'sent': 0" in _run(app, date(2027, 3, 20))
    assert len(_notes(behind)) == 1
    # the next quarter, one more
    assert "'sent': 1" in _run(app, date(2027, 6, 1))
    assert len(_notes(behind)) == 2
    assert sorted(r.quarter for r in db.session.scalars(select(HoursReminder))) == \
        ["2027Q1", "2027Q2"]
    run = db.session.scalar(select(jobs.Job).where(
        jobs.Job.kind == "compliance.hours_behind_reminders").order_by(jobs.Job.id.desc()))
    assert run.state == "done" and run.created_by_label.startswith("jobs:")
    # the caregiver reads it in their language
    client.set_cookie("lms_lang", "en")
    client.post("/login", data={"identifier": world.staff_other.mobile,
                                "password": "Passw0rd-test"})
    page = client.get("/notifications").get_data(as_text=True)
    assert "Your training hours for 2027 are behind" in page


def test_only_the_schedule_sends_them(world):
    with pytest.raises(PermissionDenied):
        remind_hours_behind(world.users["regulator_city"])
    assert remind_hours_behind(system_actor("jobs:test"), date(2027, 1, 2)).behind == 2
