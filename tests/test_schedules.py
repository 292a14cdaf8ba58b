"""The schedule's work for compliance, bans and retention: each runs as a job, through the same
services as the pages and commands, as a named system actor."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from lms.compliance.models import Snapshot
from lms.core import jobs
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.enforcement.models import BanAlert
from lms.extensions import db
from lms.jobs import SCHEDULE
from lms.registry import service as registry
from lms.registry.models import Ban


def _run(app, name: str):
    result = app.test_cli_runner().invoke(args=["jobs", "run", name])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return result.output


def test_every_scheduled_task_is_known_to_celery(app):
    tasks = app.extensions["celery"].tasks
    assert {task for task, _when in SCHEDULE.values()} <= set(tasks)
    assert {"compliance-refresh", "expire-bans", "rescreen", "retention-purge",
            "claim-notice-ended", "hours-behind-reminders"} <= set(SCHEDULE)


def test_jobs_list_shows_the_whole_schedule_and_nothing_left_pending(app):
    result = app.test_cli_runner().invoke(args=["jobs", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(SCHEDULE)
    assert any(line.startswith("claim-notice-ended") and "subsidies.notice_ended" in line
               for line in lines)
    assert any(line.startswith("hours-behind-reminders")
               and "compliance.hours_behind_reminders" in line for line in lines)


def test_the_compliance_refresh_runs_as_a_job(app, world):
    assert db.session.scalar(select(func.count()).select_from(Snapshot)) == 0
    output = _run(app, "compliance-refresh")
    assert "'persons': 2" in output
    assert db.session.scalar(select(func.count()).select_from(Snapshot)) > 0
    run = db.session.scalar(select(jobs.Job).where(jobs.Job.kind == "compliance.refresh"))
    assert run is not None and run.state == "done"


def test_a_term_ban_ends_on_its_date_and_a_rescreen_finds_the_banned_still_employed(app, world):
    person = world.staff_other
    registry.record_ban(DEMO, id_number=person.id_number, name=person.name, kind="term",
                        starts_on=local_today() - timedelta(days=400),
                        ends_on=local_today(), reason="期满")
    registry.record_ban(DEMO, id_number=world.staff.id_number, name=world.staff.name,
                        kind="lifetime", starts_on=local_today(), ends_on=None, reason="法院判决")
    db.session.commit()
    assert "'expired': 1" in _run(app, "expire-bans")
    states = dict(db.session.execute(select(Ban.id_number, Ban.state)).all())
    assert states[person.id_number] == "expired" and states[world.staff.id_number] == "in_force"
    assert "'new_alerts': 1" in _run(app, "rescreen")
    alert = db.session.scalar(select(BanAlert))
    assert alert.person_id == world.staff.id and alert.resolved_at is None


def test_the_retention_purge_runs_as_a_job(app, world):
    output = _run(app, "retention-purge")
    run = db.session.scalar(select(jobs.Job).where(jobs.Job.kind == "auth.purge_expired"))
    assert run is not None and run.state == "done" and "{" in output
