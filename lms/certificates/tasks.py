"""Certificates' scheduled work: holders are reminded 90, 30 and 7 days before a certificate
expires, each reminder once (recorded in certificate_expiry_reminders)."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from lms.certificates.models import Certificate, CertificateStatus, ExpiryReminder
from lms.core import jobs, notifications
from lms.core.clock import local_today, utc_now
from lms.extensions import db
from lms.registry.service import account_id

REMINDER_JOB = "certificates.expiry_reminders"
#: days before expiry a holder is reminded
THRESHOLDS = (90, 30, 7)

notifications.message("certificate.expires_soon", _l(
    "Your certificate %(number)s expires on %(expires_on)s (in %(days)s days)."))


def send_expiry_reminders(today: date | None = None) -> dict:
    """One reminder per certificate for the nearest threshold it has reached, and never the
    same threshold twice for the same expiry date. A certificate found at 5 days left gets the
    7-day reminder only."""
    today = today or local_today()
    horizon = today + timedelta(days=max(THRESHOLDS))
    sent = {}
    for days in THRESHOLDS:
        sent[days] = 0
    rows = db.session.execute(select(Certificate).where(
        Certificate.status == CertificateStatus.VALID.value,
        Certificate.expires_on.is_not(None), Certificate.expires_on >= today,
        Certificate.expires_on <= horizon).order_by(Certificate.id)).scalars().all()
    for cert in rows:
        left = (cert.expires_on - today).days
        due = min(t for t in THRESHOLDS if left <= t)
        done = db.session.get(ExpiryReminder, (cert.id, due))
        if done is not None and done.expires_on == cert.expires_on:
            continue
        if done is None:
            db.session.add(ExpiryReminder(certificate_id=cert.id, days=due,
                                          expires_on=cert.expires_on, sent_at=utc_now()))
        else:
            done.expires_on, done.sent_at = cert.expires_on, utc_now()
        notifications.notify(account_id(cert.person_id), "certificate.expires_soon",
                             "/my/certificates", number=cert.number,
                             expires_on=cert.expires_on.isoformat(), days=left)
        sent[due] += 1
        db.session.flush()
    return {str(days): count for days, count in sent.items()}


@shared_task(name=REMINDER_JOB, bind=True, autoretry_for=(Exception,), retry_backoff=30,
             max_retries=3)
def expiry_reminders_task(self) -> dict:
    return jobs.run_scheduled(self, lambda job, progress: (send_expiry_reminders(), ""))


@shared_task(name="certificates.issue_batch", bind=True, autoretry_for=(Exception,),
             retry_backoff=30, retry_backoff_max=1800, retry_jitter=True, max_retries=3)
def issue_batch_task(self, job_id: int) -> dict:
    from lms.certificates import service

    return jobs.run(self, job_id, service.run_issue_batch, stages=service.BATCH_STAGES)


@shared_task(name="certificates.render_batch_part", bind=True, autoretry_for=(Exception,),
             retry_backoff=30, retry_backoff_max=1800, retry_jitter=True, max_retries=3)
def render_batch_part_task(self, job_id: int, cert_ids: list[int]) -> dict:
    """Some of a batch's PDFs (run_issue_batch splits them); every worker process takes parts."""
    from lms.certificates import service

    return jobs.run_part(self, job_id, cert_ids, service.render_batch_part,
                         left=service.batch_pdfs_left)
