"""The registry's background work: the roster import (lms/jobs.py lists this module)."""

from __future__ import annotations

from celery import shared_task

from lms.core import jobs
from lms.registry import roster


@shared_task(name=roster.IMPORT_JOB, bind=True, autoretry_for=(Exception,), retry_backoff=30,
             retry_backoff_max=1800, retry_jitter=True, max_retries=3)
def import_roster(self, job_id: int) -> dict:
    return jobs.run(self, job_id, roster.run_import, stages=roster.STAGES)
