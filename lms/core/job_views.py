"""Job pages: a job's progress (for the person who started it), its status as JSON for the
progress bar, and the failed jobs for administrators."""

from __future__ import annotations

import io

from flask import Blueprint, abort, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from lms.core import jobs
from lms.core.navigation import NavEntry
from lms.core.permissions import load, permission

bp = Blueprint("jobs", __name__, template_folder="templates")


def export_reply(result, send, back: str):
    """The answer to an export: the file (`send(result)`); for a big one asked by a link, a page
    with its size and a button that starts the job (POST to the same address); once started,
    the job's progress page."""
    if isinstance(result, jobs.ExportNeedsJob):
        return render_template("jobs/export_confirm.html", rows=result.rows, back=back,
                               action=request.full_path)
    if isinstance(result, jobs.Job):
        return redirect(url_for("jobs.detail", job_id=jobs.submit(result).id))
    return send(result)


@bp.app_template_global()
def job_title(job) -> str:
    return jobs.title_of(job)


@bp.get("/jobs/<int:job_id>")
@permission(jobs.can_see_job, job=load(jobs.Job, "job_id"))
def detail(job):
    return render_template("jobs/detail.html", job=job, status=jobs.status(current_user, job))


@bp.get("/jobs/<int:job_id>/status")
@permission(jobs.can_see_job, job=load(jobs.Job, "job_id"))
def status(job):
    return jsonify(jobs.status(current_user, job))


@bp.get("/jobs/<int:job_id>/download")
@permission(jobs.can_download_job_output, job=load(jobs.Job, "job_id"))
def download(job):
    try:
        output = jobs.output_of(current_user, job)
    except LookupError:
        abort(404)
    response = send_file(io.BytesIO(output.data), mimetype=output.mimetype, as_attachment=True,
                         download_name=output.filename)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/admin/jobs/failed")
@permission(jobs.can_see_failed_jobs)
def failed():
    return render_template("jobs/failed.html", items=jobs.failed_jobs(current_user))


NAVIGATION = (
    NavEntry(_l("Failed jobs"), "jobs.failed", "exclamation-octagon", jobs.can_see_failed_jobs),
)
AUDIT_TITLES = {
    "jobs.job_start": _l("Job started"),
    "jobs.job_finish": _l("Job finished"),
    "jobs.job_retry": _l("Job failed, will try again"),
    "jobs.job_fail": _l("Job failed"),
    # the schedule's purge (lms/auth/tasks.py), titled here to leave auth's views alone
    "auth.expired_one_time_passwords_purged": _l("Expired one-time passwords removed"),
}
