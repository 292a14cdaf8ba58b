"""The certificate batch through real workers: a worker killed with SIGKILL after issuing but
before the commit leaves no certificate; the redelivered job issues them once, with PDFs."""

from __future__ import annotations

import os
import signal

from sqlalchemy import func, select

from lms.certificates.models import Certificate
from lms.core import jobs
from lms.extensions import db
from tests.conftest import database_url, login
from tests.core.test_jobs_worker import ROOT, _wait_for, _worker, broker, worker_app  # noqa: F401


def _job() -> jobs.Job:
    return db.session.scalar(select(jobs.Job).order_by(jobs.Job.id.desc()).limit(1))


def test_a_worker_killed_mid_batch_issues_nothing_then_the_batch_once(
        world, passed, worker_app, tmp_path):  # noqa: F811 - the fixture
    sitting, good, _bad = passed
    db.session.commit()
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONPATH": str(ROOT),
           "LMS_WORKER_APP": "1", "LMS_TEST_STALL_BATCH_FILE": str(tmp_path / "stalled")}
    first = _worker(env)
    try:
        client = worker_app.test_client()
        assert login(client, "base_staff").status_code == 302
        response = client.post(f"/exams/{sitting.id}/certificates",
                               data={"registration": [good.id]})
        job_id = _job().id
        assert response.headers["Location"] == f"/jobs/{job_id}"  # the progress page
        _wait_for(lambda: (tmp_path / "stalled").exists(), 90, "the batch to issue")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0
    del env["LMS_TEST_STALL_BATCH_FILE"]
    second = _worker(env)
    try:
        job = _wait_for(lambda: (j := _job()).state in ("done", "failed") and j, 150,
                        "the batch to be redelivered and finished")
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(30)
    assert (job.state, job.error, job.attempts, job.result) == (
        "done", "", 2, {"issued": 1, "rendered": 1})
    certs = list(db.session.scalars(select(Certificate)))
    assert len(certs) == 1 and certs[0].pdf.startswith(b"%PDF")
