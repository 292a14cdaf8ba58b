"""Job records: long work a user started (a roster import, a certificate batch) or a schedule ran,
as the user and the administrators see it — its state, its progress, its result or its error.

The Celery app and the schedule live in lms/jobs.py (above every package); a package's
tasks.py runs its work through `run(task, job_id, work)` here, so every job records its states
through one transition table, its progress in its own short transactions (visible while the
work's own transaction is still open), and its failure with the error, retried with back-off by
Celery until it gives up.

Nothing about a job lives in a process: the uploaded file is a row (`JobInput`), the file a job
made (a large export) is a row (`JobOutput`), the progress is a row, so any app server shows any
job and hands its file to the user who asked.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from inspect import signature as inspect_signature

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Mapped, mapped_column

from lms.core import notifications
from lms.core.actors import system_actor
from lms.core.clock import utc_now
from lms.core.crypto import EncryptedBlob
from lms.core.enums import TitledEnum, enum_check
from lms.core.permissions import authorize, predicate
from lms.core.states import InvalidTransition, StateMachine
from lms.extensions import db

log = logging.getLogger(__name__)


class JobState(TitledEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"

    @classmethod
    def titles(cls):
        return {cls.QUEUED: _l("Waiting to start"), cls.RUNNING: _l("Running"),
                cls.RETRYING: _l("Failed, will try again"), cls.DONE: _l("Done"),
                cls.FAILED: _l("Failed")}

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED)


class JobAction(TitledEnum):
    START = "start"
    FINISH = "finish"
    RETRY = "retry"
    FAIL = "fail"
    #: its worker died with it: queued again, to start over (recover_stalled)
    RECOVER = "recover"
    #: its worker died while making one of its parts: the parts still to do sent again
    RESUME = "resume"

    @classmethod
    def titles(cls):
        return {cls.START: _l("Start"), cls.FINISH: _l("Finish"), cls.RETRY: _l("Try again"),
                cls.FAIL: _l("Give up"), cls.RECOVER: _l("Start again (its worker stopped)"),
                cls.RESUME: _l("Send its remaining parts again (a worker stopped)")}


class Job(db.Model):
    """One run of a long piece of work, with who asked for it and how far it has got."""

    __tablename__ = "jobs"
    __table_args__ = (
        enum_check("state", JobState),
        Index("ix_jobs_state_updated", "state", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the task's name, e.g. "registry.import_roster"
    kind: Mapped[str] = mapped_column(String(60), index=True)
    #: Celery's id of the task running it (kept across its retries)
    task_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    state: Mapped[str] = mapped_column(String(10), default=JobState.QUEUED.value)
    #: what the work is about, for the work itself (an organisation id, a limit)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    #: what it is doing now (a translated word from the work), shown under the bar
    message: Mapped[str] = mapped_column(String(200), default="")
    #: what the work returned, for the page that shows the result
    result: Mapped[dict | None] = mapped_column(JSON)
    #: the page that shows the result
    result_link: Mapped[str] = mapped_column(String(200), default="")
    #: the last error (type and message; the traceback goes to the log)
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: the language the user asked in: the work's messages are written in it
    locale: Mapped[str] = mapped_column(String(12), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: "jobs:close_sessions" when a schedule started it
    created_by_label: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utc_now)

    @property
    def state_enum(self) -> JobState:
        return JobState(self.state)

    @property
    def percent(self) -> int:
        if self.state_enum == JobState.DONE:
            return 100
        if not self.progress_total:
            return 0
        return max(0, min(100, int(100 * self.progress_done / self.progress_total)))


class JobInput(db.Model):
    """The file a job works on (an uploaded roster), kept in the database so any worker on any
    machine reads it; deleted when the job is done."""

    __tablename__ = "job_inputs"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"),
                                        primary_key=True)
    #: encrypted at rest: a roster lists identity numbers (lms.core.crypto)
    data: Mapped[bytes] = mapped_column(EncryptedBlob())


class JobOutput(db.Model):
    """The file a job made (a large export), kept in the database so any app server hands it
    to the user who asked; purged with the inputs (core.purge_old_job_inputs)."""

    __tablename__ = "job_outputs"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"),
                                        primary_key=True)
    filename: Mapped[str] = mapped_column(String(200))
    mimetype: Mapped[str] = mapped_column(String(120))
    #: encrypted at rest: the subsidy payment export lists bank account numbers (lms.core.crypto)
    data: Mapped[bytes] = mapped_column(EncryptedBlob())


@predicate
def can_see_job(user, job=None, **_) -> bool:
    """The person who started it, and administrators."""
    if not (user and user.is_authenticated):
        return False
    if user.role == "admin":
        return True
    return job is not None and job.created_by_id is not None and job.created_by_id == user.id


@predicate
def can_see_failed_jobs(user, **_) -> bool:
    return bool(user and user.is_authenticated and user.role == "admin")


def scope_of(user) -> dict:
    """What decides which rows a user's export holds: their role and where they work."""
    return {"role": str(getattr(user, "role", "") or ""),
            "district_id": getattr(user, "district_id", None),
            "organisation_id": getattr(user, "organisation_id", None)}


