"""Compliance's scheduled work: the snapshots brought up to date past the dirty list."""

from __future__ import annotations

from celery import shared_task

from lms.compliance import rollups
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
