"""Benchmark: importing a large staff roster (花名册) from .xlsx.

Not a pytest test (pytest ignores tests/bench). Run from the project root:

    .venv/bin/python tests/bench/bench_roster.py [--rows 100000]

It builds a fresh SQLite database through the migrations in a temporary folder (or uses
DATABASE_URL, e.g. a PostgreSQL database, which must hold no persons yet), writes a roster of
N valid rows with xlsxwriter (text-formatted identity and mobile columns, realistic names,
unique identity numbers and mobiles), then times separately:

  (a) the file check         lms.core.excel.inspect_xlsx
  (b) reading the rows       lms.core.excel.read_rows (it runs the check again, then calamine)
  (c) the whole import       lms.registry.roster.import_roster (check + read + validate +
                             store) followed by db.session.commit()

and compares (c) with baselines measured in the same run: reading the same file with openpyxl
in read-only mode (the obvious naive approach, which stores nothing), and a plain executemany
INSERT of the same rows into a scratch table. The 10-second target is printed, not asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET_SECONDS = 10.0
#: the Redis database a --job worker run uses (flushed)
BROKER = os.environ.get("BENCH_BROKER", "redis://127.0.0.1:6379/10")


def _prepare_environment(workdir: Path) -> str:
    """Environment the app reads at import time; returns the database URL."""
    os.environ["LMS_INSTANCE_PATH"] = str(workdir / "instance")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("LMS_COOKIE_SECURE", "0")
    os.environ.setdefault("LMS_DEFAULT_LOCALE", "en")  # messages printed by the bench
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'bench.sqlite3'}"


def server_cpu_s() -> float | None:
    """CPU time (user + system) of every PostgreSQL server process on this machine so far, in
    seconds, or None where /proc cannot tell (not Linux). The bench's connections stay open in
    the pool, so the difference over the import is the server's work for it (and its
    background writers')."""
    tick = os.sysconf("SC_CLK_TCK")
    total, found = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended meanwhile
            continue
        name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:]
        if name.startswith("postgres"):
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
            found = True
    return total / tick if found else None


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux (bytes on macOS)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# --- the roster -------------------------------------------------------------------------------

POSTS = [("保育员", 50), ("育婴员", 20), ("幼教人员", 8), ("卫生保健员", 6), ("保安员", 5),
         ("专业医务人员", 3), ("财务人员", 3), ("食品安全管理人员", 3), ("专职负责人", 2)]
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                   "152", "155", "157", "158", "159", "166", "177", "180", "181", "182", "186",
                   "187", "188", "189", "191", "198", "199"]


def make_rows(n: int, seed: int, no_mobile: float = 0.03) -> list[list]:
    """n valid staff rows, one person each: unique identity numbers and mobiles."""
    from stdnum.cn import ric

    from lms.demo_names import (
        BIRTHPLACES,
        COMPOUND_SURNAMES,
        FEMALE_GIVEN_OLDER,
        FEMALE_GIVEN_YOUNGER,
        MALE_GIVEN,
        SURNAMES,
    )

    rnd = random.Random(seed)
    surnames, surname_weights = zip(*SURNAMES, strict=True)
    regions, region_weights = zip(*BIRTHPLACES, strict=True)
    posts, post_weights = zip(*POSTS, strict=True)
    first_birth, last_birth = date(1968, 1, 1), date(2002, 12, 31)
    birth_span = (last_birth - first_birth).days
    first_start, last_start = date(2018, 1, 1), date(2025, 6, 30)
    numbers: set[str] = set()
    mobiles: set[str] = set()
    rows = []
    while len(rows) < n:
        born = first_birth + timedelta(days=rnd.randrange(birth_span))
        male = rnd.random() < 0.12  # childcare staff are mostly women
        seq = rnd.randrange(100) * 10 + rnd.choice((1, 3, 5, 7, 9) if male else (0, 2, 4, 6, 8))
        body = f"{rnd.choices(regions, region_weights)[0]}{born:%Y%m%d}{seq:03d}"
        number = body + ric.calc_check_digit(body + "0")
        if number in numbers:
            continue
        numbers.add(number)
        if rnd.random() < 0.01:
            surname = rnd.choice(COMPOUND_SURNAMES)
        else:
            surname = rnd.choices(surnames, surname_weights)[0]
        given = rnd.choice(MALE_GIVEN if male else
                           FEMALE_GIVEN_OLDER if born.year < 1985 else FEMALE_GIVEN_YOUNGER)
        mobile = ""
        if rnd.random() >= no_mobile:  # a few staff give no mobile
            while not mobile or mobile in mobiles:
                mobile = rnd.choice(MOBILE_PREFIXES) + f"{rnd.randrange(10 ** 8):08d}"
            mobiles.add(mobile)
        post = rnd.choices(posts, post_weights)[0]
        earliest = max(first_start, date(born.year + 18, born.month, min(born.day, 28)))
        start = earliest + timedelta(days=rnd.randrange((last_start - earliest).days + 1))
        manager = "是" if post == "专职负责人" or rnd.random() < 0.01 else "否"
        rows.append([surname + given, number, mobile, post, start, manager])
    return rows


