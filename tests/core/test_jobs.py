"""Jobs as the user sees them (the tasks run eagerly here; tests/core/test_jobs_worker.py runs
a real worker on Redis): the roster import as a job with its progress and result, a failing
job retried and then listed for administrators, the progress endpoint."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, text

from lms.core import jobs
from lms.core.errors import PermissionDenied
from lms.core.models import Notification
from lms.extensions import db
from lms.registry import roster
from lms.registry.models import Employment, Person
from tests.conftest import login
from tests.registry.test_roster import counts, person_row, pid, xlsx


def upload(client, org, data: bytes):
    return client.post(f"/institutions/{org.id}/roster",
                       data={"file": (io.BytesIO(data), "roster.xlsx")},
                       content_type="multipart/form-data")


@pytest.fixture()
def admin(world, login_as):
    client = login_as("inst_admin")
    client.set_cookie("lms_lang", "en")
    return client


def _last_job() -> jobs.Job:
    db.session.expire_all()
    return db.session.scalar(select(jobs.Job).order_by(jobs.Job.id.desc()).limit(1))


def test_the_roster_import_runs_as_a_job_and_its_result_stays_on_its_page(world, admin):
    before = counts()
    page = upload(admin, world.inst, xlsx([person_row(1), person_row(2)])).get_data(as_text=True)
    assert "Imported 2 rows: 2 new persons" in page
    job = _last_job()
    assert (job.kind, job.state, job.attempts) == ("registry.import_roster", "done", 1)
    assert job.created_by_id == world.users["inst_admin"].id
    assert job.result["employments"] == 2 and job.percent == 100
    # the file is not kept once it is stored
    assert db.session.get(jobs.JobInput, job.id) is None
    assert counts()[:2] == (before[0] + 2, before[1] + 2)
    # the result has an address: the page shows it again (a worker finished it elsewhere)
    again = admin.get(job.result_link).get_data(as_text=True)
    assert job.result_link == f"/institutions/{world.inst.id}/roster?job={job.id}"
    assert "Imported 2 rows: 2 new persons" in again and "/passwords" in again
    # and the person who started it is told it is done
    note = db.session.scalar(select(Notification).where(
        Notification.user_id == world.users["inst_admin"].id, Notification.kind == "job.done"))
    assert note is not None and note.link == job.result_link
    assert "Roster import is done." in admin.get("/notifications").get_data(as_text=True)
    # the import was the job's system actor's, in the audit log
    actor = db.session.execute(text("SELECT actor_label FROM audit_logs WHERE action = "
                                    "'registry.roster_imported'")).scalar()
    assert actor == "jobs:registry.import_roster"


def test_row_errors_are_the_jobs_result_and_nothing_is_stored(world, admin):
    before = counts()
    bad = pid(2)[:17] + ("0" if pid(2)[17] != "0" else "1")
    page = upload(admin, world.inst, xlsx([person_row(1), ["王芳", bad, "13700000002", "保育员",
                                                          "2024-03-01", "否"]])).get_data(as_text=True)
    assert "1 problem found; nothing was imported." in page
    assert "The check character is wrong" in page
    job = _last_job()
    assert job.state == "done" and job.result["error_count"] == 1
    assert counts() == before
    # shown again from the job, in the reader's language
    again = admin.get(job.result_link).get_data(as_text=True)
    assert '<td data-label="Row">3</td><td data-label="Column">Identity number</td>' in again


def test_another_institution_cannot_read_the_job_or_its_result(app, world, admin):
    upload(admin, world.inst, xlsx([person_row(1)]))
    job = _last_job()
    other = app.test_client()
    assert login(other, "inst_admin_other").status_code == 302
    assert other.get(f"/jobs/{job.id}/status").status_code == 403
    assert other.get(f"/jobs/{job.id}").status_code == 403
    assert other.get(f"/institutions/{world.inst_other.id}/roster?job={job.id}").status_code in (
        403, 404)


def test_a_failing_import_is_retried_then_given_up_and_shown_to_administrators(
        app, world, admin, monkeypatch):
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        db.session.add(Person(id_number=pid(7), name="半途", gender="female",
                              birth_date=__import__("datetime").date(1980, 1, 1)))
        db.session.flush()  # something written before it breaks: it must not stay
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(roster, "import_roster", broken)
    before = counts()
    page = upload(admin, world.inst, xlsx([person_row(1)]))
    assert page.status_code == 200
    job = _last_job()
    assert len(calls) == 4  # the first try and three retries (with back-off in a worker)
    assert (job.state, job.attempts) == ("failed", 4)
    assert "RuntimeError: the disk is full" in job.error
    assert counts() == before  # nothing half-saved
    assert db.session.get(jobs.JobInput, job.id) is not None  # kept to look into
    status = admin.get(f"/jobs/{job.id}/status").get_json()
    assert status["state"] == "failed" and status["finished"] and status["result_link"] == ""
    assert db.session.scalar(select(Notification).where(
        Notification.user_id == world.users["inst_admin"].id,
        Notification.kind == "job.failed")) is not None
    # the moves are recorded: start, retry ×3 (each started again), fail
    moves = [e.action for e in jobs.JOB.history(job)]
    assert moves == ["create", *(["start", "retry"] * 3), "start", "fail"]
    # an administrator sees it with its error; the institution does not see that page
    assert admin.get("/admin/jobs/failed").status_code == 403
    boss = app.test_client()
    assert login(boss, "admin").status_code == 302
    listing = boss.get("/admin/jobs/failed").get_data(as_text=True)
    assert f"#{job.id}" in listing and "RuntimeError: the disk is full" in listing


def test_the_status_endpoint_reports_progress_as_json(world, admin):
    job = jobs.new_job(roster.IMPORT_JOB, user=world.users["inst_admin"],
                       params={"organisation_id": world.inst.id})
    db.session.commit()
    response = admin.get(f"/jobs/{job.id}/status")
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "id": job.id, "state": "queued", "state_title": "Waiting to start", "finished": False,
        "done": 0, "total": 0, "percent": 0, "message": "", "result_link": "", "error": "",
        "attempts": 0, "download": ""}
    # the job page shows a progress bar that polls this address (static/jobs.js)
    page = admin.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert f'data-job-status="/jobs/{job.id}/status"' in page and "<progress" in page
    assert "jobs.js" in page and "<script>" not in page


def test_progress_is_visible_to_others_while_the_work_is_still_running(app, world):
    job = jobs.new_job(roster.IMPORT_JOB, user=world.users["inst_admin"],
                       params={"organisation_id": world.inst.id})
    db.session.commit()
    seen = {}

    def work(job, progress):
        progress("validate", 40, 100)
        # another connection (the web server polling) sees it, though this work has not ended
        with db.engine.connect() as other:
            seen["row"] = other.execute(select(
                jobs.Job.state, jobs.Job.progress_done, jobs.Job.progress_total,
                jobs.Job.message).where(jobs.Job.id == job.id)).one()
        return {"ok": True}, "/somewhere"

    task = SimpleNamespace(name=roster.IMPORT_JOB, max_retries=0,
                           request=SimpleNamespace(retries=0, id="t-1"))
    jobs.run(task, job.id, work, stages=roster.STAGES)
    assert tuple(seen["row"]) == ("running", 40, 100, "Checking the rows")
    db.session.expire_all()
    done = db.session.get(jobs.Job, job.id)
    assert (done.state, done.percent, done.result_link) == ("done", 100, "/somewhere")


def test_a_job_delivered_twice_runs_once(app, world, admin):
    upload(admin, world.inst, xlsx([person_row(1)]))
    job = _last_job()
    employments = db.session.scalar(select(func.count()).select_from(Employment))
    app.extensions["celery"].tasks[roster.IMPORT_JOB].apply(args=[job.id])
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Employment)) == employments
    assert _last_job().attempts == 1


def test_without_redis_the_jobs_run_in_the_web_process(app, monkeypatch, caplog):
    from lms import jobs as celery_jobs

    monkeypatch.setattr(celery_jobs, "redis_answers", lambda url, timeout=0.3: False)
    fresh = SimpleNamespace(config={"CELERY_BROKER_URL": "", "JOBS_EAGER": False})
    config = celery_jobs.celery_config(fresh)
    assert config["task_always_eager"] and fresh.config["JOBS_EAGER"]
    assert "jobs run inside the web process" in caplog.text
    monkeypatch.setattr(celery_jobs, "redis_answers", lambda url, timeout=0.3: True)
    fresh = SimpleNamespace(config={"CELERY_BROKER_URL": "", "JOBS_EAGER": False})
    config = celery_jobs.celery_config(fresh)
    assert not config["task_always_eager"]
    assert config["broker_url"] == config["result_backend"] == "redis://127.0.0.1:6379/0"
    assert set(config["beat_schedule"]) == {"close-sessions", "certificate-reminders",
                                            "purge-one-time-passwords", "purge-job-inputs",
                                            "recover-stalled-jobs",
                                            "compliance-refresh", "expire-bans", "rescreen",
                                            "retention-purge", "claim-notice-ended",
                                            "hours-behind-reminders"}


def test_a_job_running_elsewhere_is_not_run_twice_but_an_abandoned_one_is_taken_up(app, world):
    job = jobs.new_job(roster.IMPORT_JOB, user=world.users["inst_admin"],
                       params={"organisation_id": world.inst.id})
    db.session.commit()
    task = SimpleNamespace(name=roster.IMPORT_JOB, max_retries=0,
                           request=SimpleNamespace(retries=0, id="t-2"))
    calls = []

    def work(job, progress):
        calls.append(job.id)
        return {"ok": True}, ""

    jobs.JOB.apply(jobs.system_actor("jobs:test"), job, jobs.JobAction.START,
                   values={"attempts": 1, "updated_at": jobs.utc_now()})
    db.session.commit()
    assert jobs.run(task, job.id, work) == {} and calls == []  # a live worker reports progress
    db.session.execute(jobs.sql_update(jobs.Job).where(jobs.Job.id == job.id).values(
        updated_at=jobs.utc_now() - jobs.timedelta(seconds=app.config["JOBS_STALE_SECONDS"] + 1)))
    db.session.commit()
    assert jobs.run(task, job.id, work) == {"ok": True} and calls == [job.id]
    db.session.expire_all()
    assert db.session.get(jobs.Job, job.id).attempts == 2


def _stale(app, job, state: str = "running", extra: float = 0):
    """As a worker killed with the job leaves it: started (and for "retrying", failed once),
    then not heard of for a while."""
    actor = jobs.system_actor("jobs:test")
    if job.state == "queued":
        jobs.JOB.apply(actor, job, jobs.JobAction.START, values={"attempts": 1})
        if state == "retrying":
            jobs.JOB.apply(actor, job, jobs.JobAction.RETRY, values={"error": "OSError: gone"})
    db.session.execute(jobs.sql_update(jobs.Job).where(jobs.Job.id == job.id).values(
        updated_at=jobs.utc_now() - jobs.timedelta(
            seconds=app.config["JOBS_STALE_SECONDS"] + 1 + extra)))
    db.session.commit()


def test_a_job_whose_worker_is_gone_is_queued_again_and_finished_once(app, world):
    before = counts()
    lost = roster.start_import(world.users["inst_admin"], world.inst,
                               xlsx([person_row(1), person_row(2)]))
    live = roster.start_import(world.users["inst_admin"], world.inst, xlsx([person_row(3)]))
    waiting = roster.start_import(world.users["inst_admin"], world.inst, xlsx([person_row(4)]))
    db.session.commit()
    _stale(app, lost)  # its worker was killed mid-way: its work was rolled back with it
    jobs.JOB.apply(jobs.system_actor("jobs:test"), live, jobs.JobAction.START,
                   values={"updated_at": jobs.utc_now()})  # a live worker reports progress
    # failed once and waiting out its back-off: not yet lost...
    _stale(app, waiting, "retrying")
    assert jobs.recover_stalled(jobs.system_actor("jobs:test")) == {
        "recovered": [lost.id], "resumed": [], "failed": [], "left": []}
    db.session.expire_all()
    done = db.session.get(jobs.Job, lost.id)
    assert (done.state, done.attempts, done.result["employments"]) == ("done", 2, 2)
    assert [e.action for e in sorted(jobs.JOB.history(done), key=lambda e: e.id)] == [
        "create", "start", "recover", "start", "finish"]
    assert counts()[:2] == (before[0] + 2, before[1] + 2)  # stored once
    assert db.session.get(jobs.Job, live.id).state == "running"
    assert db.session.get(jobs.Job, waiting.id).state == "retrying"
    # ... until its longest back-off has passed too
    _stale(app, waiting, "retrying", extra=jobs.RETRY_WAIT_MAX.total_seconds())
    assert jobs.recover_stalled(jobs.system_actor("jobs:test"))["recovered"] == [waiting.id]
    db.session.expire_all()
    assert db.session.get(jobs.Job, waiting.id).state == "done"
    # nothing left to take up: a second sweep sends nothing
    assert jobs.recover_stalled(jobs.system_actor("jobs:test")) == {
        "recovered": [], "resumed": [], "failed": [], "left": []}


def test_the_sweep_runs_on_its_schedule_and_takes_up_a_lost_scheduled_job(app, world):
    from lms.core.tasks import purge_old_job_inputs, recover_stalled_jobs

    # a scheduled run whose worker died: its task finds its job by the task's id
    lost = jobs.new_job(purge_old_job_inputs.name, user=jobs.system_actor("jobs:schedule"))
    lost.task_id = "beat-run-1"
    db.session.commit()
    _stale(app, lost)
    sweep = recover_stalled_jobs.apply()
    assert sweep.successful(), sweep.result
    assert sweep.result == {"recovered": 1, "resumed": 0, "failed": 0, "left": 0}
    db.session.expire_all()
    again = db.session.get(jobs.Job, lost.id)
    assert (again.state, again.attempts, again.task_id) == ("done", 2, "beat-run-1")
    assert set(again.result) == {"purged", "outputs"}


def test_only_administrators_may_sweep_lost_jobs(world):
    with pytest.raises(PermissionDenied):
        jobs.recover_stalled(world.users["inst_admin"])
    assert jobs.recover_stalled(world.users["admin"])["recovered"] == []


def test_a_job_that_keeps_losing_its_worker_is_given_up_and_its_starter_told(app, world):
    job = roster.start_import(world.users["inst_admin"], world.inst, xlsx([person_row(1)]))
    db.session.commit()
    _stale(app, job)
    db.session.execute(jobs.sql_update(jobs.Job).where(jobs.Job.id == job.id).values(
        attempts=jobs.LOST_ATTEMPTS))  # its worker died on each attempt (an out-of-memory kill)
    db.session.commit()
    assert jobs.recover_stalled(jobs.system_actor("jobs:test"))["failed"] == [job.id]
    db.session.expire_all()
    job = db.session.get(jobs.Job, job.id)
    assert job.state == "failed" and "worker stopped during each of its 3 attempts" in job.error
    assert db.session.get(jobs.JobInput, job.id) is not None  # kept to look into
    assert db.session.scalar(select(Notification).where(
        Notification.user_id == world.users["inst_admin"].id,
        Notification.kind == "job.failed")) is not None
