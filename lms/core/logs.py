"""Structured logs: one JSON object per line (python-json-logger), each with the request's id
(X-Request-ID when the proxy sent one, else a new one, echoed in the response) and the signed-in
user's id, and never an identity number, a mobile number or a password (DESIGN §5.6): they are
masked in every message and field before a line is written.

LMS_LOG_FORMAT=text writes plain lines instead (a developer's terminal); LMS_LOG_LEVEL sets the
level (INFO).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid

from flask import Flask, g, has_app_context, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

from lms.core.idnumber import mask_id_numbers_in

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|otp)", re.IGNORECASE)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_installed = False


def scrub(value):
    """`value` with identity and mobile numbers masked (strings; containers walked)."""
    if isinstance(value, str):
        value = mask_id_numbers_in(value)
        return _MOBILE.sub(lambda m: m.group(1)[:3] + "****" + m.group(1)[-4:], value)
    if isinstance(value, dict):
        return {k: ("[hidden]" if _SECRET_KEY.search(str(k)) else scrub(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value


class LmsJsonFormatter(JsonFormatter):
    """JSON lines with the time, level, logger, message, request id and user id, scrubbed."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s",
                         rename_fields={"asctime": "time", "levelname": "level",
                                        "name": "logger"},
                         timestamp=False)

    def process_log_record(self, log_data):
        return {key: ("[hidden]" if _SECRET_KEY.search(key) else scrub(value))
                for key, value in log_data.items()}

    def formatException(self, ei):  # noqa: N802 - logging's name
        return scrub(super().formatException(ei))


class ScrubbingTextFormatter(logging.Formatter):
    def format(self, record):
        return scrub(super().format(record))


def _context(record: logging.LogRecord) -> None:
    """Every record carries the request id and the user id (empty outside a request)."""
    request_id = user_id = ""
    if has_request_context():
        request_id = getattr(g, "request_id", "")
        user = getattr(g, "_login_user", None)  # never load the user just to log
        # a user's id; an actor with none (an API client) by its label, "api:<client>"
        user_id = getattr(user, "id", None) or getattr(user, "display_name", "") or ""
    elif has_app_context():
        request_id = getattr(g, "job_request_id", "")
    record.request_id = request_id
    record.user_id = user_id


def install(level: str | None = None, fmt: str | None = None) -> None:
    """Once per process: the record factory that adds the context, and (unless pytest captures
    the logs) a handler on the root logger writing JSON lines to stderr."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            _context(record)
        except Exception:  # noqa: S110 - logging must never fail the caller
            pass
        return record

    logging.setLogRecordFactory(factory)
    if "pytest" in sys.modules:
        return
    handler = logging.StreamHandler()
    text = (fmt or os.environ.get("LMS_LOG_FORMAT", "json")) == "text"
    handler.setFormatter(ScrubbingTextFormatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s u=%(user_id)s] %(message)s")
        if text else LmsJsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("LMS_LOG_LEVEL", "INFO"))
    # werkzeug's own access line repeats ours without the request id
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


access_log = logging.getLogger("lms.request")


def init_app(app: Flask) -> None:
    install()

    @app.before_request
    def request_id():
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        if getattr(g, "request_id", None):
            response.headers["X-Request-ID"] = g.request_id
            # the path only: never the query string or the form (personal data stays out)
            access_log.info("%s %s %s", request.method, request.path, response.status_code,
                            extra={"method": request.method, "path": request.path,
                                   "status": response.status_code,
                                   "ms": round(1000 * (time.perf_counter()
                                                       - g.get("request_started", 0)), 1)})
        return response
