"""The certificate batch as a job: issued in one transaction, then their PDFs made; a batch that
fails issues nothing and is listed for administrators."""

from __future__ import annotations

from sqlalchemy import func, select

from lms.certificates import service
from lms.certificates.models import Certificate
from lms.core import jobs
from lms.extensions import db


def _job() -> jobs.Job:
    db.session.expire_all()
    return db.session.scalar(select(jobs.Job).order_by(jobs.Job.id.desc()).limit(1))


def test_the_batch_is_a_job_that_issues_and_makes_the_pdfs(client, world, passed, login_as):
    sitting, good, bad = passed
    login_as("base_staff")
    done = client.post(f"/exams/{sitting.id}/certificates",
                       data={"registration": [good.id, bad.id]}, follow_redirects=True)
    assert "1 certificates issued." in done.get_data(as_text=True)
    job = _job()
    assert (job.kind, job.state, job.result) == ("certificates.issue_batch", "done",
                                                 {"issued": 1, "rendered": 1})
    assert job.result_link == f"/exams/{sitting.id}/certificates"
    cert = db.session.scalar(select(Certificate))
    assert cert.person_id == world.staff.id
    assert cert.pdf.startswith(b"%PDF") and cert.pdf_version == cert.version
    assert client.get(f"/jobs/{job.id}/status").get_json()["percent"] == 100


def test_a_failing_batch_issues_nothing_and_is_given_up(client, world, passed, login_as,
                                                        monkeypatch):
    sitting, good, _bad = passed
    real = service.issue

    def issue_then_break(*args, **kwargs):
        real(*args, **kwargs)  # one certificate written, then the failure
        raise RuntimeError("numbering service down")

    monkeypatch.setattr(service, "issue", issue_then_break)
    login_as("base_staff")
    response = client.post(f"/exams/{sitting.id}/certificates", data={"registration": [good.id]})
    job = _job()
    assert response.headers["Location"] == f"/jobs/{job.id}"
    assert (job.state, job.attempts) == ("failed", 4)
    assert "numbering service down" in job.error
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0
    assert job in jobs.failed_jobs(world.users["admin"])
