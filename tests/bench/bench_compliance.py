"""Benchmark: compliance at province scale, each figure beside a floor measured in the same run.

Not a pytest test. Run from the project root against a generated province (PostgreSQL):

    .venv/bin/python tests/bench/bench_compliance.py --database-url postgresql+psycopg://…/province
    DATABASE_URL=postgresql+psycopg://…/province .venv/bin/python tests/bench/bench_compliance.py \
        [--samples 200] [--clients 20] [--page-requests 20] [--workers 2] [--threads 4]

The database must hold a province built by `flask lms generate-province` with its snapshots
refreshed (`flask compliance refresh --all`); see tests/bench/README.md. The script refuses any
other database. It adds (or reuses) 20 regulator accounts named `bench-regulator-NN`: the first
third city-wide, the rest each in one district of the province. Nothing else is written.

In-process, each call on a fresh session (as a request has), with SAMPLES random subjects:

  1. person compliance by identity number: the Person looked up by its number, then
     `service.person_compliance` (computed from the raw rows). Floor: the bare
     `SELECT … FROM persons WHERE id_number_hash = …` (the number's keyed hash: numbers are
     encrypted) and the person's summary-row lookup.
  2. institution compliance: `service.institution_table` for one institution (its current staff
     with their gaps, from the raw rows). Floor: one aggregate over the institution's summary
     rows (current employments joined to compliance_person_status).
  3. district roll-up: `service.district_table` (the district's institutions from their
     snapshots). Floor: one aggregate over the district's institution snapshots.
  4. the dashboard of a city regulator (`service.dashboard`, from snapshots), and of a district
     regulator. Floor: the bare selects of the snapshot and history rows it shows.

Over HTTP: the app served by gunicorn (gthread) on loopback, CLIENTS threads each signing in as
a different regulator and loading the dashboard page PAGE_REQUESTS times back to back: p50/p99,
beside the same page loaded by one regulator alone (its own time, without the queue).

Targets (printed, not asserted): person < 5 ms p99, institution < 10 ms p99, district roll-up
≤ 200 ms p99, dashboard ≤ 200 ms p99.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
GUNICORN = str(Path(PY).with_name("gunicorn"))
PASSWORD = "bench-Regulator-1"  # noqa: S105 - bench accounts on a synthetic province
HOW_TO_BUILD = """build one first (PostgreSQL; the 1,000,000-person province takes about 17 minutes):
    createdb -h 127.0.0.1 -U postgres province
    export DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/province FLASK_APP=wsgi
    .venv/bin/flask db upgrade && .venv/bin/flask lms init
    .venv/bin/flask lms generate-province            # --persons 50000 --institutions 1000 --districts 20 for a small one
    .venv/bin/flask compliance refresh --all"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the province ------------------------------------------------------------------------------


def check_province(db) -> dict:
    """What the benchmark samples from; exits with how to build a province when there is none."""
    from sqlalchemy import func, inspect, select
    from sqlalchemy.exc import SQLAlchemyError

    from lms.compliance.models import Snapshot
    from lms.core.models import District
    from lms.province import id_number_of
    from lms.registry.models import Organisation, OrgKind, Person

    if db.engine.dialect.name != "postgresql":
        sys.exit(f"bench_compliance runs on PostgreSQL (a province is millions of rows); "
                 f"{db.engine.url.render_as_string(hide_password=True)} is "
                 f"{db.engine.dialect.name}.\n{HOW_TO_BUILD}")
    try:
        tables = set(inspect(db.engine).get_table_names())
    except SQLAlchemyError as exc:
        sys.exit(f"cannot read the database: {exc}\n{HOW_TO_BUILD}")
    if "persons" not in tables:
        sys.exit(f"this database holds no registry at all.\n{HOW_TO_BUILD}")
    if "compliance_snapshots" not in tables:
        sys.exit("this database's schema is older than the compliance tables: run "
                 "`flask db upgrade`, then `flask compliance refresh --all`.")
    if db.session.scalar(select(Person.id).where(Person.id_number == id_number_of(0))) is None:
        sys.exit(f"this database holds no generated province (no person {id_number_of(0)[:6]}…).\n"
                 f"{HOW_TO_BUILD}")
    if db.session.scalar(select(Snapshot.id).where(Snapshot.scope == "city")) is None:
        sys.exit("the province's compliance snapshots were never computed: run "
                 "`flask compliance refresh --all` first.")
    institutions = list(db.session.scalars(select(Organisation.id).where(
        Organisation.kind == OrgKind.INSTITUTION.value, Organisation.filing_no.startswith("GEN-"))))
    districts = list(db.session.scalars(select(District.id).where(District.city == "样例市")))
    persons = db.session.scalar(select(func.count()).select_from(Person))
    return {"institutions": institutions, "districts": districts, "persons": persons}


