"""The Celery app and the schedule (beat), wired as Flask's documentation shows ("Background
Tasks with Celery"): `celery_init_app(app)` builds a Celery app whose Task class runs every task
inside the Flask app's context, so a task calls the same services as the web does, as a named
system actor (lms.core.actors.system_actor("jobs:<name>")).

Tasks live in each package's tasks.py (`celery.shared_task`) and are listed here, like the
blueprints in create_app. A worker and beat run with

    celery -A wsgi.celery_app worker    celery -A wsgi.celery_app beat

Broker and result backend: Redis at CELERY_BROKER_URL. Without one configured, Redis on
127.0.0.1:6379 is used when it answers; otherwise (a fresh machine with nothing installed) the
jobs run eagerly, in the web process that starts them, with a warning.
"""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

import click
from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask, current_app, has_app_context
from flask.cli import AppGroup

log = logging.getLogger(__name__)

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"

#: every module holding tasks, imported once when the Celery app is made
TASK_MODULES = (
    "lms.core.tasks",
    "lms.auth.tasks",
    "lms.registry.tasks",
    "lms.scheduling.tasks",
    "lms.certificates.tasks",
    "lms.subsidies.tasks",
    "lms.compliance.tasks",
    "lms.enforcement.tasks",
)

#: the schedule: name -> (task, when). Each is also `flask jobs run <name>`.
SCHEDULE = {
    "close-sessions": ("scheduling.close_ended_sessions", crontab(minute="*/10")),
    "certificate-reminders": ("certificates.expiry_reminders", crontab(hour=1, minute=15)),
    "purge-one-time-passwords": ("auth.purge_expired_one_time_passwords",
                                 crontab(hour=2, minute=30)),
    "purge-job-inputs": ("core.purge_old_job_inputs", crontab(hour=3, minute=0)),
    # a job whose worker died with it (kill -9, a machine lost) queued again within minutes,
    # not after the broker's visibility timeout (lms.core.jobs.recover_stalled)
    "recover-stalled-jobs": ("core.recover_stalled_jobs", crontab(minute="*/5")),
    "compliance-refresh": ("compliance.refresh", crontab(minute=5)),
    "expire-bans": ("enforcement.expire_term_bans", crontab(hour=0, minute=10)),
    "rescreen": ("enforcement.rescreen", crontab(month_of_year=1, day_of_month=1, hour=4,
                                                  minute=0)),
    "retention-purge": ("auth.purge_expired", crontab(hour=3, minute=30)),
    # HR told, once per notice, that a subsidy notice (公示) has ended: its claims may be paid
    "claim-notice-ended": ("subsidies.notice_ended", crontab(hour=8, minute=0)),
    # caregivers behind pro rata on this year's hours, once a quarter: on the first day of
    # each quarter's last month, a month before the quarter ends
    "hours-behind-reminders": ("compliance.hours_behind_reminders",
                               crontab(month_of_year="3,6,9,12", day_of_month=1, hour=9,
                                       minute=0)),
}


def redis_answers(url: str, timeout: float = 0.3) -> bool:
    """Whether something accepts connections at the Redis URL's host and port."""
    from urllib.parse import urlparse

    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379),
                                      timeout=timeout) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def celery_config(app: Flask) -> dict:
    broker = app.config.get("CELERY_BROKER_URL") or ""
    eager = bool(app.config.get("JOBS_EAGER"))
    if not broker and not eager:
        if redis_answers(DEFAULT_BROKER):
            broker = DEFAULT_BROKER
        else:
            eager = True
            log.warning("no Redis answers on 127.0.0.1:6379 and CELERY_BROKER_URL is not set: "
                        "jobs run inside the web process that starts them")
    app.config["JOBS_EAGER"] = eager
    config = {
        "broker_url": broker or "memory://localhost/",
        "result_backend": broker or None,
        # the job's row holds its result; Celery's result is not read
        "task_ignore_result": True,
        "task_always_eager": eager,
        "task_eager_propagates": False,
        # a task is acknowledged when it ends: a worker killed mid-way (kill -9) leaves it
        # queued, and another worker starts it again (its writes were one transaction)
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "timezone": app.config.get("CITY_TIMEZONE", "Asia/Shanghai"),
        "enable_utc": True,
        "beat_schedule": {name: {"task": task, "schedule": when}
                          for name, (task, when) in SCHEDULE.items()},
        "worker_hijack_root_logger": False,
        # an unacknowledged task (its worker killed) is delivered again after this; longer than
        # any job runs and any retry's countdown (a job still reporting progress is never run
        # twice: lms.core.jobs.run); the schedule's recover-stalled-jobs takes a lost worker's
        # job up again long before
        "broker_transport_options": {"visibility_timeout": 6 * 3600},
    }
    config.update(app.config.get("CELERY") or {})
    return config


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            # run eagerly from a request, the task still gets its own app context (its own
            # database session), as it would in a worker
            flask_app = current_app._get_current_object() if has_app_context() else app
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(app))
    for module in TASK_MODULES:
        __import__(module)
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


#: how long a failed task waits before its next try grows from this, doubling (retry_backoff)
RETRY = {"autoretry_for": (Exception,), "retry_backoff": 30, "retry_backoff_max": 1800,
         "retry_jitter": True, "max_retries": 3}
RETRY_DELAY = timedelta(seconds=30)


# --- flask jobs … ---------------------------------------------------------------------------

jobs_group = AppGroup("jobs", help="Background jobs and the schedule.")


@jobs_group.command("list")
def list_command():
    """The schedule: each entry's name (for `flask jobs run`), task and times."""
    for name, (task, when) in SCHEDULE.items():
        click.echo(f"{name:28} {task:45} {when}")


@jobs_group.command("run")
@click.argument("name", type=click.Choice(sorted(SCHEDULE)))
def run_command(name):
    """Run one scheduled task now, in this process."""
    task = current_app.extensions["celery"].tasks[SCHEDULE[name][0]]
    result = task.apply()
    if result.failed():
        raise click.ClickException(f"{name} failed: {result.result}")
    click.echo(f"{name}: {result.result}")
