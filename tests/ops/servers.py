"""Real servers for the operations tests: a fresh PostgreSQL database with the small test
world, and gunicorn instances serving the app on loopback ports.

PostgreSQL is the server DATABASE_URL points at when it is a PostgreSQL URL, else the one on
127.0.0.1:5432 that development and CI machines run (DESIGN §6); Redis is 127.0.0.1:6379.
Without them these helpers raise: the tests fail, they never skip."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import requests
from sqlalchemy.engine import make_url

from lms.core.crypto import DEMO_DATA_KEY, DEMO_LOOKUP_KEY

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
REDIS = "redis://127.0.0.1:6379/13"  # a spare database number, shared with nothing else
SECRET = "ops-test-secret"  # noqa: S105 - one key for every app server, as in production


def postgres_server() -> str:
    """The PostgreSQL server to create test databases on (a URL without a database)."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgresql"):
        return make_url(url).set(database="postgres").render_as_string(hide_password=False)
    return "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(prefix: str = "lms_ops") -> str:
    """A fresh, empty database on the test server; returns its SQLAlchemy URL."""
    server = postgres_server()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(server), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(_libpq(postgres_server()), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: migrate the database and build tests/conftest.py's small world in it (its own process:
#: the world builder uses the app's one session)
_WORLD = """
from flask_migrate import upgrade
from tests.conftest import build_world, make_app
from lms.extensions import db
from lms.registry import service as registry
from lms.subsidies.service import ensure_standards
app = make_app()
with app.app_context():
    upgrade()
    registry.ensure_reference_data()
    ensure_standards()
    build_world()
    db.session.commit()
"""


def migrate_and_build_world(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([PY, "-c", _WORLD], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"building the world failed:\n{done.stderr[-3000:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, **extra: str) -> dict:
    """The environment of one production-like app server (CSRF on, limits in Redis)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("LMS_", "RATELIMIT_", "DATABASE_"))}
    env.update(DATABASE_URL=database_url, SECRET_KEY=SECRET, LMS_COOKIE_SECURE="0",
               LMS_DEFAULT_LOCALE="en", RATELIMIT_STORAGE_URI=REDIS, PYTHONPATH=str(ROOT),
               # keys given as production gives them (the tests' own, which built the world)
               LMS_DATA_KEYS=DEMO_DATA_KEY, LMS_LOOKUP_KEY=DEMO_LOOKUP_KEY)
    env.update(extra)
    return env


class Gunicorn:
    """`gunicorn wsgi:app` on a free loopback port, with its own instance folder (nothing on
    disk is shared between two of them)."""

    def __init__(self, env: dict, workers: int = 1, threads: int = 2, app: str = "wsgi:app"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.instance = tempfile.mkdtemp(prefix="lms-ops-instance-")
        self.log = Path(self.instance) / "gunicorn.log"
        env = {**env, "LMS_INSTANCE_PATH": self.instance}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                [PY, "-m", "gunicorn", "-w", str(workers), "-k", "gthread", "--threads",
                 str(threads), "-b", f"127.0.0.1:{self.port}", "--log-level", "warning",
                 "--graceful-timeout", "5", app],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/login", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert found, "the form carries a CSRF token"
    return found.group(1)
