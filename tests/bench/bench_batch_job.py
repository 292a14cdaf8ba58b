"""Benchmark: the certificate batch of 1,000 as a job on real Celery workers, one worker process
and then two, while the web serves ordinary pages.

Not a pytest test. Run from the project root:

    .venv/bin/python tests/bench/bench_batch_job.py                     # temporary SQLite
    DATABASE_URL=postgresql+psycopg://… .venv/bin/python tests/bench/bench_batch_job.py
    make bench-batch                                                    # PostgreSQL via scripts/pgtest.sh

It migrates a fresh database (DATABASE_URL, which must be empty, else a SQLite file in a
temporary folder), registers COUNT caregivers who passed one exam sitting at a training base
(and one more, already certified, whose verification page the web sampler reads), and copies
that database once per run, so both runs start from the same state. For each run it starts a
real Celery worker against Redis (database 10 of 127.0.0.1:6379 by default, flushed first) —
`--concurrency 1`, then `--concurrency 2` — submits the batch through the service a base's
page calls (`start_issue_batch` + `jobs.submit`) and times it, submit to the job's "done",
with the time the issuing took (the job's stage changing to the PDFs). The speed-up of two
worker processes over one is printed (target ≥ 1.9×, not asserted).

Meanwhile gunicorn serves the app (2 workers × 2 threads) on the run's database, and one
client loads ordinary pages (the sign-in page and a certificate's public verification page,
alternately, at a steady rate, each from an address of its own as a city's visitors are, behind
one proxy): first idle, before the worker starts, then during the
two-process batch; p50/p99 of each and the ratio during/idle are printed (target p99 ≤ 2×).
The worker runs at `nice` 10 (`--nice`), as docs/deploy/lms-worker.service runs it: batch work
gives way to the web on a busy machine.

Every process it starts (workers, wkhtmltopdf, gunicorn) is stopped on exit, and the copies of
the database are dropped.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
CELERY = str(Path(PY).with_name("celery"))
GUNICORN = str(Path(PY).with_name("gunicorn"))

#: every process group started here, stopped on exit whatever happens
STARTED: list[subprocess.Popen] = []


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)


def stop_all() -> None:
    while STARTED:
        stop(STARTED.pop())


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,  # noqa: S603
                            stderr=open(log, "ab"), start_new_session=True)  # noqa: SIM115
    STARTED.append(proc)
    return proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the database --------------------------------------------------------------------------------


def seed(count: int) -> dict:
    """Migrate and register COUNT candidates who passed one sitting; returns ids the runs use."""
    from datetime import date, datetime, timedelta
    from decimal import Decimal

    from flask_migrate import upgrade
    from sqlalchemy import func, select
    from werkzeug.security import generate_password_hash

    from lms import create_app
    from lms.auth.models import User
    from lms.catalog.exam_bank import import_exam_banks
    from lms.catalog.service import course_by_code, import_courses
    from lms.certificates import service as certificates
    from lms.core.actors import SystemActor
    from lms.core.clock import local_today, utc_now
    from lms.core.models import District
    from lms.exams import service as exams
    from lms.extensions import db
    from lms.learning.models import Enrolment
    from lms.registry import service as registry
    from lms.registry.models import Person, QualificationType
    from tests.conftest import FIXTURE_COURSES, FIXTURE_EXAM_BANK
    from tests.factories import credit_code, id_number
    from tests.factories import venue as base_venue

    app = create_app({"JOBS_EAGER": True})
    with app.app_context():
        upgrade()
        if db.session.scalar(select(func.count()).select_from(Person)):
            sys.exit("bench: the database already holds persons; point DATABASE_URL at an empty one")
        registry.ensure_reference_data()
        bench = SystemActor("bench")
        # the tests' small course and its 保育师 exam bank (the shipped courses have no bank)
        import_courses(bench, FIXTURE_COURSES)
        import_exam_banks(bench, FIXTURE_EXAM_BANK)
        district = District(code="320102", name="玄武区", city="南京市")
        db.session.add(district)
        db.session.flush()
        inst = registry.create_organisation(bench, kind="institution", name="基准托育园",
                                            district=district, credit_code=credit_code(1),
                                            filing_no="B-1")
        base = registry.create_organisation(bench, kind="training_base", name="基准实训基地",
                                            district=district, credit_code=credit_code(2))
        staff = User(username="examiner", display_name="考评员", role="base_staff",
                     organisation_id=base.id, must_change_password=False,
                     password_hash=generate_password_hash("bench-Pass1",
                                                          method="pbkdf2:sha256:1000"))
        db.session.add(staff)
        db.session.flush()
        qtype = db.session.scalar(select(QualificationType)
                                  .where(QualificationType.code == "baoyushi"))
        course = course_by_code("TT-101")
        starts = datetime.combine(local_today() + timedelta(days=1), datetime.min.time())

        def sitting(room: str):
            return exams.plan_sitting(staff, base, exams.SittingPlan(
                qualification_type=qtype, level=5, venue=base_venue(base, room),
                examiners=[staff], duration_minutes=60, starts_at=starts,
                blueprint={"single": 2}))

        def passed(in_sitting, n: int):
            person = registry.add_staff(
                bench, inst, id_number=id_number("320102", f"{1980 + n // 900}0101", n % 900 + 1),
                name="学员" + "甲乙丙丁戊己庚辛壬癸"[n % 10] + "子丑寅卯辰巳午未申酉"[n // 10 % 10],
                post="nursery_carer", start_date=date(2025, 1, 1)).employment.person
            db.session.add(Enrolment(person_id=person.id, course_id=course.id,
                                     completed_at=utc_now()))
            registration = exams.register(staff, in_sitting, person)
            registration.theory_score = Decimal(90)
            exams.enter_practical(staff, registration, "90",
                                  now=in_sitting.starts_at + timedelta(minutes=1))
            return registration

        batch = sitting("考场一")
        started = time.perf_counter()
        ids = []
        for n in range(count):
            ids.append(passed(batch, n).id)
            if n % 200 == 199:
                db.session.flush()
                print(f"  {n + 1} candidates registered ({time.perf_counter() - started:.0f} s)",
                      flush=True)
        # one caregiver certified already: the web sampler reads its verification page
        shown = certificates.issue(staff, passed(sitting("考场二"), count))
        db.session.commit()
        seeded = {"sitting_id": batch.id, "registration_ids": ids, "staff_id": staff.id,
                  "vcode": shown.verify_code}
        db.session.remove()
        db.engine.dispose()
    return seeded


class Database:
    """The seeded database and its copies, one per run (PostgreSQL: CREATE DATABASE … TEMPLATE;
    SQLite: a copy of the file)."""

    def __init__(self, url: str):
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        self.copies: list[str] = []

    def copy(self, suffix: str) -> str:
        if self.url.get_backend_name() == "sqlite":
            target = Path(self.url.database).with_name(f"run-{suffix}.sqlite3")
            shutil.copyfile(self.url.database, target)
            self.copies.append(str(target))
            return self.url.set(database=str(target)).render_as_string(hide_password=False)
        name = f"{self.url.database}_{suffix}"
        self._admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}" TEMPLATE '
                    f'"{self.url.database}"')
        self.copies.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_copies(self) -> None:
        for copy in self.copies:
            if self.url.get_backend_name() == "sqlite":
                Path(copy).unlink(missing_ok=True)
            else:
                self._admin(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        self.copies.clear()

    def _admin(self, *statements: str) -> None:
        import psycopg

        url = self.url.set(drivername="postgresql", database="postgres")
        with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)


# --- the web sampler -----------------------------------------------------------------------------


class Sampler(threading.Thread):
    """One client loading ordinary pages at a steady rate; latencies in ms."""

    def __init__(self, port: int, paths: list[str], rate: float):
        super().__init__(daemon=True)
        self.port, self.paths, self.interval = port, paths, 1 / rate
        self.latencies: list[float] = []
        self.failures = 0
        self.statuses: dict[int, int] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        n = 0
        due = time.perf_counter()
        while not self.halt.is_set():
            path = self.paths[n % len(self.paths)]
            n += 1
            started = time.perf_counter()
            try:
                # a city's visitors come from many addresses (the limiter counts per address)
                conn.request("GET", path, headers={
                    "X-Forwarded-For": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    self.failures += 1
                    self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
            except (OSError, http.client.HTTPException):
                self.failures += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.latencies.append((time.perf_counter() - started) * 1000)
            due += self.interval
            time.sleep(max(0.0, due - time.perf_counter()))
        conn.close()

    def stop(self) -> None:
        self.halt.set()
        self.join(60)

    def figures(self) -> tuple[float, float, int]:
        values = sorted(self.latencies)
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        return statistics.median(values), p99, len(values)


def serve(env: dict, workdir: Path) -> int:
    port = free_port()
    start([GUNICORN, "-w", "2", "-k", "gthread", "--threads", "2", "-b", f"127.0.0.1:{port}",
           "--log-level", "warning", "--keep-alive", "30", "wsgi:app"], env, workdir / "web.log")
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/login")
            if conn.getresponse().status == 200:
                return port
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not start")


# --- one run -----------------------------------------------------------------------------------


def run_batch(url: str, seeded: dict, concurrency: int, args, workdir: Path,
              sampler: Sampler | None = None) -> dict:
    """Start a worker with this concurrency, submit the batch, wait for it; returns timings."""
    import redis
    from sqlalchemy import func, select

    from lms import create_app
    from lms.auth.models import User
    from lms.certificates import service as certificates
    from lms.certificates.models import Certificate
    from lms.core import jobs
    from lms.exams.models import ExamSitting
    from lms.extensions import db

    redis.Redis.from_url(args.broker).flushdb()
    env = {**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": args.broker,
           "LMS_JOBS_EAGER": "0"}
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "CELERY_BROKER_URL": args.broker,
                      "JOBS_EAGER": False})
    worker = start(["nice", "-n", str(args.nice), CELERY, "-A", "wsgi.celery_app", "worker",
                    "--concurrency", str(concurrency), "--pool", "prefork",
                    "--without-heartbeat", "--without-mingle", "--without-gossip",
                    "--loglevel", "WARNING", "--hostname", f"bench{concurrency}@%h"],
                   env, workdir / f"worker-{concurrency}.log")
    celery_app = app.extensions["celery"]
    deadline = time.time() + 120
    while not celery_app.control.ping(timeout=1.0):
        if worker.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"the worker did not start: see {workdir}/worker-{concurrency}.log")
    if sampler is not None:
        sampler.start()
    load_before = load()
    with app.app_context():
        staff = db.session.get(User, seeded["staff_id"])
        sitting = db.session.get(ExamSitting, seeded["sitting_id"])
        started = time.perf_counter()
        job = certificates.start_issue_batch(staff, sitting, seeded["registration_ids"],
                                             locale="en")
        job = jobs.submit(job)
        job_id, issued_at, last_print = job.id, None, started
        render_stage = str(certificates.BATCH_STAGES["render"])
        while True:
            db.session.expire_all()
            job = db.session.get(jobs.Job, job_id)
            now = time.perf_counter()
            if issued_at is None and job.message == render_stage:
                issued_at = now
            if job.state_enum.finished:
                break
            if now - last_print > 30:
                last_print = now
                print(f"    {now - started:5.0f} s: {job.state}, {job.message or '-'} "
                      f"{job.progress_done}/{job.progress_total} ({load()})", flush=True)
            db.session.rollback()
            time.sleep(0.25)
        seconds = time.perf_counter() - started
        load_after = load()
        if sampler is not None:
            sampler.stop()
        state, result, error = job.state, job.result, job.error
        with_pdf = db.session.scalar(select(func.count()).select_from(Certificate).where(
            Certificate.pdf_version == Certificate.version))
        db.session.remove()
        db.engine.dispose()
    stop(worker, 60)
    STARTED.remove(worker)
    if state != "done":
        raise RuntimeError(f"the batch job {state}: {error}")
    return {"seconds": seconds, "issue": (issued_at or started) - started, "result": result,
            "with_pdf": with_pdf, "load_before": load_before, "load_after": load_after}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="candidates in the batch")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/10",
                        help="a Redis database of its own (flushed)")
    parser.add_argument("--nice", type=int, default=10, help="the workers' niceness")
    parser.add_argument("--rate", type=float, default=10, help="page loads per second sampled")
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-batch-"))
    os.environ.update(LMS_INSTANCE_PATH=str(workdir / "instance"), SECRET_KEY="bench-only-secret",  # noqa: S105
                      LMS_COOKIE_SECURE="0", LMS_DEFAULT_LOCALE="en")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ["CELERY_BROKER_URL"] = args.broker
    sys.path.insert(0, str(ROOT))
    url = os.environ["DATABASE_URL"]
    database = Database(url)

    def on_signal(signum, _frame):
        stop_all()
        database.drop_copies()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        print(f"certificate batch as a job: {args.count} candidates, "
              f"{database.url.get_backend_name()}, {os.cpu_count()} cores, workers at nice "
              f"{args.nice}, Redis {args.broker} ({load()})", flush=True)
        started = time.perf_counter()
        seeded = seed(args.count)
        print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)

        runs = {}
        print("  run 1: one worker process (--concurrency 1)", flush=True)
        runs[1] = run_batch(database.copy("c1"), seeded, 1, args, workdir)
        database.drop_copies()

        url2 = database.copy("c2")
        env = {**os.environ, "DATABASE_URL": url2, "LMS_JOBS_EAGER": "1", "LMS_PROXIES": "1"}
        port = serve(env, workdir)
        paths = ["/login", f"/verify/{seeded['vcode']}"]
        print(f"  web: idle, {args.idle_seconds:.0f} s at {args.rate:.0f} pages/s", flush=True)
        idle = Sampler(port, paths, args.rate)
        idle.start()
        time.sleep(args.idle_seconds)
        idle.stop()
        idle_load = load()
        busy = Sampler(port, paths, args.rate)
        print("  run 2: two worker processes (--concurrency 2), the web sampled meanwhile",
              flush=True)
        runs[2] = run_batch(url2, seeded, 2, args, workdir, sampler=busy)
        stop_all()
        database.drop_copies()

        print()
        print(f"{'':34}{'seconds':>9}{'issuing':>9}{'PDFs/s':>8}  result; load before → after")
        for concurrency, r in runs.items():
            pdfs = r["result"].get("rendered", 0)
            render_s = r["seconds"] - r["issue"]
            print(f"{f'concurrency {concurrency}':34}{r['seconds']:>9.1f}{r['issue']:>9.1f}"
                  f"{pdfs / render_s if render_s else 0:>8.2f}  {r['result']}, "
                  f"{r['with_pdf']} PDFs; {r['load_before']} → {r['load_after']}")
        ratio = runs[1]["seconds"] / runs[2]["seconds"]
        print(f"speed-up, two worker processes over one: {ratio:.2f}x "
              f"(target >= 1.9x: {'met' if ratio >= 1.9 else 'NOT met'})")
        (i50, i99, n_idle), (b50, b99, n_busy) = idle.figures(), busy.figures()
        print("web, ordinary pages (/login, /verify/<code>), p50 / p99:")
        print(f"  idle           {i50:7.1f} / {i99:7.1f} ms  ({n_idle} loads, {idle.failures} "
              f"failed {idle.statuses or ''}; {idle_load})")
        print(f"  during batch   {b50:7.1f} / {b99:7.1f} ms  ({n_busy} loads, {busy.failures} "
              f"failed {busy.statuses or ''})")
        print(f"  p99 during / idle: {b99 / i99:.2f}x (target <= 2x: "
              f"{'met' if b99 / i99 <= 2 else 'NOT met'}); p50: {b50 / i50:.2f}x")
        return 0
    finally:
        stop_all()
        database.drop_copies()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
