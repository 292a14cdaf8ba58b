#!/usr/bin/env bash
# `make run`: the web server with a Celery worker and beat beside it (Procfile, run by honcho,
# all stopped together by Ctrl-C). Without Redis on 127.0.0.1:6379 (a fresh machine where it
# could not be installed or started) only the web server runs, and it runs each job itself.
set -euo pipefail
cd "$(dirname "$0")/.."
# a terminal reads plain lines; production keeps the JSON lines (lms/core/logs.py)
export LMS_LOG_FORMAT=${LMS_LOG_FORMAT:-text}
if [ -n "${CELERY_BROKER_URL:-}" ] || (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  exec .venv/bin/honcho -f Procfile start
fi
echo "WARNING: no Redis on 127.0.0.1:6379: no worker or schedule; jobs run inside the web server" >&2
LMS_JOBS_EAGER=1 LMS_COOKIE_SECURE=0 exec .venv/bin/python -m flask --app wsgi run --host 127.0.0.1 --port "${LMS_PORT:-5000}"