def write_roster(rows: list[list]) -> bytes:
    """The roster as an institution fills in the template: ID and mobile columns as text;
    start dates half as date cells and half typed as YYYY-MM-DD text."""
    import xlsxwriter

    from lms.registry.roster import COLUMNS

    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True, "constant_memory": True,
                                         "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    text = workbook.add_format({"num_format": "@"})
    day = workbook.add_format({"num_format": "yyyy-mm-dd"})
    bold = workbook.add_format({"bold": True})
    sheet = workbook.add_worksheet("花名册")
    sheet.set_column(1, 2, 20, text)
    for col, names in enumerate(COLUMNS.values()):
        sheet.write_string(0, col, names[0], bold)
    for r, (name, number, mobile, post, start, manager) in enumerate(rows, start=1):
        sheet.write_string(r, 0, name)
        sheet.write_string(r, 1, number, text)
        if mobile:
            sheet.write_string(r, 2, mobile, text)
        sheet.write_string(r, 3, post)
        if r % 2:
            sheet.write_datetime(r, 4, start, day)
        else:
            sheet.write_string(r, 4, start.isoformat())
        sheet.write_string(r, 5, manager)
    workbook.close()
    return out.getvalue()


# --- the database -------------------------------------------------------------------------------


def setup_database(url: str, job: str = ""):
    """App + migrated schema + one district and institution. Returns (app, ctx, org). With
    `job` "eager" the app runs jobs in this process; "worker", on Redis (BROKER)."""
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from lms import create_app
    from lms.core.actors import SystemActor
    from lms.core.models import District
    from lms.extensions import db
    from lms.registry.models import Organisation, Person
    from lms.registry.service import create_organisation, ensure_reference_data
    from tests.factories import credit_code

    config = {"SQLALCHEMY_DATABASE_URI": url}
    if job:
        config.update(JOBS_EAGER=job == "eager", CELERY_BROKER_URL=BROKER)
    app = create_app(config)
    ctx = app.app_context()
    ctx.push()
    upgrade()
    ensure_reference_data()
    if db.session.scalar(select(func.count()).select_from(Person)):
        sys.exit("bench: the database already holds persons; point DATABASE_URL at an empty "
                 "database (the roster's identity numbers must be new)")
    district = db.session.scalar(select(District).where(District.code == "320104"))
    if district is None:
        district = District(code="320104", name="秦淮区", city="南京市")
        db.session.add(district)
        db.session.flush()
    n = 900
    while db.session.scalar(select(Organisation.id).where(
            Organisation.credit_code == credit_code(n))):
        n += 1
    org = create_organisation(SystemActor("bench"), kind="institution", name=f"压力测试托育中心{n}",
                              district=district, credit_code=credit_code(n),
                              filing_no=f"BENCH-{n}")
    db.session.commit()
    return app, ctx, org