def ensure_regulators(db, districts: list[int], count: int) -> list[tuple[str, int | None]]:
    """COUNT regulator accounts (the first third city-wide, the others one district each), with
    a known password and a fresh grace period for the second factor; [(username, district)]."""
    from sqlalchemy import select
    from werkzeug.security import generate_password_hash

    from lms.auth.models import Role, User
    from lms.core.clock import utc_now

    hashed = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    city = max(1, count // 3)
    out = []
    for n in range(count):
        username = f"bench-regulator-{n:02d}"
        district_id = None if n < city else districts[(n - city) * 7 % len(districts)]
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, display_name=f"基准监管员{n:02d}", role=Role.REGULATOR.value)
            db.session.add(user)
        user.role, user.district_id, user.password_hash = Role.REGULATOR.value, district_id, hashed
        user.must_change_password, user.is_enabled, user.locale = False, True, "en"
        user.failed_logins, user.locked_until, user.second_factor_since = 0, None, utc_now()
        out.append((username, district_id))
    db.session.commit()
    return out


# --- in process ----------------------------------------------------------------------------------


def timed(app, db, call, samples: int, warm: int = 10) -> list[float]:
    """Milliseconds of `call(rng_pick)` over fresh sessions; `call` does its own set-up before
    calling `began()` (what a request had done before reaching the service)."""
    times = []
    for n in range(warm + samples):
        with app.app_context():
            began = call()
            elapsed = (time.perf_counter() - began) * 1000
            db.session.remove()
        if n >= warm:
            times.append(elapsed)
    return times


def report(name: str, times: list[float], floor: list[float], target: float | None, op: str = "<"):
    p50, p99 = statistics.median(times), pct(times, 99)
    f50, f99 = statistics.median(floor), pct(floor, 99)
    met = "" if target is None else \
        f"  target p99 {op} {target:g} ms: {'met' if (p99 < target if op == '<' else p99 <= target) else 'NOT met'}"
    print(f"{name:34} {p50:9.2f} {p99:9.2f} {f50:9.2f} {f99:9.2f} {p50 / f50:7.1f}x {p99 / f99:7.1f}x{met}")


