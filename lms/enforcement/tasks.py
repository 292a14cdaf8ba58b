"""Enforcement's scheduled work: term bans end on their date; employed staff are re-screened
against the ban list every year (the hiring check 未成年人保护法 asks for, repeated yearly)."""

from __future__ import annotations

from celery import shared_task

from lms.core import jobs
from lms.core.actors import system_actor
from lms.enforcement import service

EXPIRE_JOB = "enforcement.expire_term_bans"
RESCREEN_JOB = "enforcement.rescreen"


@shared_task(name=EXPIRE_JOB, bind=True, autoretry_for=(Exception,), retry_backoff=30,
             max_retries=3)
def expire_task(self) -> dict:
    def work(job, progress):
        return {"expired": len(service.expire_term_bans(system_actor(f"jobs:{EXPIRE_JOB}")))}, ""
    return jobs.run_scheduled(self, work)


@shared_task(name=RESCREEN_JOB, bind=True, autoretry_for=(Exception,), retry_backoff=30,
             max_retries=3)
def rescreen_task(self) -> dict:
    def work(job, progress):
        result = service.rescreen(system_actor(f"jobs:{RESCREEN_JOB}"))
        return {"screened": result.screened, "new_alerts": len(result.new_alerts),
                "resolved": result.resolved}, ""
    return jobs.run_scheduled(self, work)