def baseline_openpyxl(data: bytes) -> tuple[float, int]:
    import openpyxl

    started = time.perf_counter()
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    count = sum(1 for _ in workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    return time.perf_counter() - started, count


def baseline_executemany(rows: list[list]) -> float:
    """One executemany INSERT of the same rows into a scratch table, then commit."""
    from sqlalchemy import text

    from lms.extensions import db

    db.session.execute(text("DROP TABLE IF EXISTS bench_scratch"))
    db.session.execute(text(
        "CREATE TABLE bench_scratch (id_number VARCHAR(18) PRIMARY KEY, name VARCHAR(60), "
        "mobile VARCHAR(11), post VARCHAR(20), start_date DATE, manager BOOLEAN)"))
    db.session.commit()
    params = [{"n": r[1], "name": r[0], "m": r[2] or None, "p": r[3], "s": r[4],
               "d": r[5] == "是"} for r in rows]
    started = time.perf_counter()
    db.session.execute(text("INSERT INTO bench_scratch VALUES (:n, :name, :m, :p, :s, :d)"),
                       params)
    db.session.commit()
    elapsed = time.perf_counter() - started
    db.session.execute(text("DROP TABLE bench_scratch"))
    db.session.commit()
    return elapsed


# --- the import as a job ---------------------------------------------------------------------------


def run_as_job(mode: str, org, data: bytes, last_call: dict) -> tuple[str, float, float, float]:
    """The page's path: `start_import` stores the file with a job record, `jobs.submit`
    commits and sends the task; it is run here (eager) or by a worker process. Returns the
    import's batch id, the time `start_import` was called (a worker is started and answering
    before that: its start-up is not the job's time) with this process's CPU time then, and
    the time the job was seen done. In this process the job's progress calls give the stage
    times."""
    import subprocess

    from lms.core import jobs
    from lms.core.actors import SystemActor
    from lms.extensions import db
    from lms.registry import roster

    worker = None
    if mode == "eager":
        real_call = jobs.Progress.__call__

        def timed(self, stage, done, total):
            last_call.setdefault("job", time.perf_counter())
            last_call[stage] = time.perf_counter()
            return real_call(self, stage, done, total)

        jobs.Progress.__call__ = timed
        # what a worker has loaded before its first job (Celery's tracer, the broker's and the
        # result backend's modules, 0.3 s of imports): loaded now, not timed as the job's
        import celery.app.trace  # noqa: F401
        from flask import current_app

        celery_app = current_app.extensions["celery"]
        celery_app.amqp.producer_pool  # noqa: B018
        celery_app.backend  # noqa: B018
    else:
        import redis

        redis.Redis.from_url(BROKER).flushdb()
        env = {**os.environ, "DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
               "CELERY_BROKER_URL": BROKER, "LMS_JOBS_EAGER": "0"}
        worker = subprocess.Popen(  # noqa: S603
            [str(Path(sys.executable).with_name("celery")), "-A", "wsgi.celery_app", "worker",
             "--pool", "solo", "--without-heartbeat", "--without-mingle", "--without-gossip",
             "--loglevel", "WARNING"], env=env, cwd=ROOT, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from flask import current_app

        celery_app = current_app.extensions["celery"]
        deadline = time.time() + 120
        while not celery_app.control.ping(timeout=1.0):
            if worker.poll() is not None or time.time() > deadline:
                raise RuntimeError("the worker did not start")
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        job = roster.start_import(SystemActor("bench"), org, data, locale="en")
        job = jobs.submit(job)
        job_id = job.id
        while not job.state_enum.finished:
            time.sleep(0.1)
            db.session.rollback()
            db.session.expire_all()
            job = db.session.get(jobs.Job, job_id)
        done = time.perf_counter()
        if job.state != "done" or not (job.result or {}).get("ok"):
            sys.exit(f"the import job {job.state}: {job.error or job.result}")
        return job.result["batch_id"], started, cpu_started, done
    finally:
        if worker is not None:
            import signal

            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20250901)
    parser.add_argument("--no-mobile", type=float, default=0.03, metavar="SHARE",
                        help="share of rows with an empty mobile cell (default 0.03)")
    parser.add_argument("--profile", action="store_true", help="print where the import spends time")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--job", choices=("eager", "worker"), default="",
                        help="import through the job path: the file stored with a job record "
                             "and the task run on it, in this process (eager) or on a real Celery "
                             f"worker (worker; Redis {BROKER}, flushed)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-roster-"))
    url = _prepare_environment(workdir)

    from sqlalchemy import func, select

    from lms.auth.models import User
    from lms.core.actors import SystemActor
    from lms.core.excel import inspect_xlsx, read_rows
    from lms.extensions import db
    from lms.registry.models import Employment, Person
    from lms.registry.roster import import_roster

    print(f"database: {url.split('@')[-1] if '@' in url else url}")
    _app, ctx, org = setup_database(url, args.job)

    started = time.perf_counter()
    rows = make_rows(args.rows, args.seed, args.no_mobile)
    data = write_roster(rows)
    generate_s = time.perf_counter() - started
    print(f"generated {len(rows)} rows ({sum(not r[2] for r in rows)} without a mobile), "
          f"{len(data) / 1e6:.1f} MB, in {generate_s:.1f} s")

    started = time.perf_counter()
    inspect_xlsx(data)
    check_s = time.perf_counter() - started

    started = time.perf_counter()
    read = read_rows(data)
    read_s = time.perf_counter() - started
    assert len(read) == len(rows) + 1, len(read)
    del read

    last_call: dict[str, float] = {}  # stage -> time of its latest progress call

    def progress(stage: str, done: int, total: int) -> None:
        last_call[stage] = time.perf_counter()

    server_started = server_cpu_s()
    started = time.perf_counter()
    cpu_started = time.process_time()
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    if args.job:
        batch_id, started, cpu_started, call_done = run_as_job(args.job, org, data, last_call)
        finished = call_done
    else:
        result = import_roster(SystemActor("bench"), org, data, progress=progress)
        call_done = time.perf_counter()
        if not result.ok:
            for e in result.errors[:20]:
                print(f"row {e.row} [{e.column}]: {e.message}")
            print(f"{len(result.errors)} problems: nothing imported")
            return 1
        batch_id = result.batch_id
        db.session.commit()
        finished = time.perf_counter()
    # this process's CPU time over the import: Python's own work and the driver's, not the
    # database server's (on a worker, only the polling)
    cpu_s = time.process_time() - cpu_started
    server_ended = server_cpu_s()
    server_s = (server_ended - server_started
                if server_started is not None and server_ended is not None else None)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(30)
    import_s = finished - started
    rss_after_import = peak_rss_mb()

    stored = tuple(db.session.scalar(select(func.count()).select_from(model).where(cond))
                   for model, cond in ((Person, Person.id.is_not(None)),
                                       (Employment, Employment.import_batch == batch_id),
                                       (User, User.person_id.is_not(None))))
    assert stored[1] == len(rows), stored

    openpyxl_s, openpyxl_rows = baseline_openpyxl(data)
    assert openpyxl_rows == len(rows) + 1
    executemany_s = baseline_executemany(rows)

    # stage boundaries from the progress callback: the reading ends with its last "read"
    # call, validation with its last "validate" call (the final one), the database checks
    # with "check"; storing runs from there to the end of the call
    breakdown = []
    if {"read", "check"} <= set(last_call):
        # the rows are checked chunk by chunk against the registry (the stages take turns); on
        # PostgreSQL threads write the chunks checked before meanwhile, on SQLite the store
        # follows
        pipelined = db.engine.dialect.name == "postgresql"
        boundaries = [("read (check + calamine)", last_call.get("job", started), last_call["read"]),
                      ("checked in chunks, stored meanwhile" if pipelined else
                       "checked in chunks", last_call["read"], last_call["check"]),
                      ("store: chunks left, the rest, commit" if pipelined and args.job else
                       "store: chunks left, the rest" if pipelined else "store (insert + audit)",
                       last_call["check"], call_done)]
        if "job" in last_call:
            boundaries.insert(0, ("job: file stored, task started", started, last_call["job"]))
        breakdown = [(label, end - begin) for label, begin, end in boundaries]
        if not args.job:
            breakdown.append(("commit", finished - call_done))

    n = len(rows)
    width = 44
    print()
    print(f"{'rows':<{width}}{n:>12,}")
    print(f"{'file size':<{width}}{len(data) / 1e6:>11.1f}M")
    print(f"{'stored: persons / employments / accounts':<{width}}"
          f"{stored[0]:>7,} / {stored[1]:,} / {stored[2]:,}")
    print()
    print(f"{'phase':<{width}}{'seconds':>12}{'rows/s':>12}")
    print("-" * (width + 24))

    def line(label: str, seconds: float) -> None:
        print(f"{label:<{width}}{seconds:>12.2f}{n / seconds if seconds else 0:>12,.0f}")

    line("(a) file check: inspect_xlsx", check_s)
    line("(b) read_rows (check + calamine)", read_s)
    line({"": "(c) import_roster + commit (everything)",
          "eager": "(c) the import as a job, in this process",
          "worker": "(c) the import as a job, on a worker"}[args.job], import_s)
    for label, seconds in breakdown:
        line(f"      {label}", seconds)
    print("-" * (width + 24))
    line("baseline: openpyxl read-only, read only", openpyxl_s)
    line("baseline: executemany INSERT, 1 table", executemany_s)
    print()
    what = "the job" if args.job else "import"
    print(f"{what} is {import_s / openpyxl_s:.2f}x the baseline (openpyxl read-only read of the "
          f"same file, which validates and stores nothing)"
          + (f"; target <= 1x: {'met' if import_s <= openpyxl_s else 'NOT met'}"
             if args.job else ""))
    if args.job != "worker" and db.engine.dialect.name != "sqlite":
        # no arrangement of the database's work beside Python's (a pipeline, threads) can make
        # the import faster than its Python part alone in one process (SQLite's work is done
        # in this process: its CPU time holds both, so it is not printed there)
        print(f"{what}'s CPU time in this process (Python and the driver, not the database "
              f"server): {cpu_s:.2f} s, {cpu_s / openpyxl_s:.2f}x the baseline; the rest, "
              f"{max(import_s - cpu_s, 0):.2f} s, is spent waiting on the database")
    if args.job == "eager" and server_s is not None and db.engine.dialect.name != "sqlite":
        # this process's work and the server's share the machine's cores: no overlap of the
        # two can end the import sooner than their sum spread evenly over every core
        cores = os.cpu_count() or 1
        floor_s = (cpu_s + server_s) / cores
        print(f"the database server's CPU time meanwhile: {server_s:.2f} s; with this "
              f"process's, {cpu_s + server_s:.2f} s on {cores} cores: the job cannot take less "
              f"than {floor_s:.2f} s here, {floor_s / openpyxl_s:.2f}x the baseline")
    print(f"import is {import_s / executemany_s:.1f}x a plain executemany INSERT of the same "
          f"rows into one table")
    verdict = "UNDER" if import_s < TARGET_SECONDS else "OVER"
    print(f"whole import {import_s:.2f} s: {verdict} the {TARGET_SECONDS:.0f}-second target")
    print(f"peak RSS after the import: {rss_after_import:.0f} MB "
          f"(includes the generated rows and file); at the end: {peak_rss_mb():.0f} MB")

    db.session.remove()
    ctx.pop()
    if args.keep:
        print(f"kept {workdir}")
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
