"""For a load balancer: /healthz (the process answers, nothing else touched) and /readyz (the
database, Redis when the jobs use it, wkhtmltopdf); for operators: JSON log lines with the
request id and the user id, and never an identity number, a mobile or a password."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from lms.core import health, logs
from tests.conftest import make_app
from tests.factories import id_number
from tests.helpers import statements_sent


def test_healthz_answers_without_the_database(client):
    with statements_sent() as statements:
        response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert statements == []


def test_readyz_checks_the_database_and_wkhtmltopdf(client, monkeypatch):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {
        "database": {"ok": True}, "redis": {"ok": True, "used": False},
        "wkhtmltopdf": {"ok": True}}}
    monkeypatch.setattr(health.shutil, "which", lambda name: None)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
    assert response.get_json()["checks"]["wkhtmltopdf"] == {"ok": False}


def test_readyz_is_unavailable_while_the_jobs_redis_does_not_answer(app):
    down = make_app(JOBS_EAGER=False, CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    try:
        response = down.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["checks"]["redis"] == {"ok": False, "used": True}
        assert response.get_json()["checks"]["database"] == {"ok": True}
    finally:
        app.extensions["celery"].set_default()
    up = make_app(JOBS_EAGER=False, CELERY_BROKER_URL="redis://127.0.0.1:6379/15")
    try:
        assert up.test_client().get("/readyz").get_json()["checks"]["redis"] == {
            "ok": True, "used": True}
    finally:
        app.extensions["celery"].set_default()


def test_each_response_carries_its_request_id(client):
    given = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a-0001"})
    assert given.headers["X-Request-ID"] == "lb-7f3a-0001"
    made = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    assert client.get("/healthz").headers["X-Request-ID"] != made.headers["X-Request-ID"]
    # a header that could forge log lines is replaced
    forged = client.get("/healthz", headers={"X-Request-ID": "x\" level=ERROR"})
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["X-Request-ID"])


@pytest.fixture()
def log_lines():
    """Every log line the app writes during the test, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.LmsJsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


def test_log_lines_are_json_with_request_and_user_but_no_identity_number(world, login_as,
                                                                         log_lines):
    client = login_as("inst_admin")
    number = world.staff.id_number
    response = client.post(f"/institutions/{world.inst.id}/staff/find",
                           data={"id_number": number, "password": "hunter2-secret"},
                           headers={"X-Request-ID": "req-find-1"})
    assert response.status_code == 302
    client.post(f"/institutions/{world.inst.id}/staff/find", data={"id_number": "3201021990"})
    # something logs a number by mistake: it is masked, the password field hidden
    with client.application.test_request_context("/"):
        logging.getLogger("lms.test").warning("looked up %s, mobile %s", number, "13912345678",
                                              extra={"password": "hunter2-secret"})
    lines = log_lines()
    text = json.dumps(lines, ensure_ascii=False)
    assert number not in text and number.lower() not in text
    assert "13912345678" not in text and "hunter2-secret" not in text
    found = [line for line in lines if line.get("request_id") == "req-find-1"]
    assert found and found[-1]["logger"] == "lms.request"
    assert found[-1]["user_id"] == world.users["inst_admin"].id
    assert found[-1]["status"] == 302 and found[-1]["path"].endswith("/staff/find")
    assert {"time", "level", "message"} <= set(found[-1])
    mistake = next(line for line in lines if line["logger"] == "lms.test")
    assert number[:4] + "**********" + number[-4:] in mistake["message"]
    assert "139****5678" in mistake["message"] and mistake["password"] == "[hidden]"


def test_scrub_masks_identity_numbers_inside_structures():
    number = id_number("320102", "19900307", 2)
    assert logs.scrub({"who": [f"id={number}"], "token": "abc"}) == {
        "who": [f"id={number[:4]}**********{number[-4:]}"], "token": "[hidden]"}