def in_process(app, db, facts: dict, regulators, samples: int, seed: int) -> float:
    from sqlalchemy import select

    from lms.auth.models import User
    from lms.compliance import service
    from lms.core.models import District
    from lms.province import id_number_of
    from lms.registry.models import Organisation, Person

    rng = random.Random(seed)
    generated = facts["persons"]
    city_name = next(u for u, d in regulators if d is None)
    district_name = next(u for u, d in regulators if d is not None)
    with app.app_context():
        city_id = db.session.scalar(select(User.id).where(User.username == city_name))
        district_reg_id = db.session.scalar(select(User.id).where(User.username == district_name))
        raw = db.engine.raw_connection()
    cursor = raw.cursor()

    def bare(sql_list):
        began = time.perf_counter()
        for sql, params in sql_list:
            cursor.execute(sql, params)
            cursor.fetchall()
        return (time.perf_counter() - began) * 1000

    def floor_times(make, warm=10):
        out = [bare(make()) for _ in range(warm + samples)]
        raw.rollback()
        return out[warm:]

    print(f"{'in-process (ms)':34} {'p50':>9} {'p99':>9} {'floor p50':>9} {'floor p99':>9} "
          f"{'x p50':>8} {'x p99':>8}")

    # 1. person compliance by identity number
    def person_call():
        actor = db.session.get(User, city_id)
        number = id_number_of(rng.randrange(generated))
        began = time.perf_counter()
        person = db.session.scalar(select(Person).where(Person.id_number == number))
        service.person_compliance(actor, person)
        return began

    def person_floor():
        # the number is encrypted: the lookup is by its keyed hash (lms.core.crypto)
        digest = app.extensions["lms_keyring"].lookup(id_number_of(rng.randrange(generated)))
        return [("SELECT id, id_number_enc, name, gender, birth_date FROM persons "
                 "WHERE id_number_hash = %s", (digest,)),
                ("SELECT s.* FROM compliance_person_status s JOIN persons p ON p.id = s.person_id "
                 "WHERE p.id_number_hash = %s", (digest,))]

    report("person compliance by number", timed(app, db, person_call, samples),
           floor_times(person_floor), 5)

    # 2. institution compliance
    def institution_call():
        actor = db.session.get(User, city_id)
        org_id = rng.choice(facts["institutions"])
        began = time.perf_counter()
        service.institution_table(actor, db.session.get(Organisation, org_id))
        return began

    def institution_floor():
        return [("SELECT count(*), count(*) FILTER (WHERE s.certified), "
                 "count(*) FILTER (WHERE s.hours_on_track), count(*) FILTER (WHERE s.health_current), "
                 "count(*) FILTER (WHERE s.criminal_record_on_file), count(*) FILTER (WHERE s.banned), "
                 "count(*) FILTER (WHERE s.multi_institution) FROM employments e "
                 "JOIN compliance_person_status s ON s.person_id = e.person_id "
                 "WHERE e.organisation_id = %s AND e.end_date IS NULL",
                 (rng.choice(facts["institutions"]),))]

    report("institution compliance (table)", timed(app, db, institution_call, samples),
           floor_times(institution_floor), 10)

    # 3. district roll-up
    def district_call():
        actor = db.session.get(User, city_id)
        did = rng.choice(facts["districts"])
        began = time.perf_counter()
        service.district_table(actor, db.session.get(District, did))
        return began

    def district_floor():
        return [("SELECT count(*), sum(people), sum(certified), sum(hours_on_track), "
                 "sum(health_current), sum(criminal_record_on_file), sum(banned_employed), "
                 "sum(multi_institution) FROM compliance_snapshots "
                 "WHERE scope = 'institution' AND district_id = %s", (rng.choice(facts["districts"]),))]

    report("district roll-up (table)", timed(app, db, district_call, samples),
           floor_times(district_floor), 200, "<=")

    # 4. the dashboards from snapshots
    from lms.core.clock import local_today

    year = str(local_today().year)  # the city's year, as the dashboard's trend

    def dashboard_call(uid):
        def call():
            actor = db.session.get(User, uid)
            began = time.perf_counter()
            service.dashboard(actor)
            return began
        return call

    def city_floor():
        return [("SELECT * FROM compliance_snapshots WHERE scope = 'city' AND scope_id = 0", ()),
                ("SELECT * FROM compliance_snapshots WHERE scope = 'district'", ()),
                ("SELECT * FROM compliance_history WHERE scope = 'city' AND scope_id = 0 "
                 "AND month LIKE %s", (f"{year}%",))]

    with app.app_context():
        reg_district = db.session.get(User, district_reg_id).district_id

    def district_board_floor():
        return [("SELECT * FROM compliance_snapshots WHERE scope = 'district' AND scope_id = %s",
                 (reg_district,)),
                ("SELECT * FROM compliance_snapshots WHERE scope = 'institution' AND district_id = %s",
                 (reg_district,)),
                ("SELECT * FROM compliance_history WHERE scope = 'district' AND scope_id = %s "
                 "AND month LIKE %s", (reg_district, f"{year}%"))]

    city_board = timed(app, db, dashboard_call(city_id), samples)
    report("dashboard, city regulator", city_board, floor_times(city_floor), 200, "<=")
    report("dashboard, district regulator", timed(app, db, dashboard_call(district_reg_id), samples),
           floor_times(district_board_floor), 200, "<=")
    cursor.close()
    raw.close()
    return statistics.median(city_board)


# --- over HTTP -----------------------------------------------------------------------------------