@predicate
def can_download_job_output(user, job=None, **_) -> bool:
    """Only the user who asked, still with the scope the file was made for (an export holds
    the rows of that scope): not an administrator, not a colleague."""
    if not (user and user.is_authenticated) or job is None or job.created_by_id is None:
        return False
    return (job.created_by_id == getattr(user, "id", None)
            and (job.params or {}).get("scope") == scope_of(user))


def _may(user, job, action) -> bool:
    return False  # only the job runner (a system actor) moves a job


JOB = StateMachine(Job, JobState, JobAction, {
    (JobState.QUEUED, JobAction.START): JobState.RUNNING,
    (JobState.RETRYING, JobAction.START): JobState.RUNNING,
    (JobState.RUNNING, JobAction.FINISH): JobState.DONE,
    (JobState.RUNNING, JobAction.RETRY): JobState.RETRYING,
    (JobState.RUNNING, JobAction.FAIL): JobState.FAILED,
    # a worker killed mid-way leaves its job "running"; the next delivery (acks_late) starts it
    # again from there
    (JobState.RUNNING, JobAction.START): JobState.RUNNING,
    # ... and a worker that is gone for good (kill -9, a machine lost) is noticed sooner than
    # the broker's redelivery (visibility timeout, hours): recover_stalled below
    (JobState.RUNNING, JobAction.RECOVER): JobState.QUEUED,
    (JobState.RETRYING, JobAction.RECOVER): JobState.QUEUED,
    (JobState.RUNNING, JobAction.RESUME): JobState.RUNNING,
}, may=_may, audit_prefix="jobs.job")

notifications.message("job.done", _l("%(title)s is done."))
notifications.message("job.failed", _l("%(title)s failed: %(error)s"))

#: task name -> its title, for the job page and the notifications (packages register theirs)
TITLES: dict[str, object] = {}


def titled(kind: str, title) -> None:
    TITLES[kind] = title


def title_of(job: Job) -> str:
    return str(TITLES.get(job.kind, job.kind))


def new_job(kind: str, *, user=None, params: dict | None = None, data: bytes | None = None,
            locale: str = "") -> Job:
    """A queued job record (and its input file), flushed; the caller's service has authorised
    the work itself. Start it with `submit` once the caller's writes are committed."""
    job = Job(kind=kind, params=params or {}, locale=locale,
              created_by_id=getattr(user, "id", None),
              created_by_label=(getattr(user, "name", "") if user is not None
                                and getattr(user, "is_system", False) else "")[:60])
    db.session.add(job)
    db.session.flush()
    if data is not None:
        db.session.add(JobInput(job_id=job.id, data=data))
    JOB.record_start(user or system_actor("jobs"), job)
    db.session.flush()
    return job


def submit(job: Job) -> Job:
    """Commit (a worker on another machine must see the job and its file) and send the job to
    the workers. With the jobs running eagerly (tests, or `make run` without Redis) it is done
    when this returns."""
    job_id = job.id
    job.task_id = str(uuid.uuid4())
    task_id = job.task_id
    db.session.commit()
    task = current_app.extensions["celery"].tasks[job.kind]
    task.apply_async(args=[job_id], task_id=task_id)
    db.session.expire_all()
    return db.session.get(Job, job_id)


def input_of(job: Job) -> bytes:
    row = db.session.get(JobInput, job.id)
    if row is None:
        raise LookupError(f"job {job.id} has no input")
    return row.data


