"""gunicorn's settings for a city's app servers: `gunicorn wsgi:app` reads this file.

Each app server is stateless (sessions are signed cookies, uploads and job progress live in
the database, rate limits in Redis), so a city runs several behind a reverse proxy. Every
variable below can be set in the environment.
"""

import multiprocessing
import os

bind = os.environ.get("LMS_BIND", "127.0.0.1:8000")
# threads wait on the database and on wkhtmltopdf; processes use the cores
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = int(os.environ.get("LMS_THREADS", "4"))
timeout = int(os.environ.get("LMS_WORKER_TIMEOUT", "60"))
graceful_timeout = 30
# LMS_MAX_REQUESTS=5000: a worker restarts after that many requests, bounding any slow leak
# (off by default: the benchmarks in tests/bench serve with this file too)
max_requests = int(os.environ.get("LMS_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# the proxy in front sets X-Forwarded-For / -Proto; trust it only from these addresses
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# the app logs each request itself (lms.request: request id, user id, status, time), as JSON
# lines on stderr; gunicorn's own lines go the same way
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LMS_LOG_LEVEL", "info").lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "lms.core.logs.LmsJsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                            "stream": "ext://sys.stderr"}},
    "root": {"level": loglevel.upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stderr"], "propagate": False},
    },
}
