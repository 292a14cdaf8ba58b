"""The certificate batch as a job: issued in one transaction, then their PDFs made in parts (each
its own task, so every worker process takes some); a batch that fails issues nothing and is
listed for administrators; a part that fails is made again."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from lms.certificates import service
from lms.certificates.models import Certificate
from lms.core import jobs
from lms.core.clock import utc_now
from lms.core.pdf import PdfUnavailable
from lms.extensions import db
from lms.learning.models import Enrolment
from tests.certificates.helpers import result, sitting


def _job() -> jobs.Job:
    db.session.expire_all()
    return db.session.scalar(select(jobs.Job).order_by(jobs.Job.id.desc()).limit(1))


def test_the_last_parts_are_small_so_the_workers_finish_together():
    ids = list(range(1000, 2000))
    parts = service._batch_parts(ids)
    assert [i for part in parts for i in part] == ids  # each PDF once, in order
    sizes = [len(part) for part in parts]
    assert max(sizes) == service.BATCH_PART_SIZE == sizes[0]
    assert sizes == sorted(sizes, reverse=True)
    # no part is more than an eighth of what is left when it is taken: the last ones are single
    # PDFs, so no process renders a whole part of 20 while the others have nothing to do
    assert all(size <= max(1, -(-(len(ids) - sum(sizes[:n])) // 8)) for n, size in enumerate(sizes))
    assert sizes[-8:] == [1] * 8
    assert len(parts) < 1000 // service.BATCH_PART_SIZE * 2  # not a task per PDF
    assert service._batch_parts([7]) == [[7]] and service._batch_parts([]) == []


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
    real = service._issue_checked

    def issue_then_break(*args, **kwargs):
        real(*args, **kwargs)  # one certificate written, then the failure
        raise RuntimeError("numbering service down")

    monkeypatch.setattr(service, "_issue_checked", issue_then_break)
    login_as("base_staff")
    response = client.post(f"/exams/{sitting.id}/certificates", data={"registration": [good.id]})
    job = _job()
    assert response.headers["Location"] == f"/jobs/{job.id}"
    assert (job.state, job.attempts) == ("failed", 4)
    assert "numbering service down" in job.error
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0
    assert job in jobs.failed_jobs(world.users["admin"])


@pytest.fixture()
def both_passed(world, course):
    """A sitting at the world's base that world.staff and world.staff_other both passed."""
    for person in (world.staff, world.staff_other):
        db.session.add(Enrolment(person_id=person.id, course_id=course.id, completed_at=utc_now()))
    held = sitting(world)
    registrations = [result(world, held, person, "85", "90")
                     for person in (world.staff, world.staff_other)]
    db.session.commit()
    return held, registrations


def test_the_pdfs_are_made_in_parts_and_a_part_that_fails_is_made_again(
        client, world, both_passed, login_as, monkeypatch):
    held, registrations = both_passed
    monkeypatch.setattr(service, "BATCH_PART_SIZE", 1)  # one part per certificate
    parts = []
    real_part = service.render_batch_part

    def recording_part(job, cert_ids, report):
        parts.append(list(cert_ids))
        return real_part(job, cert_ids, report)

    monkeypatch.setattr(service, "render_batch_part", recording_part)
    renders = []
    real_render = service.render_pdf

    def crashing_once(*args, **kwargs):
        renders.append(1)
        if len(renders) == 2:
            raise PdfUnavailable("wkhtmltopdf crashed")
        return real_render(*args, **kwargs)

    monkeypatch.setattr(service, "render_pdf", crashing_once)
    login_as("base_staff")
    done = client.post(f"/exams/{held.id}/certificates",
                       data={"registration": [r.id for r in registrations]},
                       follow_redirects=True)
    assert "2 certificates issued." in done.get_data(as_text=True)
    job = _job()
    assert (job.state, job.error, job.attempts, job.result) == (
        "done", "", 1, {"issued": 2, "rendered": 2})
    certs = list(db.session.scalars(select(Certificate).order_by(Certificate.id)))
    # each certificate its own part; the part whose render crashed ran again, and only it
    assert parts == [[certs[0].id], [certs[1].id], [certs[1].id]]
    assert len(renders) == 3
    assert all(c.pdf.startswith(b"%PDF") and c.pdf_version == c.version for c in certs)
    assert client.get(f"/jobs/{job.id}/status").get_json()["percent"] == 100


def test_a_batch_whose_part_was_lost_with_its_worker_has_the_rest_made_once(
        app, client, world, both_passed, login_as, monkeypatch):
    held, registrations = both_passed
    monkeypatch.setattr(service, "BATCH_PART_SIZE", 1)  # one part per certificate
    real_part = service.render_batch_part
    parts = []

    def second_part_lost(job, cert_ids, report):
        parts.append(list(cert_ids))
        if len(parts) == 2:
            return None  # its worker was killed before it made anything
        return real_part(job, cert_ids, report)

    monkeypatch.setattr(service, "render_batch_part", second_part_lost)
    login_as("base_staff")
    client.post(f"/exams/{held.id}/certificates",
                data={"registration": [r.id for r in registrations]})
    job = _job()
    certs = list(db.session.scalars(select(Certificate).order_by(Certificate.id)))
    assert job.state == "running" and [c.pdf_version for c in certs][1] is None
    # not heard of since: the sweep sends the part still to do again, and only it
    db.session.execute(jobs.sql_update(jobs.Job).where(jobs.Job.id == job.id).values(
        updated_at=utc_now() - jobs.timedelta(seconds=app.config["JOBS_STALE_SECONDS"] + 1)))
    db.session.commit()
    assert jobs.recover_stalled(jobs.system_actor("jobs:test"))["resumed"] == [job.id]
    job = _job()
    assert (job.state, job.attempts, job.result) == ("done", 1, {"issued": 2, "rendered": 2})
    assert parts == [[certs[0].id], [certs[1].id], [certs[1].id]]
    db.session.expire_all()
    assert all(c.pdf.startswith(b"%PDF") and c.pdf_version == c.version
               for c in db.session.scalars(select(Certificate)))
    assert [e.action for e in sorted(jobs.JOB.history(job), key=lambda e: e.id)] == [
        "create", "start", "resume", "finish"]
