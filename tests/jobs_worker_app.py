"""The app a real Celery worker runs in the worker tests (tests/core/test_jobs_worker.py):
the test database (DATABASE_URL), Redis database 15, unacknowledged messages redelivered after
3 seconds (swept every second; LMS_TEST_VISIBILITY sets another timeout). With LMS_TEST_STALL_FILE set, the roster import stops after storing its rows (not yet
committed), touches that file and waits, so the test can kill the worker mid-job
(LMS_TEST_ROSTER_CHUNK: the rows it checks and writes at a time);
LMS_TEST_STALL_BATCH_FILE does the same to the certificate batch after issuing, and
LMS_TEST_STALL_RENDER_FILE to a part of its PDFs once the part's first PDF is committed.
LMS_TEST_BATCH_PART_SIZE sets how many PDFs a part of the batch makes (every part that
size, the last one what remains: no smaller parts towards the end)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lms import create_app
from lms.registry import roster

BROKER = os.environ.get("LMS_TEST_BROKER", "redis://127.0.0.1:6379/15")


def worker_config() -> dict:
    return {
        "TESTING": True, "WTF_CSRF_ENABLED": False, "SESSION_COOKIE_SECURE": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "BABEL_DEFAULT_LOCALE": "en",
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL", ""),
        "JOBS_EAGER": False, "CELERY_BROKER_URL": BROKER,
        # a running job not heard of for 2 s counts as its worker's death
        "JOBS_STALE_SECONDS": 2,
        # redeliver a killed worker's unacknowledged task after 3 s, looking every second
        # (LMS_TEST_VISIBILITY: the hours a city's broker waits, for the sweep's tests)
        "CELERY": {"broker_transport_options": {
                   "visibility_timeout": int(os.environ.get("LMS_TEST_VISIBILITY", "3")),
                                                "unacked_restore_interval": 1,
                                                "unacked_restore_throttle": 1}},
    }


if os.environ.get("LMS_TEST_ROSTER_CHUNK"):
    roster.CHUNK_ROWS = int(os.environ["LMS_TEST_ROSTER_CHUNK"])

if os.environ.get("LMS_TEST_STALL_FILE"):
    # after the persons and employments are written (on PostgreSQL chunk by chunk, by the
    # import's writer thread), before the rest and the commit
    _stored = roster._stored

    def _stalling_stored(*args, **kwargs):
        result = _stored(*args, **kwargs)
        from lms.extensions import db
        db.session.flush()
        Path(os.environ["LMS_TEST_STALL_FILE"]).touch()
        time.sleep(120)
        return result

    roster._stored = _stalling_stored

if os.environ.get("LMS_TEST_STALL_BATCH_FILE"):
    from lms.certificates import service as certificates

    _issue_batch = certificates.issue_batch

    def _stalling_issue_batch(*args, **kwargs):
        issued = _issue_batch(*args, **kwargs)
        from lms.extensions import db
        db.session.flush()
        Path(os.environ["LMS_TEST_STALL_BATCH_FILE"]).touch()
        time.sleep(120)
        return issued

    certificates.issue_batch = _stalling_issue_batch

if os.environ.get("LMS_TEST_BATCH_PART_SIZE"):
    from lms.certificates import service as certificates

    certificates.BATCH_PART_SIZE = int(os.environ["LMS_TEST_BATCH_PART_SIZE"])
    certificates.BATCH_TAIL_SHARE = 1  # a part is never cut below the size (only the last)

if os.environ.get("LMS_TEST_STALL_RENDER_FILE"):
    from lms.certificates import service as certificates

    _render_batch_part = certificates.render_batch_part

    def _stalling_render_batch_part(job, cert_ids, report):
        def report_then_stall(*args, **kwargs):
            # render_batch_part reports after each PDF's commit: the first one stands, the
            # rest of the part is not made
            remaining = report(*args, **kwargs)
            Path(os.environ["LMS_TEST_STALL_RENDER_FILE"]).touch()
            time.sleep(120)
            return remaining

        return _render_batch_part(job, cert_ids, report_then_stall)

    certificates.render_batch_part = _stalling_render_batch_part

if os.environ.get("LMS_WORKER_APP"):  # the worker subprocess, not the test importing this
    app = create_app(worker_config())
    celery_app = app.extensions["celery"]
