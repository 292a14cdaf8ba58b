"""Benchmark: the JSON API over HTTP beside the same service called in-process.

Not a pytest test. Run from the project root:

    .venv/bin/python tests/bench/bench_api.py [--institutions 40] [--staff 25] [--requests 400]
    DATABASE_URL=postgresql+psycopg://… .venv/bin/python tests/bench/bench_api.py   # empty DB
    .venv/bin/python tests/bench/bench_api.py --database-url postgresql+psycopg://…/province

With --database-url naming a generated province (`flask lms generate-province`, see
tests/bench/README.md) it builds nothing: it samples the province's people (by identity number)
and generated institutions, and writes only an API client "bench-api" with a fresh token (and
the API's call log rows each call writes).

It migrates a fresh database (a temporary SQLite file unless DATABASE_URL names an empty one)
and builds a modest world through the services: two districts, INSTITUTIONS institutions with
STAFF staff each, a certificate for every third person, class hours, health checks and a few
bans. It issues a city-wide token, serves the real app on loopback with gunicorn as
gunicorn.conf.py configures it (a gthread worker with keep-alive; one worker, one thread, so each
call is timed alone; `--server werkzeug` for Werkzeug's development server instead), and times
person status (POST /api/v1/persons/status) and institution compliance
(GET /api/v1/institutions/<id>/compliance) against the same calls of lms.api.service made
in-process (each with a fresh session, as a request has). The service is timed as a request
calls it: its session has checked a connection out of the pool (the token check before the view
does that) and is committed after it, as a request's is (a rollback would make psycopg drop the
connection's prepared statements, and every call would plan its statements again); the call
with the checkout (and the pool's ping) in it is printed too. The paths take turns call by call
(HTTP, in-process, in-process with the checkout, and a bare Flask answer from a second server of
the same kind: the HTTP floor), in an order shuffled each round, so that the machine's speed,
which drifts from minute to minute, weighs on each path alike. Prints p50/p99 and the ratio
HTTP / in-process. Targets (printed, not asserted): HTTP p99 at most twice the in-process p99;
person status under 5 ms p99 at the service. Beside the first, the two restatements proposed to
the issue's filer: HTTP p99 at most PROPOSED_ADDED_MS above the in-process p99, and HTTP p99 at
most twice the in-process p99 plus the HTTP floor's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the allowance for HTTP, token, rate limit and call log proposed in place of "≤ 2x" (ms, p99):
#: 4 ms in the seventh session; 8 ms since the eighth, which measured 4.5-7.6 ms (README)
PROPOSED_ADDED_MS = 8.0

from bench_heartbeat import free_port  # noqa: E402 - beside this script


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _redis_or_memory() -> str:
    url = "redis://127.0.0.1:6379/15"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
        return url
    except Exception:  # noqa: BLE001 - any failure: no Redis here
        return "memory://"


def build(args):
    from datetime import date, timedelta
    from decimal import Decimal

    from lms.api import tokens
    from lms.auth.models import User
    from lms.certificates import service as certificates
    from lms.core.actors import SystemActor
    from lms.core.clock import local_today, this_year
    from lms.core.models import District
    from lms.extensions import db
    from lms.ledger import service as ledger
    from lms.registry import service as registry
    from lms.registry.models import StaffRecord
    from tests.factories import credit_code, id_number
    from tests.helpers import certificate

    bench = SystemActor("bench")
    registry.ensure_reference_data()
    districts = [District(code="320102", name="玄武区", city="南京市"),
                 District(code="320106", name="鼓楼区", city="南京市")]
    db.session.add_all(districts)
    db.session.flush()
    base = registry.create_organisation(bench, kind="training_base", name="基准实训基地",
                                        district=districts[0], credit_code=credit_code(args.institutions + 1))

    class World:  # what tests.helpers.certificate reads
        pass

    world = World()
    world.base = base
    surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "芳敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
    numbers, institutions = [], []
    seq = 0
    for i in range(args.institutions):
        org = registry.create_organisation(bench, kind="institution", name=f"基准托育园{i:03d}",
                                           district=districts[i % 2], credit_code=credit_code(i + 1),
                                           filing_no=f"B-{i}")
        institutions.append(org.id)
        for j in range(args.staff):
            seq += 1
            born = date(1975, 1, 1) + timedelta(days=seq * 7 % 9000)
            number = id_number(districts[i % 2].code, born.strftime("%Y%m%d"), seq % 900 + 1)
            name = surnames[seq % 20] + given[(seq // 20) % 20] + given[seq % 19]
            added = registry.add_staff(bench, org, id_number=number, name=name, mobile=None,
                                       post="nursery_carer" if j % 3 else "infant_carer",
                                       start_date=date(2024, 1, 1))
            person = added.employment.person
            numbers.append(person.id_number)
            if seq % 3 == 0:
                certificate(world, person)
            if seq % 2 == 0:
                db.session.add(StaffRecord(person_id=person.id, kind="health_check", result="fit",
                                           issued_on=local_today() - timedelta(days=seq % 500),
                                           issuer="妇幼保健院", organisation_id=org.id))
            ledger.credit(bench, person, year=this_year(), category="skills",
                          hours=Decimal(seq % 80 + 1), source_type="external", source_ref=f"b-{seq}")
            if seq % 97 == 0:
                registry.record_ban(bench, id_number=person.id_number, name=person.name,
                                    kind="lifetime", starts_on=local_today(), ends_on=None, reason="基准")
        db.session.commit()
    admin = User(username="bench-admin", display_name="管理员", role="admin", must_change_password=False)
    db.session.add(admin)
    db.session.flush()
    issued = tokens.issue_client(admin, name="bench", scope="city", district=None,
                                 expires_on=local_today() + timedelta(days=2))
    db.session.commit()
    _ = certificates
    return numbers, institutions, issued


def province(args):
    """(identity numbers, institution ids, issued token) of a generated province, or None when
    the database holds none."""
    from datetime import timedelta

    from sqlalchemy import func, inspect, select

    from lms.api import tokens
    from lms.api.models import ApiClient
    from lms.core.actors import SystemActor
    from lms.core.clock import local_today
    from lms.extensions import db
    from lms.province import id_number_of
    from lms.registry.models import Organisation, OrgKind, Person

    if "persons" not in inspect(db.engine).get_table_names() or db.session.scalar(
            select(Person.id).where(Person.id_number == id_number_of(0))) is None:
        return None
    persons = db.session.scalar(select(func.count()).select_from(Person))
    rng = random.Random(16)
    numbers = [id_number_of(rng.randrange(persons)) for _ in range(5000)]
    institutions = list(db.session.scalars(select(Organisation.id).where(
        Organisation.kind == OrgKind.INSTITUTION.value, Organisation.filing_no.startswith("GEN-"))))
    bench = SystemActor("bench")
    expires = local_today() + timedelta(days=2)
    client = db.session.scalar(select(ApiClient).where(ApiClient.name == "bench-api"))
    issued = tokens.issue_token(bench, client, expires) if client else \
        tokens.issue_client(bench, name="bench-api", scope="city", district=None, expires_on=expires)
    db.session.commit()
    print(f"province: {persons:,} persons, {len(institutions):,} institutions")
    return numbers, institutions, issued


def _wait_for(port: int) -> None:
    import socket

    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("gunicorn did not start")


def _bare_app():
    from flask import Flask, jsonify

    bare = Flask("floor")
    bare.get("/floor")(lambda: jsonify({"ok": True}))
    return bare


def _start(app, server_kind: str):
    """(process, port): the app served in a child process."""
    from werkzeug.serving import make_server

    fork = multiprocessing.get_context("fork")
    if server_kind == "gunicorn":
        port = free_port()
        child = fork.Process(target=_serve_gunicorn, args=(app, port), daemon=True)
        child.start()
        _wait_for(port)
        return child, port
    server = make_server("127.0.0.1", 0, app, threaded=False)
    child = fork.Process(target=server.serve_forever, daemon=True)
    child.start()
    server.socket.close()
    return child, server.server_port


def _serve_gunicorn(app, port: int) -> None:
    """The app as a city serves it: gunicorn with the project's gunicorn.conf.py (a gthread
    worker, keep-alive), one worker with one thread so that each call is timed alone; the same
    app object (gunicorn's documented custom application)."""
    from gunicorn.app.base import BaseApplication

    class Served(BaseApplication):
        def load_config(self):
            import runpy

            conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
            # the client waits through the in-process series between its HTTP series: keep
            # its connection open that long (gunicorn closes an idle one after 2 s)
            conf.update(bind=f"127.0.0.1:{port}", workers=1, threads=1, loglevel="warning",
                        keepalive=120)
            for key, value in conf.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self):
            return app

    Served().run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--institutions", type=int, default=40)
    parser.add_argument("--staff", type=int, default=25, help="staff per institution")
    parser.add_argument("--requests", type=int, default=400, help="timed calls per endpoint and path")
    parser.add_argument("--server", choices=["gunicorn", "werkzeug"], default="gunicorn",
                        help="the HTTP server: gunicorn as gunicorn.conf.py configures it "
                        "(default), or Werkzeug's development server")
    parser.add_argument("--database-url", help="a generated province (builds nothing) or an empty "
                        "database (default: $DATABASE_URL, else a temporary SQLite file)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-api-"))
    os.environ.update(LMS_INSTANCE_PATH=str(workdir), SECRET_KEY="bench-only-secret",  # noqa: S105
                      LMS_DEFAULT_LOCALE="en", LMS_COOKIE_SECURE="0")
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    # rate limits counted where production counts them (Redis), when this machine has it
    os.environ.setdefault("RATELIMIT_STORAGE_URI", _redis_or_memory())
    sys.path.insert(0, str(ROOT))

    from flask_migrate import upgrade

    from lms import create_app
    from lms.api import service
    from lms.api.actors import ApiClientActor
    from lms.extensions import db
    from lms.registry.models import Organisation

    app = create_app({"API_RATE_LIMIT": "1000000 per minute"})
    started = time.perf_counter()
    with app.app_context():
        found = province(args) if args.database_url else None
        if found is None:
            upgrade()
            found = build(args)
        numbers, institutions, issued = found
        actor = ApiClientActor(client_id=issued.client.id, token_id=issued.token.id,
                               client_name="bench", scope="city")
        secret = issued.secret
    print(f"world: {len(institutions)} institutions, {len(numbers)} people sampled "
          f"({os.environ['DATABASE_URL'].split(':')[0]}, rate limits in "
          f"{os.environ['RATELIMIT_STORAGE_URI'].split(':')[0]}), "
          f"built in {time.perf_counter() - started:.1f} s")

    # the server in a process of its own: it shares no GIL with the client timing it
    with app.app_context():
        db.engine.dispose()
    child, port = _start(app, args.server)
    # the floor: a bare Flask answer (no database, no token) from the same server, the same
    # client: what any Python HTTP answer costs on this machine, whatever the app does
    floor_child, floor_port = _start(_bare_app(), args.server)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    floor_conn = http.client.HTTPConnection("127.0.0.1", floor_port)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    rng = random.Random(7)

    def over_http(method, path, body=None):
        began = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        elapsed = (time.perf_counter() - began) * 1000
        assert answer.status == 200, (answer.status, path)
        return elapsed

    def in_process(fn, *fn_args, checked_out=True):
        with app.app_context():
            if checked_out:  # as the request's token check leaves the session
                db.session.connection()
            began = time.perf_counter()
            result = fn(actor, *fn_args)
            elapsed = (time.perf_counter() - began) * 1000
            assert result is not None
            # ended as a request ends (lms.create_app's `finish` commits): a rollback would
            # make psycopg drop the connection's prepared statements, and the next call would
            # plan every statement again, which no request pays
            db.session.commit()
            db.session.remove()
        return elapsed

    def org(org_id):
        return db.session.get(Organisation, org_id)

    cases = {
        "person status": (
            lambda: over_http("POST", "/api/v1/persons/status",
                              json.dumps({"id_number": rng.choice(numbers)})),
            lambda: in_process(service.person_status, rng.choice(numbers)),
            lambda: in_process(service.person_status, rng.choice(numbers), checked_out=False)),
        "institution compliance": (
            lambda: over_http("GET", f"/api/v1/institutions/{rng.choice(institutions)}/compliance"),
            lambda: in_process(lambda a, i: service.institution_compliance(a, org(i)),
                               rng.choice(institutions)),
            lambda: in_process(lambda a, i: service.institution_compliance(a, org(i)),
                               rng.choice(institutions), checked_out=False)),
    }
    def floor_call():
        began = time.perf_counter()
        floor_conn.request("GET", "/floor")
        answer = floor_conn.getresponse()
        answer.read()
        assert answer.status == 200, answer.status
        return (time.perf_counter() - began) * 1000

    print(f"{'':24} {'path':12} {'p50 ms':>8} {'p99 ms':>8}")
    floor: list[float] = []
    for name, (http_call, local_call, checkout_call) in cases.items():
        for _ in range(30):  # warm every path
            floor_call()
            http_call()
            local_call()
            checkout_call()
        # the paths take turns, call by call, in an order shuffled each round: a change in the
        # machine's speed during the run (it varies from minute to minute) falls on all alike
        local, with_checkout, remote = [], [], []
        paths = [(floor_call, floor), (local_call, local), (checkout_call, with_checkout),
                 (http_call, remote)]
        for _ in range(args.requests):
            for call, times in rng.sample(paths, len(paths)):
                times.append(call())
        if name == next(iter(cases)):
            print(f"{'bare Flask answer':24} {'HTTP floor':12} {statistics.median(floor):8.2f} "
                  f"{pct(floor, 99):8.2f}")
        for label, values in (("in-process", local), ("+ checkout", with_checkout),
                              ("HTTP", remote)):
            print(f"{name:24} {label:12} {statistics.median(values):8.2f} {pct(values, 99):8.2f}")
        ratio50 = statistics.median(remote) / statistics.median(local)
        ratio99 = pct(remote, 99) / pct(local, 99)
        print(f"{name:24} {'HTTP/in-proc':12} {ratio50:7.2f}x {ratio99:7.2f}x  "
              f"(target p99 ≤ 2x: {'met' if ratio99 <= 2 else 'NOT met'})")
        # the two restatements of that target put to the issue's filer (tests/bench/README.md):
        # HTTP's cost as a fixed allowance, or twice the service plus the bare HTTP answer
        added = pct(remote, 99) - pct(local, 99)
        with_floor = pct(remote, 99) / (pct(local, 99) + pct(floor, 99))
        verdict = "met" if added <= PROPOSED_ADDED_MS else "NOT met"
        print(f"{name:24} {'HTTP - in-p.':12} {added:+7.2f} ms p99 "
              f"(proposed ≤ +{PROPOSED_ADDED_MS:g} ms: {verdict})")
        print(f"{name:24} {'HTTP/(in+fl)':12} {with_floor:7.2f}x p99 "
              f"(proposed ≤ 2x the in-process call and the HTTP floor: "
              f"{'met' if with_floor <= 2 else 'NOT met'})")
        if name == "person status":
            print(f"{'':24} service p99 {pct(local, 99):.2f} ms "
                  f"(target < 5 ms: {'met' if pct(local, 99) < 5 else 'NOT met'})")
    for process in (child, floor_child):
        process.terminate()
        process.join()


if __name__ == "__main__":
    main()
