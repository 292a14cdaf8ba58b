"""Subsidies' background work: a large export (lms/jobs.py lists this module), and HR told when
a claim's public notice has ended."""

from __future__ import annotations

from celery import shared_task

from lms.core import jobs
from lms.core.actors import system_actor
from lms.subsidies import service

NOTICE_ENDED_JOB = "subsidies.notice_ended"


@shared_task(name=service.EXPORT_JOB, bind=True, autoretry_for=(Exception,), retry_backoff=30,
             retry_backoff_max=1800, retry_jitter=True, max_retries=3)
def export_task(self, job_id: int) -> dict:
    return jobs.run(self, job_id, service.run_export, stages=jobs.EXPORT_STAGES)


@shared_task(name=NOTICE_ENDED_JOB, bind=True, autoretry_for=(Exception,), retry_backoff=30,
             max_retries=3)
def notice_ended_task(self) -> dict:
    def work(job, progress):
        reported = service.report_ended_notices(system_actor(f"jobs:{NOTICE_ENDED_JOB}"))
        return {"notices": len(reported)}, ""
    return jobs.run_scheduled(self, work)
