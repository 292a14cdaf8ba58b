"""A job's page in a real Chromium: the progress bar follows the job as a worker reports it, with
no reload and no CSP refusal, and the page opens the result when the job is done."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from lms.auth.models import User
from lms.core import jobs
from lms.extensions import db
from lms.registry import roster
from tests.helpers import sign_in

pytestmark = pytest.mark.e2e


def _set(app, job_id, **values):
    with app.app_context():
        db.session.execute(update(jobs.Job).where(jobs.Job.id == job_id).values(**values))
        db.session.commit()


def test_the_progress_bar_follows_the_job_without_reloading(new_context, e2e_world, app,
                                                           base_url):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "inst_admin"))
        job = jobs.new_job(roster.IMPORT_JOB, user=user,
                           params={"organisation_id": e2e_world.org_id})
        db.session.commit()
        job_id = job.id
    context = new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and not m.location.get("url", "").endswith("/favicon.ico") else None)
    sign_in(page)
    page.goto(f"/jobs/{job_id}")
    bar = page.locator(f"#job-{job_id}-bar")
    expect(bar).to_have_attribute("value", "0")
    page.evaluate("window.__same_page = true")  # gone if the page reloads
    _set(app, job_id, state="running", progress_done=40, progress_total=100,
         message="Checking the rows")
    expect(page.locator(".job-percent")).to_have_text("40%")
    assert page.evaluate("document.querySelector('progress').value") == 40
    expect(page.locator(".job-detail")).to_have_text("Checking the rows")
    assert page.evaluate("window.__same_page") is True
    _set(app, job_id, state="done", progress_done=100, result={"file_error": "x"},
         result_link=f"/institutions/{e2e_world.org_id}/roster?job={job_id}")
    expect(page).to_have_url(f"{base_url}/institutions/{e2e_world.org_id}/roster?job={job_id}")
    assert errors == []
    context.close()
