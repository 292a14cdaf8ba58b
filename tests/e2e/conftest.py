"""Browser tests: Debian's Chromium driving a live server of the app with CSRF on.

The live server serves its own app (built by tests.conftest.make_app with CSRF enabled) on the
database the session `app` fixture migrated; each test builds the test world itself and empties
the database afterwards (the autouse `_context` fixture leaves tests marked e2e alone).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.middleware.shared_data import SharedDataMiddleware
from werkzeug.serving import make_server

from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.extensions import db
from lms.registry import service as registry
from tests.conftest import _empty_database, build_world, make_app
from tests.factories import id_number
from tests.helpers import AXE_URL  # served by the live server below

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
AXE = NODE_MODULES / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
VENDOR = ROOT / "lms" / "static" / "vendor"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--no-sandbox", "--disable-gpu"]}


@pytest.fixture(scope="session")
def e2e_app(app):
    """A second app on the same (already migrated) database, with CSRF protection on."""
    application = make_app(WTF_CSRF_ENABLED=True)
    yield application
    with application.app_context():
        db.engine.dispose()


def _test_assets(application):
    """The WSGI app the live server runs: the app, plus axe-core at AXE_URL. The app's own
    vendor files must be there (`make test` runs `make assets`): without them the pages
    would be unstyled, so the tests fail rather than paper over it."""
    assert (VENDOR / "bootstrap" / "bootstrap.min.css").exists(), "run `make assets` first"
    return SharedDataMiddleware(application, {AXE_URL: str(AXE)}, cache=False)


@pytest.fixture(scope="session")
def live_server(e2e_app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, _test_assets(e2e_app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    # absolute links (QR codes, calendar feeds) name the public address: here, this server
    e2e_app.config["PUBLIC_URL"] = url
    yield url
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    return live_server


@pytest.fixture(scope="session")
def results_dir(pytestconfig) -> Path:
    """Where screenshots go: pytest-playwright's --output folder (emptied at session start)."""
    path = Path(pytestconfig.getoption("--output")).absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path


def banned_number_ending_in_x() -> str:
    for seq in range(1, 1000):
        number = id_number("320102", "19870412", seq)
        if number.endswith("X"):
            return number
    raise AssertionError("no sequence number gives check character X")


@dataclass
class E2EWorld:
    org_id: int
    banned_id: str
    banned_name: str


@pytest.fixture()
def e2e_world(app) -> Iterator[E2EWorld]:
    """The conftest world plus one lifetime ban on a number ending in X; emptied afterwards."""
    with app.app_context():
        registry.ensure_reference_data()
        world = build_world()
        banned_id = banned_number_ending_in_x()
        registry.record_ban(DEMO, id_number=banned_id, name="禁业者", kind="lifetime",
                            starts_on=local_today(), ends_on=None, reason="虐待婴幼儿")
        db.session.commit()
        data = E2EWorld(org_id=world.inst.id, banned_id=banned_id, banned_name="禁业者")
    try:
        yield data
    finally:
        with app.app_context():
            db.session.rollback()
            _empty_database()
            registry.ensure_reference_data()
            db.session.commit()
