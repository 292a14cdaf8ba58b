"""Compliance's background work: the snapshots brought up to date past the dirty list, the
quarterly reminder to caregivers behind on their hours, and a large export."""

from __future__ import annotations

from celery import shared_task

from lms.compliance import rollups, service
from lms.core import jobs
from lms.core.actors import system_actor

REFRESH_JOB = "compliance.refresh"


@shared_task(name=REFRESH_JOB, bind=True, autoretry_for=(Exception,), retry_backoff=30,
             max_retries=3)
def refresh_task(self) -> dict:
    def work(job, progress):
        result = rollups.refresh(system_actor(f"jobs:{REFRESH_JOB}"))
        return {"persons": result.persons, "institutions": result.institutions,
                "districts": result.districts, "full": result.full}, ""
    return jobs.run_scheduled(self, work)


HOURS_REMINDER_JOB = "compliance.hours_behind_reminders"


@shared_task(name=HOURS_REMINDER_JOB, bind=True, autoretry_for=(Exception,), retry_backoff=30,
             max_retries=3)
def hours_behind_task(self) -> dict:
    from lms.compliance.reminders import remind_hours_behind

    def work(job, progress):
        result = remind_hours_behind(system_actor(f"jobs:{HOURS_REMINDER_JOB}"))
        return {"quarter": result.quarter, "checked": result.checked, "behind": result.behind,
                "sent": result.sent}, ""
    return jobs.run_scheduled(self, work)


@shared_task(name=service.EXPORT_JOB, bind=True, autoretry_for=(Exception,), retry_backoff=30,
             retry_backoff_max=1800, retry_jitter=True, max_retries=3)
def export_task(self, job_id: int) -> dict:
    return jobs.run(self, job_id, service.run_export, stages=jobs.EXPORT_STAGES)
