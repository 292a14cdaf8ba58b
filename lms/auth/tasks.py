"""Auth's scheduled work: one-time passwords past their validity are removed."""

from __future__ import annotations

from celery import shared_task
from sqlalchemy import or_, select

from lms.auth.models import User
from lms.auth.service import one_time_password_expires_at
from lms.core import audit, jobs
from lms.core.actors import system_actor
from lms.core.clock import utc_now
from lms.core.permissions import authorize, has_role
from lms.extensions import db

PURGE_JOB = "auth.purge_expired_one_time_passwords"


def purge_expired_one_time_passwords(actor) -> int:
    """Forget the hashes of one-time passwords that have expired (they open nothing), so no
    stale secret is kept; the account stays, waiting for a new one-time password."""
    authorize(actor, has_role("admin"))
    now = utc_now()
    purged = 0
    for user in db.session.scalars(select(User).where(or_(User.password_hash.like("otp$%"),
                                                          User.password_hash.like("initial$%")))):
        expires = one_time_password_expires_at(user)
        if expires is not None and expires <= now:
            user.password_hash = None
            purged += 1
    if purged:
        audit.record(actor, "auth.expired_one_time_passwords_purged", None, object_type="users",
                     count=purged)
    db.session.flush()
    return purged


@shared_task(name=PURGE_JOB, bind=True, autoretry_for=(Exception,), retry_backoff=30,
             max_retries=3)
def purge_task(self) -> dict:
    def work(job, progress):
        return {"purged": purge_expired_one_time_passwords(system_actor(f"jobs:{PURGE_JOB}"))}, ""
    return jobs.run_scheduled(self, work)


RETENTION_JOB = "auth.purge_expired"


@shared_task(name=RETENTION_JOB, bind=True, autoretry_for=(Exception,), retry_backoff=30,
             max_retries=3)
def retention_task(self) -> dict:
    """Security events past their retention, expired remembered browsers, unconfirmed
    enrolments (lms.auth.service.purge_expired)."""
    from lms.auth.service import purge_expired

    def work(job, progress):
        return dict(purge_expired(system_actor(f"jobs:{RETENTION_JOB}"))), ""
    return jobs.run_scheduled(self, work)
