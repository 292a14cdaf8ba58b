"""Jobs through a REAL Celery worker and Redis (database 15 of the Redis on 127.0.0.1:6379 that
`make test` starts): the roster import uploaded on the page is done by the worker; a worker
killed with SIGKILL in the middle of the import leaves nothing half-saved, and the job is taken
up again and finished once."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from sqlalchemy import func, select

from lms.core import jobs
from lms.extensions import db
from lms.registry.models import Employment, Person
from tests.conftest import database_url, login, make_app
from tests.jobs_worker_app import BROKER, worker_config
from tests.registry.test_roster import person_row, xlsx

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture()
def broker():
    client = redis.Redis.from_url(BROKER)
    client.flushdb()  # no message of an earlier run
    yield BROKER
    client.flushdb()


@pytest.fixture()
def worker_app(broker, app):
    config = worker_config()
    config["SQLALCHEMY_DATABASE_URI"] = database_url()
    application = make_app(**config)
    yield application
    with application.app_context():
        db.engine.dispose()


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _upload(application, world, rows):
    client = application.test_client()
    client.set_cookie("lms_lang", "en")
    assert login(client, "inst_admin").status_code == 302
    response = client.post(f"/institutions/{world.inst.id}/roster",
                           data={"file": (io.BytesIO(xlsx(rows)), "roster.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    return client, response.get_data(as_text=True)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _job() -> jobs.Job:
    return db.session.scalar(select(jobs.Job).order_by(jobs.Job.id.desc()).limit(1))


def test_a_real_worker_runs_the_roster_import(world, worker_app):
    db.session.commit()
    celery_app = worker_app.extensions["celery"]
    assert not celery_app.conf.task_always_eager
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING",
                      shutdown_timeout=30):
        client, page = _upload(worker_app, world, [person_row(n) for n in range(1, 6)])
        # the page answered before the work was done: it shows the progress bar
        assert "<progress" in page and "data-job-status" in page
        job = _wait_for(lambda: (j := _job()) is not None and j.state == "done" and j, 60,
                        "the worker to finish the import")
    assert job.attempts == 1 and job.result["employments"] == 5
    assert _count(Employment) == 5 + 2  # the world's two staff and these five
    status = client.get(f"/jobs/{job.id}/status").get_json()
    assert status["state"] == "done" and status["percent"] == 100
    assert "Imported 5 rows" in client.get(status["result_link"]).get_data(as_text=True)


def _worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.jobs_worker_app:celery_app", "worker",
         "--pool", "solo", "--without-heartbeat", "--without-mingle", "--without-gossip",
         "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=open(os.environ.get("LMS_TEST_WORKER_LOG", os.devnull), "ab"),  # noqa: SIM115
        start_new_session=True)


def _killed_mid_import(env: dict, application, world, rows: int, stall: Path) -> None:
    """Start a worker, upload `rows` staff, kill the worker (SIGKILL) once the import has
    stored them in its still-open transaction (LMS_TEST_STALL_FILE = `stall`)."""
    first = _worker(env)
    try:
        _upload(application, world, [person_row(n) for n in range(1, rows + 1)])
        _wait_for(lambda: stall.exists(), 90, "the import to store its rows")
        os.killpg(first.pid, signal.SIGKILL)  # kill -9, mid-transaction
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)


def test_a_worker_killed_mid_import_leaves_nothing_half_saved(world, worker_app, tmp_path):
    db.session.commit()
    persons, employments = _count(Person), _count(Employment)
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONPATH": str(ROOT),
           "LMS_WORKER_APP": "1", "LMS_TEST_ROSTER_CHUNK": "7",
           "LMS_TEST_STALL_FILE": str(tmp_path / "stalled")}
    # 30 rows, written 7 at a time (on PostgreSQL by the import's writer thread, in chunks)
    _killed_mid_import(env, worker_app, world, 30, tmp_path / "stalled")
    db.session.expire_all()
    assert (_count(Person), _count(Employment)) == (persons, employments)  # nothing half-saved
    assert _job().state == "running"  # the killed attempt, as the worker left it
    # another worker takes the unacknowledged job up again and finishes it, once
    del env["LMS_TEST_STALL_FILE"]
    second = _worker(env)
    try:
        job = _wait_for(lambda: (j := _job()).state == "done" and j, 150,
                        "the job to be redelivered and finished")
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(30)
    assert job.attempts == 2
    assert (_count(Person), _count(Employment)) == (persons + 30, employments + 30)
    # in the order they were written (the test's clock is moved, the workers' is not)
    moves = [e.action for e in sorted(jobs.JOB.history(job), key=lambda e: e.id)]
    assert moves == ["create", "start", "start", "finish"]


def test_a_job_lost_with_its_worker_is_taken_up_by_the_sweep_not_hours_later(
        world, worker_app, tmp_path):
    db.session.commit()
    persons, employments = _count(Person), _count(Employment)
    # the broker would hand the killed worker's message out again only after an hour
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONPATH": str(ROOT),
           "LMS_WORKER_APP": "1", "LMS_TEST_VISIBILITY": "3600",
           "LMS_TEST_STALL_FILE": str(tmp_path / "stalled")}
    _killed_mid_import(env, worker_app, world, 10, tmp_path / "stalled")
    del env["LMS_TEST_STALL_FILE"]
    second = _worker(env)
    try:
        time.sleep(worker_app.config["JOBS_STALE_SECONDS"] + 1)
        lost = _job()
        assert lost.state == "running"  # nobody has taken it up: its message is unacked
        # the schedule's sweep, sent as beat sends it (the live worker runs it on its clock):
        # no live worker holds the job's task, so it is queued again and sent, and done
        celery_app = worker_app.extensions["celery"]
        celery_app.tasks["core.recover_stalled_jobs"].apply_async()
        job = _wait_for(lambda: (j := db.session.get(jobs.Job, lost.id)).state == "done" and j,
                        90, "the recovered job to be finished")
        sweep = db.session.scalar(select(jobs.Job).where(
            jobs.Job.kind == "core.recover_stalled_jobs"))
        assert sweep.result == {"recovered": 1, "resumed": 0, "failed": 0, "left": 0}
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(30)
    assert job.attempts == 2
    assert (_count(Person), _count(Employment)) == (persons + 10, employments + 10)
    moves = [e.action for e in sorted(jobs.JOB.history(job), key=lambda e: e.id)]
    assert moves == ["create", "start", "recover", "start", "finish"]
