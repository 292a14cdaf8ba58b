"""A session whose trainer forgets to close it closes itself after its end (Celery beat's
close-sessions, also `flask jobs run close-sessions`): unmarked bookings absent, attendance
credited to the ledger once, as closing by hand — however often the schedule runs."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import func, select

from lms.core import jobs
from lms.core.actors import DEMO
from lms.extensions import db
from lms.ledger.models import LedgerEntry
from lms.scheduling import service
from lms.scheduling.models import Attendance, TrainingSession
from lms.scheduling.tasks import AUTO_CLOSE_AFTER, close_ended_sessions
from tests.scheduling.test_sessions import people, plan


def _base(world, course):
    staff = world.users["base_staff"]
    room = service.add_venue(staff, world.base, "一号实训室", "玄武区中山路1号")
    li = service.add_instructor(staff, world.base, "李老师")
    db.session.commit()
    return {"staff": staff, "room": room, "li": li, "course": course}


def _forgotten_session(world, course):
    base = _base(world, course)
    session = service.schedule(base["staff"], world.base, plan(base, class_hours="3"))[0]
    came, missed = people(world, 2)
    for person in (came, missed):
        service.book(DEMO, person, session)
    at = session.starts_at
    service.check_in(DEMO, came, session, service.attendance_code(session, at), now=at)
    db.session.commit()
    return session, came, missed


def _credits(person) -> int:
    return db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.person_id == person.id))


def test_a_forgotten_session_closes_itself_and_credits_once(world, course):
    session, came, missed = _forgotten_session(world, course)
    # still open for its trainer just after the end
    assert close_ended_sessions(now=session.ends_at + timedelta(minutes=30))["closed"] == 0
    later = session.ends_at + AUTO_CLOSE_AFTER + timedelta(minutes=1)
    first = close_ended_sessions(now=later)
    db.session.commit()
    assert first == {"closed": 1, "credited": 1, "absent": 1, "left": []}
    db.session.expire_all()
    assert db.session.get(TrainingSession, session.id).status == "closed"
    statuses = {a.person_id: a.status for a in db.session.scalars(select(Attendance))}
    assert statuses == {came.id: "present", missed.id: "absent"}
    assert (_credits(came), _credits(missed)) == (1, 0)
    # the schedule runs again (and again): nothing more is credited
    assert close_ended_sessions(now=later + timedelta(minutes=10))["closed"] == 0
    assert close_ended_sessions(now=later + timedelta(days=1))["closed"] == 0
    db.session.commit()
    assert _credits(came) == 1
    # the close is the schedule's, in the session's history
    closing = [e for e in service.SESSION.history(session) if e.action == "close"]
    assert [e.actor_label for e in closing] == ["jobs:scheduling.close_ended_sessions"]


def test_the_schedule_runs_as_a_job_and_as_a_command(app, world, course):
    session, came, _missed = _forgotten_session(world, course)
    with time_machine.travel(session.ends_at + AUTO_CLOSE_AFTER + timedelta(hours=1), tick=False):
        first = app.test_cli_runner().invoke(args=["jobs", "run", "close-sessions"])
        second = app.test_cli_runner().invoke(args=["jobs", "run", "close-sessions"])
    assert first.exit_code == 0, first.output
    assert "'closed': 1" in first.output and "'closed': 0" in second.output
    db.session.expire_all()
    assert _credits(came) == 1
    runs = list(db.session.scalars(select(jobs.Job).where(
        jobs.Job.kind == "scheduling.close_ended_sessions").order_by(jobs.Job.id)))
    assert [(j.state, j.created_by_label) for j in runs] == [
        ("done", "jobs:scheduling.close_ended_sessions")] * 2
    assert runs[0].result["credited"] == 1
