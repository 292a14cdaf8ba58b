"""What /readyz checks: the database, Redis (when the jobs use it) and wkhtmltopdf."""

from __future__ import annotations

import logging
import shutil

from sqlalchemy import select

from lms.extensions import db

log = logging.getLogger(__name__)


def _database() -> dict:
    try:
        db.session.execute(select(1))
        return {"ok": True}
    except Exception:
        log.exception("readyz: the database does not answer")
        db.session.rollback()
        return {"ok": False}


def _redis(app) -> dict:
    if app.config.get("JOBS_EAGER"):
        return {"ok": True, "used": False}
    url = app.extensions["celery"].conf.broker_url
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        return {"ok": True, "used": True}
    except Exception:
        log.warning("readyz: Redis does not answer", exc_info=True)
        return {"ok": False, "used": True}


def readiness(app) -> dict:
    return {"database": _database(), "redis": _redis(app),
            "wkhtmltopdf": {"ok": shutil.which("wkhtmltopdf") is not None}}
