"""The certificate batch through real workers: a worker killed with SIGKILL after issuing but
before the commit leaves no certificate; the redelivered job issues them once, with PDFs. A
worker killed in the middle of a part of the PDFs leaves the PDFs it made; the redelivered part
makes only the missing ones and the job finishes once."""

from __future__ import annotations

import hashlib
import os
import signal
from datetime import date

import pytest
from sqlalchemy import func, select

from lms.certificates.models import Certificate
from lms.core import jobs
from lms.core.actors import DEMO
from lms.core.clock import utc_now
from lms.core.models import AuditLog, Notification
from lms.extensions import db
from lms.learning.models import Enrolment
from lms.registry import service as registry
from tests.certificates.helpers import result, sitting
from tests.conftest import database_url, login
from tests.core.test_jobs_worker import ROOT, _wait_for, _worker, broker, worker_app  # noqa: F401
from tests.factories import id_number


def _job() -> jobs.Job:
    return db.session.scalar(select(jobs.Job).order_by(jobs.Job.id.desc()).limit(1))


def _finished_by_a_fresh_worker(env: dict, what: str) -> jobs.Job:
    """Start a worker, wait until the latest job is done or failed, stop the worker."""
    worker = _worker(env)
    try:
        return _wait_for(lambda: (j := _job()).state in ("done", "failed") and j, 150, what)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)


def _killed_when_stalled(env: dict, stall, what: str, submit) -> None:
    """Start a worker, `submit()` the batch, wait for the worker to reach the `stall` file and
    kill it there (SIGKILL)."""
    first = _worker(env)
    try:
        submit()
        _wait_for(lambda: stall.exists(), 90, what)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)


def test_a_worker_killed_mid_batch_issues_nothing_then_the_batch_once(
        world, passed, worker_app, tmp_path):  # noqa: F811 - the fixture
    sitting, good, _bad = passed
    db.session.commit()
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONPATH": str(ROOT),
           "LMS_WORKER_APP": "1", "LMS_TEST_STALL_BATCH_FILE": str(tmp_path / "stalled")}

    def submit():
        client = worker_app.test_client()
        assert login(client, "base_staff").status_code == 302
        response = client.post(f"/exams/{sitting.id}/certificates",
                               data={"registration": [good.id]})
        assert response.headers["Location"] == f"/jobs/{_job().id}"  # the progress page

    _killed_when_stalled(env, tmp_path / "stalled", "the batch to issue", submit)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0
    del env["LMS_TEST_STALL_BATCH_FILE"]
    job = _finished_by_a_fresh_worker(env, "the batch to be redelivered and finished")
    assert (job.state, job.error, job.attempts, job.result) == (
        "done", "", 2, {"issued": 1, "rendered": 1})
    certs = list(db.session.scalars(select(Certificate)))
    assert len(certs) == 1 and certs[0].pdf.startswith(b"%PDF")


@pytest.fixture()
def three_passed(world, course):
    """A sitting at the world's base that three people passed: world.staff, world.staff_other
    and a third member of world.inst's staff."""
    third = registry.add_staff(DEMO, world.inst, id_number=id_number("320102", "19920415", 4),
                               name="李思远", mobile="13712345679", post="nursery_carer",
                               start_date=date(2024, 3, 1)).employment.person
    persons = (world.staff, world.staff_other, third)
    for person in persons:
        db.session.add(Enrolment(person_id=person.id, course_id=course.id, completed_at=utc_now()))
    held = sitting(world)
    registrations = [result(world, held, person, "85", "90") for person in persons]
    db.session.commit()
    return held, registrations


def test_a_worker_killed_mid_render_part_keeps_its_pdfs_and_the_rest_are_made_once(
        world, three_passed, worker_app, tmp_path):  # noqa: F811 - the fixture
    held, registrations = three_passed
    staff = world.users["base_staff"]
    # parts of two: [first, second] and [third]; the first worker stalls (and is killed) once
    # the first part's first PDF is committed
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONPATH": str(ROOT),
           "LMS_WORKER_APP": "1", "LMS_TEST_BATCH_PART_SIZE": "2",
           "LMS_TEST_STALL_RENDER_FILE": str(tmp_path / "stalled")}
    client = worker_app.test_client()

    def submit():
        assert login(client, "base_staff").status_code == 302
        client.post(f"/exams/{held.id}/certificates",
                    data={"registration": [r.id for r in registrations]})

    _killed_when_stalled(env, tmp_path / "stalled", "the first PDF of a part", submit)
    db.session.expire_all()
    certs = list(db.session.scalars(select(Certificate).order_by(Certificate.id)))
    assert len(certs) == 3  # issued and committed before the PDFs were started
    made = {c.id: hashlib.sha256(c.pdf).hexdigest() for c in certs if c.pdf_version == c.version}
    assert list(made) == [certs[0].id]  # the killed part's first PDF stands, its second is not
    job = _job()
    assert (job.state, job.progress_done, job.progress_total) == ("running", 1, 3)

    del env["LMS_TEST_STALL_RENDER_FILE"]
    job = _finished_by_a_fresh_worker(env, "the killed part to be redelivered and the batch finished")
    assert (job.state, job.error, job.attempts, job.result) == (
        "done", "", 1, {"issued": 3, "rendered": 3})
    assert job.progress_done == job.progress_total == 3
    moves = [e.action for e in sorted(jobs.JOB.history(job), key=lambda e: e.id)]
    assert moves == ["create", "start", "finish"]  # finished once
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == staff.id, Notification.kind == "job.done")) == 1
    # no certificate issued twice, each with the PDF of its copy
    certs = list(db.session.scalars(select(Certificate).order_by(Certificate.id)))
    assert sorted(c.registration_id for c in certs) == sorted(r.id for r in registrations)
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "certificates.issued")) == 3
    assert all(c.version == 1 and c.pdf_version == c.version and c.pdf.startswith(b"%PDF")
               for c in certs)
    # the PDF made before the kill is the one the holder gets, not made again (a new render
    # carries a new creation date)
    assert {c.id: hashlib.sha256(c.pdf).hexdigest() for c in certs if c.id in made} == made
    status = client.get(f"/jobs/{job.id}/status").get_json()
    assert (status["state"], status["done"], status["total"], status["percent"]) == (
        "done", 3, 3, 100)
