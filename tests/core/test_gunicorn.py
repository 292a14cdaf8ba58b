"""The app served by gunicorn with the repository's gunicorn.conf.py: it answers /healthz, and its
log lines on stderr are JSON with the request id the proxy sent."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import database_url

ROOT = Path(__file__).resolve().parent.parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_serves_the_app_with_json_logs(app, tmp_path):
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "DATABASE_URL": database_url(), "LMS_BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": "1", "LMS_JOBS_EAGER": "1", "LMS_INSTANCE_PATH": str(tmp_path)}
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "wsgi:app"], cwd=ROOT,
                                  env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz",
                                                 headers={"X-Request-ID": "lb-check-42"})
                with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                    assert response.status == 200
                    assert response.headers["X-Request-ID"] == "lb-check-42"
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(30)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    served = [line for line in lines if line.get("request_id") == "lb-check-42"]
    assert served and served[0]["path"] == "/healthz" and served[0]["status"] == 200
    assert any(line["logger"] == "gunicorn.error" for line in lines)  # gunicorn's own, as JSON