class Browser:
    """One keep-alive connection with its cookies, as a regulator's browser."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";")[0]
        return response, data

    def sign_in(self, username: str) -> None:
        _response, page = self.request("GET", "/login")
        token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
            re.search(rb'name="csrf_token" value="([^"]+)"', page)
        form = urllib.parse.urlencode({"csrf_token": token.group(1).decode(), "identifier": username,
                                       "password": PASSWORD})
        response, _ = self.request("POST", "/login", form,
                                   {"Content-Type": "application/x-www-form-urlencoded"})
        where = response.getheader("Location") or ""
        if response.status != 302 or "/login" in where:
            raise RuntimeError(f"{username} could not sign in: {response.status} {where}")


def over_http(args, regulators) -> None:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-compliance-"))
    env = dict(os.environ, DATABASE_URL=args.database_url, LMS_INSTANCE_PATH=str(workdir),
               SECRET_KEY="bench-only-secret", LMS_COOKIE_SECURE="0",  # noqa: S106
               LMS_LOGIN_RATE_LIMIT="1000000 per minute", LMS_DEFAULT_LOCALE="en")
    proc = subprocess.Popen(  # noqa: S603
        [GUNICORN, "-w", str(args.workers), "-k", "gthread", "--threads", str(args.threads),
         "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--keep-alive", "60",
         "--timeout", "300", "wsgi:app"], env=env, cwd=ROOT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    sys.exit("gunicorn did not start")
                time.sleep(0.3)
        browsers = []
        for username, district_id in regulators[:args.clients]:
            browser = Browser(port)
            browser.sign_in(username)
            response, _ = browser.request("GET", "/compliance")  # warm this worker's caches
            if response.status != 200:
                raise RuntimeError(f"{username}: dashboard answered {response.status}")
            browsers.append((browser, "city" if district_id is None else "district"))
        alone: dict[str, list[float]] = {"city": [], "district": []}
        for kind in alone:  # one regulator at a time: the page's own time, no queue
            browser = next(b for b, k in browsers if k == kind)
            for n in range(args.page_requests + 5):
                began = time.perf_counter()
                browser.request("GET", "/compliance")
                if n >= 5:
                    alone[kind].append((time.perf_counter() - began) * 1000)
        results: dict[str, list[float]] = {"city": [], "district": []}
        errors = []
        lock = threading.Lock()
        start = threading.Barrier(len(browsers))

        def run(browser, kind):
            mine = []
            start.wait()
            for _ in range(args.page_requests):
                began = time.perf_counter()
                response, page = browser.request("GET", "/compliance")
                mine.append((time.perf_counter() - began) * 1000)
                if response.status != 200 or b"echarts" not in page.lower():
                    errors.append(response.status)
            with lock:
                results[kind] += mine

        threads = [threading.Thread(target=run, args=pair) for pair in browsers]
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began
        everyone = results["city"] + results["district"]
        print(f"\ndashboard page over HTTP: {len(browsers)} regulators at once "
              f"({sum(k == 'city' for _b, k in browsers)} city, "
              f"{sum(k == 'district' for _b, k in browsers)} district), {args.page_requests} pages each, "
              f"gunicorn {args.workers} workers × {args.threads} threads")
        print(f"{'':34} {'p50':>9} {'p99':>9} {'alone p50':>9} {'alone p99':>9}")
        for label, values, solo in (("city regulators", results["city"], alone["city"]),
                                    ("district regulators", results["district"], alone["district"]),
                                    ("all", everyone, alone["city"] + alone["district"])):
            if values:
                print(f"{label:34} {statistics.median(values):9.1f} {pct(values, 99):9.1f} "
                      f"{statistics.median(solo):9.1f} {pct(solo, 99):9.1f} ms")
        print(f"{len(everyone)} pages in {wall:.1f} s: {len(everyone) / wall:.1f} pages/s"
              + (f"; {len(errors)} failed ({sorted(set(errors))})" if errors else ""))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="the province's database (default: $DATABASE_URL)")
    parser.add_argument("--samples", type=int, default=200, help="timed calls per measure")
    parser.add_argument("--clients", type=int, default=20, help="regulators at once over HTTP")
    parser.add_argument("--page-requests", type=int, default=20,
                        help="dashboard pages each regulator loads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--no-http", action="store_true", help="only the in-process measures")
    args = parser.parse_args()
    if not args.database_url:
        sys.exit(f"name the province's database: --database-url or DATABASE_URL.\n{HOW_TO_BUILD}")
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-compliance-"))
    os.environ.update(DATABASE_URL=args.database_url, LMS_INSTANCE_PATH=str(workdir),
                      SECRET_KEY="bench-only-secret", LMS_DEFAULT_LOCALE="en")  # noqa: S105
    sys.path.insert(0, str(ROOT))

    from lms import create_app
    from lms.extensions import db

    app = create_app()
    with app.app_context():
        facts = check_province(db)
        regulators = ensure_regulators(db, facts["districts"], max(args.clients, 2))
        from lms.compliance.models import Snapshot
        city = db.session.scalar(db.select(Snapshot).where(Snapshot.scope == "city"))
        print(f"province: {facts['persons']:,} persons, {len(facts['institutions']):,} institutions, "
              f"{len(facts['districts'])} districts; {city.people:,} employed; snapshots as of "
              f"{city.computed_at:%Y-%m-%d %H:%M} UTC; {args.samples} samples each\n")
    in_process(app, db, facts, regulators, args.samples, args.seed)
    if not args.no_http:
        with app.app_context():
            db.engine.dispose()
        over_http(args, regulators)


if __name__ == "__main__":
    main()
