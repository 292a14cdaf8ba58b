"""Core's scheduled work: the files of long-finished jobs are not kept — the inputs of failed
jobs after 30 days, the files jobs made (large exports) after EXPORT_KEEP_DAYS (7)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from flask import current_app
from sqlalchemy import delete, select

from lms.core import jobs
from lms.core.actors import system_actor
from lms.core.clock import utc_now
from lms.extensions import db

#: a failed job's file stays this long, for an administrator to look into
KEEP_FAILED_INPUTS = timedelta(days=30)


@shared_task(name="core.purge_old_job_inputs", bind=True, autoretry_for=(Exception,),
             retry_backoff=30, max_retries=3)
def purge_old_job_inputs(self) -> dict:
    def work(job, progress):
        cutoff = utc_now() - KEEP_FAILED_INPUTS
        old = select(jobs.Job.id).where(jobs.Job.updated_at < cutoff,
                                        jobs.Job.state.in_([jobs.JobState.FAILED.value,
                                                            jobs.JobState.DONE.value]))
        purged = db.session.execute(delete(jobs.JobInput).where(
            jobs.JobInput.job_id.in_(old))).rowcount
        keep = timedelta(days=current_app.config.get("EXPORT_KEEP_DAYS", 7))
        made = select(jobs.Job.id).where(jobs.Job.updated_at < utc_now() - keep)
        outputs = db.session.execute(delete(jobs.JobOutput).where(
            jobs.JobOutput.job_id.in_(made))).rowcount
        return {"purged": purged, "outputs": outputs}, ""
    return jobs.run_scheduled(self, work)


@shared_task(name="core.recover_stalled_jobs", bind=True, autoretry_for=(Exception,),
             retry_backoff=30, max_retries=3)
def recover_stalled_jobs(self) -> dict:
    """Jobs whose worker is gone queued and sent again (lms.core.jobs.recover_stalled)."""
    def work(job, progress):
        done = jobs.recover_stalled(system_actor(f"jobs:{self.name}"))
        return {key: len(ids) for key, ids in done.items()}, ""
    return jobs.run_scheduled(self, work)