def _write(job_id: int, **values) -> None:
    """Progress in its own short transaction, visible while the work's transaction is open."""
    values["updated_at"] = utc_now()
    with db.engine.begin() as connection:
        connection.execute(sql_update(Job).where(Job.id == job_id).values(**values))


class Progress:
    """The progress callback a job's work reports to: stage, done, total. Writes at most once
    a second (and always the last step), each write its own transaction."""

    def __init__(self, job_id: int, stages: dict | None = None):
        self.job_id = job_id
        self.stages = stages or {}
        self._last = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = utc_now()
        if (self._last is not None and (now - self._last).total_seconds() < 1
                and done != total):
            return
        self._last = now
        if _sqlite_writing():
            return  # SQLite has one writer: the work's own open write would block this one
        try:
            _write(self.job_id, progress_done=done, progress_total=max(total, 1),
                   message=str(self.stages.get(stage, stage))[:200])
        except Exception:  # progress is a courtesy: never fail the work for it
            log.warning("job %s: progress not recorded", self.job_id, exc_info=True)


def _sqlite_writing() -> bool:
    if db.engine.dialect.name != "sqlite" or not db.session().in_transaction():
        return False
    raw = db.session.connection().connection.dbapi_connection
    return bool(getattr(raw, "in_transaction", False))


@dataclass
class InParts:
    """What a job's work returns when the rest of the work is split into parts, each its own
    task, so that every worker process (every core, every machine) takes some. The work's
    writes are committed with the job still running and its progress total set to `total`;
    then each item of `parts` is sent to the task named `task` as (job id, part), which runs it
    with `run_part`. The part that finds nothing left finishes the job with `result`."""

    task: str
    parts: list
    total: int
    result: dict
    link: str
    #: the stage shown under the bar while the parts run
    stage: str = ""


def _finish(actor, job: Job, result: dict, link: str) -> None:
    """The job done with its result: its input deleted, its starter told. The caller commits."""
    JOB.apply(actor, job, JobAction.FINISH, values={
        "result": result, "result_link": link[:200], "error": "",
        "progress_done": job.progress_total or 1,
        "progress_total": job.progress_total or 1, "updated_at": utc_now()})
    db.session.execute(JobInput.__table__.delete().where(JobInput.job_id == job.id))
    notifications.notify(job.created_by_id, "job.done", link or f"/jobs/{job.id}",
                         title=title_of(job))


def _failed(task, actor, job_id: int, attempts: int, err: Exception, *,
            part: bool = False) -> None:
    """Record a failed attempt: retried (Celery tries again) or, the last one, given up. A
    part's failure that will be retried leaves the job running (its other parts go on) with
    the error noted."""
    db.session.rollback()
    job = db.session.get(Job, job_id)
    max_retries = task.max_retries if task.max_retries is not None else 0
    gives_up = task.request.retries >= max_retries
    error = f"{type(err).__name__}: {err}"[:2000]
    log.error("job %s (%s) failed, attempt %s%s", job_id, task.name, attempts,
              ", giving up" if gives_up else ", will retry", exc_info=True)
    if job is None or job.state_enum.finished:
        return
    if job.state_enum != JobState.RUNNING:
        return
    if part and not gives_up:
        _write(job_id, error=error)
        return
    action = JobAction.FAIL if gives_up else JobAction.RETRY
    JOB.apply(actor, job, action, values={"error": error, "updated_at": utc_now()},
              reason=error[:200])
    if gives_up:
        notifications.notify(job.created_by_id, "job.failed", f"/jobs/{job.id}",
                             title=title_of(job), error=str(err)[:150])
    db.session.commit()


