"""Scheduling's scheduled work: sessions whose end has passed close themselves, as closing by
hand does (unmarked bookings absent, attendance credited to the ledger once)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from sqlalchemy import select

from lms.core import jobs
from lms.core.actors import system_actor
from lms.core.clock import utc_now
from lms.core.errors import DomainError
from lms.extensions import db
from lms.scheduling.models import SessionStatus, TrainingSession
from lms.scheduling.service import close_session

log = logging.getLogger(__name__)

CLOSE_JOB = "scheduling.close_ended_sessions"
#: how long after its end a session stays open for its trainer to mark attendance by hand
AUTO_CLOSE_AFTER = timedelta(hours=2)


def close_ended_sessions(now=None) -> dict:
    """Close every scheduled session that ended more than AUTO_CLOSE_AFTER ago, each in its
    own transaction (one that cannot close is logged and left for a person)."""
    actor = system_actor(f"jobs:{CLOSE_JOB}")
    now = now or utc_now()
    ids = list(db.session.scalars(select(TrainingSession.id).where(
        TrainingSession.status == SessionStatus.SCHEDULED.value,
        TrainingSession.ends_at <= now - AUTO_CLOSE_AFTER).order_by(TrainingSession.id)))
    closed = credited = absent = 0
    left = []
    for session_id in ids:
        session = db.session.get(TrainingSession, session_id)
        try:
            outcome = close_session(actor, session, now=now)
        except DomainError as err:  # someone closed or cancelled it just now, or a guard
            db.session.rollback()
            log.info("session %s not closed: %s", session_id, err)
            left.append(session_id)
            continue
        db.session.commit()
        closed += 1
        credited += outcome["credited"]
        absent += outcome["absent"]
    return {"closed": closed, "credited": credited, "absent": absent, "left": left}


@shared_task(name=CLOSE_JOB, bind=True, autoretry_for=(Exception,), retry_backoff=30,
             max_retries=3)
def close_ended_sessions_task(self) -> dict:
    return jobs.run_scheduled(self, lambda job, progress: (close_ended_sessions(), ""))
