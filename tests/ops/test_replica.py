"""A PostgreSQL read replica for read-heavy pages (DATABASE_REPLICA_URL, lms.core.replica).

The test starts its own primary cluster (wal_level=replica) and a streaming replica of it
(pg_basebackup -R into a second data directory, started on another port), as the postgres
user like scripts/pgtest.sh, and stops and removes both at the end. Replay on the replica can
be paused, which makes the replica visibly behind: what a page shows then says which server
answered. Needs PostgreSQL's server binaries: without them this test fails."""

from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, event, select, text

from lms.core.replica import REPLICA, replica_endpoints
from lms.extensions import db
from lms.registry.models import Organisation
from tests.conftest import login, make_app
from tests.ops.servers import free_port, migrate_and_build_world


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                   key=lambda p: [int(x) for x in p.split("/")[4].split(".") if x.isdigit()])
    assert found, "PostgreSQL's server binaries are not installed (make test installs them)"
    return found[-1]


def _as_postgres(*command: str) -> None:
    done = subprocess.run(["runuser", "-u", "postgres", "--", *command], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def clusters():
    """(primary URL, replica URL): a primary and its streaming replica on this machine."""
    bin_ = _pg_bin()
    folder = tempfile.mkdtemp(prefix="lms-replica-")
    shutil.chown(folder, "postgres", "postgres")
    primary, replica = f"{folder}/primary", f"{folder}/replica"
    p_port, r_port = free_port(), free_port()
    started = []
    try:
        _as_postgres(f"{bin_}/initdb", "-D", primary, "-U", "postgres", "--auth=trust",
                     "-E", "UTF8", "--locale=C.UTF-8")
        common = f"-c listen_addresses=127.0.0.1 -k {folder} -c fsync=off -c full_page_writes=on"
        _as_postgres(f"{bin_}/pg_ctl", "-D", primary, "-l", f"{folder}/primary.log", "-w",
                     "-t", "60", "-o", f"{common} -p {p_port} -c wal_level=replica "
                     "-c max_wal_senders=4", "start")
        started.append(primary)
        _as_postgres(f"{bin_}/createdb", "-h", "127.0.0.1", "-p", str(p_port), "-U",
                     "postgres", "lms")
        # -R writes standby.signal and primary_conninfo: the copy starts as a streaming replica
        _as_postgres(f"{bin_}/pg_basebackup", "-h", "127.0.0.1", "-p", str(p_port), "-U",
                     "postgres", "-D", replica, "-R", "-X", "stream", "-c", "fast")
        _as_postgres(f"{bin_}/pg_ctl", "-D", replica, "-l", f"{folder}/replica.log", "-w",
                     "-t", "60", "-o", f"{common} -p {r_port} -c hot_standby=on", "start")
        started.append(replica)
        yield (f"postgresql+psycopg://postgres@127.0.0.1:{p_port}/lms",
               f"postgresql+psycopg://postgres@127.0.0.1:{r_port}/lms")
    finally:
        for data in reversed(started):
            subprocess.run(["runuser", "-u", "postgres", "--", f"{bin_}/pg_ctl", "-D", data,
                            "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _caught_up(primary_url: str, replica_url: str, timeout: float = 60) -> None:
    primary, replica = create_engine(primary_url), create_engine(replica_url)
    try:
        with primary.connect() as conn:
            target = conn.scalar(text("SELECT pg_current_wal_lsn()"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with replica.connect() as conn:
                if conn.scalar(text("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), :t) >= 0"),
                               {"t": target}):
                    return
            time.sleep(0.2)
        raise AssertionError("the replica did not catch up")
    finally:
        primary.dispose()
        replica.dispose()


@pytest.fixture(scope="module")
def routed(clusters):
    """The app on the primary with DATABASE_REPLICA_URL's bind, and a statement log per engine."""
    primary_url, replica_url = clusters
    migrate_and_build_world(primary_url)
    _caught_up(primary_url, replica_url)
    app = make_app(SQLALCHEMY_DATABASE_URI=primary_url, SQLALCHEMY_BINDS={REPLICA: replica_url})
    log = {"primary": [], "replica": []}
    with app.app_context():
        for name, engine in (("primary", db.engines[None]), ("replica", db.engines[REPLICA])):
            event.listen(engine, "before_cursor_execute",
                         lambda *args, name=name: log[name].append(args[2]))
    yield app, log, primary_url, replica_url
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


@contextmanager
def _replay_paused(app):
    """The replica stops applying the primary's changes: it shows the past until resumed."""
    with app.app_context(), db.engines[REPLICA].connect() as conn:
        conn.execute(text("SELECT pg_wal_replay_pause()"))
        conn.commit()
    try:
        yield
    finally:
        with app.app_context(), db.engines[REPLICA].connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
            conn.commit()


def _rename_on_primary(primary_url: str, old: str, new: str) -> None:
    engine = create_engine(primary_url)
    with engine.begin() as conn:
        assert conn.execute(text("UPDATE organisations SET name = :new WHERE name = :old"),
                            {"new": new, "old": old}).rowcount == 1
    engine.dispose()


def test_the_replica_is_a_streaming_standby(routed):
    app, _log, _p, _r = routed
    with app.app_context():
        with db.engines[REPLICA].connect() as conn:
            assert conn.scalar(text("SELECT pg_is_in_recovery()")) is True
        with db.engines[None].connect() as conn:
            assert conn.scalar(text("SELECT pg_is_in_recovery()")) is False
    assert "registry.institutions" in replica_endpoints(app)


def test_the_regulators_list_is_read_from_the_replica(routed):
    app, log, primary_url, replica_url = routed
    client = app.test_client()
    with app.app_context():
        from lms.compliance import rollups
        from lms.core.actors import DEMO
        from lms.core.models import District

        rollups.refresh(DEMO, full=True)  # the dashboard's snapshots, written on the primary
        db.session.commit()
        xuanwu = db.session.scalar(select(District.id).where(District.code == "320102"))
        _caught_up(primary_url, replica_url)
        url = f"/compliance/districts/{xuanwu}"  # the regulator's institutions of a district
        assert login(client, "regulator_city").status_code == 302
        log["replica"].clear()
        page = client.get(url)
        assert page.status_code == 200 and "小橡树托育中心" in page.get_data(as_text=True)
        assert any("organisations" in s for s in log["replica"]), "the list came from the replica"

        # while the replica is held back, the page shows what the replica has ...
        with _replay_paused(app):
            _rename_on_primary(primary_url, "小橡树托育中心", "小橡树托育中心（新址）")
            page = client.get(url).get_data(as_text=True)
            assert "小橡树托育中心" in page and "（新址）" not in page
            # ... while a page not marked for the replica reads the primary
            log["replica"].clear()
            assert client.get("/").status_code == 200
            assert log["replica"] == []
        _caught_up(primary_url, replica_url)
        assert "小橡树托育中心（新址）" in client.get(url).get_data(as_text=True)
        _rename_on_primary(primary_url, "小橡树托育中心（新址）", "小橡树托育中心")
        _caught_up(primary_url, replica_url)


def test_a_read_after_a_write_in_the_same_request_uses_the_primary(routed):
    app, log, primary_url, _replica_url = routed
    name = select(Organisation.name).where(Organisation.filing_no == "TY-1")
    with _replay_paused(app), app.test_request_context("/registry/institutions"):
        from flask import g
        g.read_replica = True  # what @reads_from_replica sets around the view
        log["replica"].clear()
        assert db.session.scalar(name) == "小橡树托育中心"
        assert len(log["replica"]) == 1, "a read before any write goes to the replica"
        org = db.session.scalars(select(Organisation).where(Organisation.filing_no == "TY-1")).one()
        org.name = "改名托育中心"
        db.session.flush()
        before = len(log["replica"])
        # the replica is paused and never saw the change: only the primary can answer this
        assert db.session.scalar(name) == "改名托育中心"
        assert db.session.scalar(select(Organisation.id).where(
            Organisation.name == "改名托育中心")) == org.id
        assert len(log["replica"]) == before, "after a write, reads are pinned to the primary"
        db.session.rollback()


def test_writing_views_never_touch_the_replica(routed):
    app, log, _p, _r = routed
    client = app.test_client()
    with app.app_context():
        log["replica"].clear()
        assert login(client, "admin").status_code == 302
        page = client.get("/admin/settings")
        assert page.status_code == 200
        saved = client.post("/admin/settings", data={
            "key": "hours.ethics_required", "value": "41", "effective_from": "2020-01-01",
            "district_id": "0", "note": "replica test"})
        assert saved.status_code == 302, saved.get_data(as_text=True)[:1000]
        regulator = app.test_client()
        assert login(regulator, "regulator_city").status_code == 302
        assert log["replica"] == [], "sign-in, forms and their writes use the primary only"


def test_a_replica_that_is_down_is_passed_over(clusters, monkeypatch):
    """Nothing answers on the replica's address: the regulator's list comes from the primary."""
    from lms.core import replica

    primary_url, _replica_url = clusters
    monkeypatch.setattr(replica, "_replica_down_until", 0.0)
    app = make_app(SQLALCHEMY_DATABASE_URI=primary_url,
                   SQLALCHEMY_BINDS={REPLICA: f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/lms"})
    client = app.test_client()
    with app.app_context():
        assert login(client, "regulator_city").status_code == 302
        page = client.get("/compliance")  # the city's dashboard, marked for the replica
        assert page.status_code == 200 and "玄武区" in page.get_data(as_text=True)
        assert replica._replica_down_until > 0, "the process notes that the replica is down"
        for engine in db.engines.values():
            engine.dispose()