def run(task, job_id: int, work: Callable[[Job, Progress], tuple[dict, str] | InParts], *,
        stages: dict | None = None) -> dict:
    """Run `work(job, progress)` for a job inside one transaction: commit it with the job's
    result and state, or roll it all back and record the failure. `work` returns (result,
    result_link), or InParts to have the rest done by part tasks. Raises the error again so
    Celery retries it with back-off."""
    actor = system_actor(f"jobs:{task.name}")
    job = db.session.get(Job, job_id)
    if job is None:
        log.warning("job %s: no such job (deleted?)", job_id)
        return {}
    if job.state_enum.finished:
        return job.result or {}  # delivered twice: done already
    stale = timedelta(seconds=current_app.config.get("JOBS_STALE_SECONDS", 600))
    if job.state_enum == JobState.RUNNING and utc_now() - job.updated_at < stale:
        # delivered again while a live worker still reports progress (the broker's visibility
        # timeout passed): leave it to that worker; a killed worker's job goes stale first
        log.warning("job %s is running elsewhere; this delivery is dropped", job_id)
        return {}
    attempts = job.attempts + 1
    JOB.apply(actor, job, JobAction.START, values={"attempts": attempts, "updated_at": utc_now()})
    db.session.commit()
    progress = Progress(job.id, stages)
    try:
        with force_locale(job.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            outcome = work(job, progress)
            if isinstance(outcome, InParts) and outcome.parts:
                job.result, job.result_link = outcome.result, outcome.link[:200]
                job.progress_done, job.progress_total = 0, max(outcome.total, 1)
                job.message = str((stages or {}).get(outcome.stage, outcome.stage))[:200]
                job.updated_at = utc_now()
                db.session.commit()  # the parts' workers must see the work's writes
                tasks = current_app.extensions["celery"].tasks
                for part in outcome.parts:
                    tasks[outcome.task].apply_async(args=[job_id, part])
                return outcome.result
            result, link = ((outcome.result, outcome.link) if isinstance(outcome, InParts)
                            else outcome)
            _finish(actor, job, result, link)
        db.session.commit()
        return result
    except Exception as err:
        _failed(task, actor, job_id, attempts, err)
        raise


def run_part(task, job_id: int, part, work: Callable[[Job, object, Callable[[], None]], None],
             left: Callable[[Job], int]) -> dict:
    """Run one part of a job that `run` split (InParts). `work(job, part, report)` commits as
    it goes, each item in its own transaction and each item done at most once whoever runs it
    (so a part retried, or redelivered after its worker was killed, redoes only what is
    missing); it calls `report()` after each item. `left(job)` counts what is still to do
    across the whole job, from the data itself: progress is the job's total less that, and
    the part that finds nothing left finishes the job. A part that fails is retried by
    Celery; the last failure fails the job."""
    actor = system_actor(f"jobs:{task.name}")
    job = db.session.get(Job, job_id)
    if job is None or job.state_enum != JobState.RUNNING:
        return {}  # finished (or given up) already
    total, attempts = job.progress_total or 1, job.attempts
    last = [None]

    def report(force: bool = False) -> int:
        now = utc_now()
        if not force and last[0] is not None and (now - last[0]).total_seconds() < 1:
            return -1
        last[0] = now
        remaining = left(job)
        db.session.commit()
        _write(job_id, progress_done=max(0, total - remaining))
        return remaining

    try:
        with force_locale(job.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            work(job, part, report)
            db.session.commit()
            if report(force=True) > 0:
                return {}
            job = db.session.get(Job, job_id)
            db.session.refresh(job)
            if job.state_enum != JobState.RUNNING:
                return {}
            try:
                _finish(actor, job, job.result or {}, job.result_link)
            except InvalidTransition:  # another part finished it at the same moment
                db.session.rollback()
                return {}
        db.session.commit()
        return job.result or {}
    except Exception as err:
        _failed(task, actor, job_id, attempts, err, part=True)
        raise


def run_scheduled(task, work: Callable[[Job, Progress], tuple[dict, str]]) -> dict:
    """A scheduled task's run as a job record too (created_by: the schedule), so its failures
    reach the administrators' list like any other job's. Its retries continue the same record."""
    task_id = task.request.id or ""
    job = (db.session.scalar(select(Job).where(Job.task_id == task_id, Job.kind == task.name))
           if task_id else None)
    if job is None:
        job = new_job(task.name, user=system_actor(f"jobs:{task.name}"))
        job.task_id = task_id
        db.session.commit()
    return run(task, job.id, work)


# --- jobs whose worker is gone -----------------------------------------------------------------
# A worker killed with its job (kill -9, an out-of-memory kill, a machine lost) leaves the job
# "running" and its message unacknowledged; the broker hands that message out again only after
# its visibility timeout (hours: it must outlast the longest job and a retry's countdown). The
# schedule's sweep (core.recover_stalled_jobs, every few minutes) notices sooner: a job not heard
# of for JOBS_STALE_SECONDS whose task no live worker holds is queued again and sent again. Its
# work was one transaction, rolled back with the worker, so it starts over; a job whose work had
# split into parts (InParts) has its parts still to do sent again, worked out from the data. The
# late redelivery, when it comes, finds the job done (or running, and heard of) and is dropped.

#: job kind -> the parts still to do of one of its jobs, from the data (InParts.parts may be
#: empty: one empty part is sent, which finds nothing left and finishes the job)
RESUMERS: dict[str, Callable[[Job], InParts]] = {}
#: the longest a failed attempt waits for its next one (the tasks' retry_backoff_max)
RETRY_WAIT_MAX = timedelta(seconds=1800)


def resumable(kind: str, parts_left: Callable[[Job], InParts]) -> None:
    """Register how a job of `kind` whose work split into parts finds the parts still to do."""
    RESUMERS[kind] = parts_left


@predicate
def can_recover_jobs(user, **_) -> bool:
    return bool(user and user.is_authenticated and user.role == "admin")


def _held_by_workers() -> set[str]:
    """The task ids the live workers are running, have taken, or hold for later (a retry's
    countdown): Celery's remote control asks every worker, waiting JOBS_INSPECT_SECONDS."""
    if current_app.config.get("JOBS_EAGER"):
        return set()  # no workers: tasks run where they are sent
    inspect = current_app.extensions["celery"].control.inspect(
        timeout=current_app.config.get("JOBS_INSPECT_SECONDS", 1.0))
    held: set[str] = set()
    for ask in (inspect.active, inspect.reserved, inspect.scheduled):
        for tasks in (ask() or {}).values():
            for task in tasks:
                held.add((task.get("request") or task).get("id") or "")
    return held


def _send(job: Job, parts: InParts | None = None) -> None:
    tasks = current_app.extensions["celery"].tasks
    if parts is not None:
        for part in parts.parts or [[]]:
            tasks[parts.task].apply_async(args=[job.id, part])
        return
    task = tasks[job.kind]
    # a scheduled task finds its job by its task id (run_scheduled); the others are given it
    takes_job = "job_id" in inspect_signature(task.run).parameters
    task.apply_async(args=[job.id] if takes_job else [], task_id=job.task_id or None)


def recover_stalled(actor) -> dict:
    """Queue again, and send again, each job whose worker is gone: running (or waiting to be
    retried) and not heard of for long enough, and held by no live worker. A job that has lost
    its worker LOST_ATTEMPTS times is given up (it may be what kills them)."""
    authorize(actor, can_recover_jobs)
    now = utc_now()
    stale = timedelta(seconds=current_app.config.get("JOBS_STALE_SECONDS", 600))
    running, retrying = JobState.RUNNING.value, JobState.RETRYING.value
    candidates = list(db.session.scalars(select(Job).where(
        ((Job.state == running) & (Job.updated_at < now - stale))
        | ((Job.state == retrying) & (Job.updated_at < now - stale - RETRY_WAIT_MAX)))
        .order_by(Job.id)))
    done: dict[str, list[int]] = {"recovered": [], "resumed": [], "failed": [], "left": []}
    if not candidates:
        return done
    held = _held_by_workers()
    for job in candidates:
        if job.task_id and job.task_id in held:
            continue  # a live worker has it: slow, not lost
        try:
            outcome, parts = _take_up(actor, job, now)
        except InvalidTransition:  # a worker moved it meanwhile: it is not lost
            db.session.rollback()
            continue
        done[outcome].append(job.id)
        if outcome == "left":
            continue
        db.session.commit()  # the worker must find the job queued (or its parts' ids)
        log.warning("job %s (%s): its worker is gone; %s", job.id, job.kind, outcome)
        if outcome != "failed":
            _send(job, parts)
    return done


#: a job whose worker has been lost this many times is given up, not started again
LOST_ATTEMPTS = 3


def _take_up(actor, job: Job, now: datetime) -> tuple[str, InParts | None]:
    """Move a lost job: its parts still to do sent again ("resumed"), queued to start over
    ("recovered"), given up ("failed"), or left as it is ("left")."""
    reason = "worker-lost"
    if job.state_enum == JobState.RUNNING and job.result is not None:
        # its work committed and split into parts: never start that work over
        if job.kind not in RESUMERS:
            log.error("job %s (%s) stalled in its parts and cannot be resumed", job.id,
                      job.kind)
            return "left", None
        parts = RESUMERS[job.kind](job)
        JOB.apply(actor, job, JobAction.RESUME, values={"updated_at": now}, reason=reason,
                  parts=len(parts.parts))
        return "resumed", parts
    if job.state_enum == JobState.RUNNING and job.attempts >= LOST_ATTEMPTS:
        # in the starter's language, as the work's own messages are (job.locale)
        with force_locale(job.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            error = _("Its worker stopped during each of its %(n)d attempts, so it was given "
                      "up.", n=job.attempts)
        JOB.apply(actor, job, JobAction.FAIL, values={"error": error, "updated_at": now},
                  reason=reason)
        notifications.notify(job.created_by_id, "job.failed", f"/jobs/{job.id}",
                             title=title_of(job), error=error)
        return "failed", None
    JOB.apply(actor, job, JobAction.RECOVER, values={"updated_at": now}, reason=reason)
    return "recovered", None


# --- exports as jobs -------------------------------------------------------------------------
# An export whose rows pass EXPORT_JOB_ROWS is made by a worker from the same service call as
# the direct download, as the user who asked (their scope decides the rows); the file is kept
# as a JobOutput and the job page links to it.


#: the stage an export job reports under its bar
EXPORT_STAGES = {"export": _l("Writing the spreadsheet")}


def export_job_rows() -> int:
    """Past this many rows an export is made by a job (config EXPORT_JOB_ROWS)."""
    return int(current_app.config.get("EXPORT_JOB_ROWS", 5000))


@dataclass(frozen=True)
class ExportNeedsJob:
    """An export past EXPORT_JOB_ROWS asked for by a link (GET): the page asks the user to
    start its job with a button (POST), so following or prefetching a link never starts work."""

    rows: int


def start_export(kind: str, actor, params: dict, *, rows: int, locale: str = "") -> Job:
    """A queued export job for `actor` (the package's service has authorised the export);
    jobs.submit starts it."""
    return new_job(kind, user=actor, locale=locale,
                   params={**params, "rows": rows, "scope": scope_of(actor)})


def check_requester(job: Job, user) -> None:
    """The export runs as the user who asked: still enabled and with the same scope, or it is
    refused: the job fails and says so."""
    from lms.core.errors import PermissionDenied

    if (user is None or not getattr(user, "is_active", False)
            or user.id != job.created_by_id or scope_of(user) != (job.params or {}).get("scope")):
        raise PermissionDenied(_l("The account that asked for this export has changed; ask for "
                                  "it again."))


def keep_output(job: Job, data: bytes, filename: str, mimetype: str) -> str:
    """Store the job's file; the job's page, which links to it, is the job's result."""
    db.session.merge(JobOutput(job_id=job.id, filename=filename[:200], mimetype=mimetype[:120],
                               data=data))
    db.session.flush()
    return f"/jobs/{job.id}"


def has_output(job: Job) -> bool:
    return job.state_enum == JobState.DONE and db.session.scalar(
        select(JobOutput.job_id).where(JobOutput.job_id == job.id)) is not None


def output_of(actor, job: Job) -> JobOutput:
    """The file of a finished job, for the user who asked; LookupError when there is none (not
    done, or purged)."""
    authorize(actor, can_download_job_output, job=job)
    output = db.session.get(JobOutput, job.id) if job.state_enum == JobState.DONE else None
    if output is None:
        raise LookupError(job.id)
    return output


def status(actor, job: Job) -> dict:
    """What the job page polls: state, progress, message, and where the result is."""
    authorize(actor, can_see_job, job=job)
    state = job.state_enum
    download = (f"/jobs/{job.id}/download"
                if can_download_job_output(actor, job=job) and has_output(job) else "")
    return {"download": download, "id": job.id, "state": state.value, "state_title": str(state.title),
            "finished": state.finished, "done": job.progress_done, "total": job.progress_total,
            "percent": job.percent, "message": job.message,
            "result_link": job.result_link if state == JobState.DONE else "",
            "error": job.error if state.finished else "",
            "attempts": job.attempts}


def failed_jobs(actor, limit: int = 200) -> list[Job]:
    """Jobs that gave up, newest first: what an administrator looks into."""
    authorize(actor, can_see_failed_jobs)
    return list(db.session.scalars(select(Job).where(Job.state == JobState.FAILED.value)
                                   .order_by(Job.updated_at.desc(), Job.id.desc()).limit(limit)))


def error_trace(err: BaseException) -> str:
    return "".join(traceback.format_exception(err))[-4000:]
