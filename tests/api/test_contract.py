"""The contract around the answers: tokens, methods, bad requests as problem documents in the
reader's language, rate limits, the call log (without identity numbers), no cookies."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from lms.api.models import ApiCall, ApiToken
from lms.core.clock import utc_now
from lms.extensions import db
from tests.api.conftest import bearer
from tests.api.test_endpoints import problem
from tests.conftest import make_app

GETS = ["/api/v1/institutions/{inst}/compliance", "/api/v1/districts/320102/compliance",
        "/api/v1/certificates/abc", "/api/v1/bans", "/api/v1/certificate-status"]


def _urls(world):
    return [u.format(inst=world.inst.id) for u in GETS]


# --- tokens ---------------------------------------------------------------------------------------


def test_no_usable_token_is_a_401_problem(client, world, tokens):
    good = tokens["city"]
    wrong_secret = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer nonsense"}, bearer(wrong_secret)):
        for url in _urls(world):
            answer = client.get(url, headers=headers)
            problem(answer, 401, "unauthorized")
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        problem(client.post("/api/v1/persons/status", json={"id_number": world.staff.id_number},
                            headers=headers), 401, "unauthorized")


def test_an_expired_or_revoked_token_stops_working(client, world, tokens):
    url = f"/api/v1/institutions/{world.inst.id}/compliance"
    assert client.get(url, headers=bearer(tokens["city"])).status_code == 200
    token = db.session.scalar(select(ApiToken).where(ApiToken.prefix == tokens["city"].split("_")[1]))
    token.expires_at = utc_now() - timedelta(seconds=1)
    db.session.commit()
    problem(client.get(url, headers=bearer(tokens["city"])), 401, "unauthorized")
    token = db.session.scalar(select(ApiToken).where(ApiToken.prefix == tokens["xuanwu"].split("_")[1]))
    token.revoked_at = utc_now()
    db.session.commit()
    problem(client.get(url, headers=bearer(tokens["xuanwu"])), 401, "unauthorized")


def test_a_session_is_no_api_credential(client, world, login_as):
    login_as("admin")
    problem(client.get(f"/api/v1/institutions/{world.inst.id}/compliance"), 401, "unauthorized")


# --- methods --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_the_api_is_read_only(client, world, tokens, method):
    for url in _urls(world):
        answer = client.open(url, method=method, headers=bearer(tokens["city"]), json={})
        problem(answer, 405, "method-not-allowed")
        assert answer.headers["Allow"] == "GET, HEAD"
    if method != "POST":
        answer = client.open("/api/v1/persons/status", method=method, headers=bearer(tokens["city"]))
        problem(answer, 405, "method-not-allowed")
        assert answer.headers["Allow"] == "POST"
    problem(client.get("/api/v1/persons/status", headers=bearer(tokens["city"])), 405,
            "method-not-allowed")


def test_head_answers_like_get_without_a_body(client, world, tokens):
    answer = client.head(f"/api/v1/institutions/{world.inst.id}/compliance", headers=bearer(tokens["city"]))
    assert answer.status_code == 200 and answer.data == b""


# --- bad requests ---------------------------------------------------------------------------------


BAD_BODIES = [
    ("not json", {"data": "id_number=1", "content_type": "application/json"}),
    ("a form", {"data": {"id_number": "11010519491231002X"}}),
    ("an array", {"json": ["11010519491231002X"]}),
    ("a string", {"json": "11010519491231002X"}),
    ("empty", {"json": {}}),
    ("unknown field", {"json": {"id_number": "11010519491231002X", "name": "张三"}}),
    ("a number", {"json": {"id_number": 110105194912310020}}),
    ("a huge number", {"data": '{"id_number": ' + "9" * 5000 + "}", "content_type": "application/json"}),
    ("a huge float", {"data": '{"id_number": 1e999}', "content_type": "application/json"}),
    ("null", {"json": {"id_number": None}}),
    ("a boolean", {"json": {"id_number": True}}),
    ("an object", {"json": {"id_number": {"$ne": ""}}}),
    ("a bad check digit", {"json": {"id_number": "110105194912310021"}}),
    ("too long", {"json": {"id_number": "1" * 10000}}),
]


@pytest.mark.parametrize("case", BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_a_bad_body_is_a_400_problem(client, world, tokens, case):
    _name, kwargs = case
    answer = client.post("/api/v1/persons/status", headers=bearer(tokens["city"]), **kwargs)
    body = problem(answer, 400, "bad-request")
    assert body["detail"]


def test_the_problem_names_the_field_and_never_echoes_the_input(client, world, tokens):
    number = world.staff.id_number
    body = client.post("/api/v1/persons/status", headers=bearer(tokens["city"]),
                       json={"id_number": number, "extra": number}).get_json()
    assert body["errors"] == [{"field": "extra", "message": "extra is not a field of this request."}]
    bad = number[:-1] + ("0" if number[-1] != "0" else "1")
    text = client.post("/api/v1/persons/status", headers=bearer(tokens["city"]),
                       json={"id_number": bad}).get_data(as_text=True)
    assert bad not in text and "check" in text.lower()


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=99999999999999999999999",
                                   "limit=abc", "cursor=%00", "changed_since=yesterday",
                                   "unknown=1"])
def test_bad_query_arguments_are_400_problems(client, world, tokens, query):
    problem(client.get(f"/api/v1/bans?{query}", headers=bearer(tokens["feed"])), 400, "bad-request")


# --- language -------------------------------------------------------------------------------------


@pytest.mark.parametrize("language, title", [
    ("zh-CN,zh;q=0.9", "需要有效的 API 令牌。"),
    ("zh-TW", "需要有效的 API 權杖。"),
    ("en-US,en;q=0.8", "A valid API token is required."),
])
def test_problem_titles_follow_accept_language(client, world, language, title):
    body = client.get("/api/v1/bans", headers={"Accept-Language": language}).get_json(force=True)
    assert body["title"] == title
    # the type is the same whatever the language: it is what programs compare
    assert body["type"].endswith("/api/v1/problems/unauthorized")


def test_a_field_error_is_in_the_readers_language(client, world, tokens):
    body = client.post("/api/v1/persons/status", json={"id_number": "1234"},
                       headers=bearer(tokens["city"], **{"Accept-Language": "zh-CN"})).get_json()
    assert body["title"] == "请求无效。"
    assert "18" in body["errors"][0]["message"] and "identity" not in body["errors"][0]["message"]


# --- limits, logs, cookies ------------------------------------------------------------------------


def test_each_token_has_its_own_rate_limit(app, client, world, tokens):
    url = f"/api/v1/institutions/{world.inst.id}/compliance"
    app.config["API_RATE_LIMIT"] = "3 per minute"
    try:
        for _ in range(3):
            assert client.get(url, headers=bearer(tokens["xuanwu"])).status_code == 200
        answer = client.get(url, headers=bearer(tokens["xuanwu"]))
        problem(answer, 429, "too-many-requests")
        assert "Retry-After" in answer.headers
        # another token is another budget
        assert client.get(url, headers=bearer(tokens["city"])).status_code == 200
    finally:
        app.config.pop("API_RATE_LIMIT")


def test_every_call_is_logged_without_the_identity_number(client, world, tokens, caplog):
    number = world.staff.id_number
    caplog.set_level(logging.DEBUG)
    assert client.post("/api/v1/persons/status", json={"id_number": number},
                       headers=bearer(tokens["xuanwu"])).status_code == 200
    assert client.post("/api/v1/persons/status", json={"id_number": world.staff_other.id_number},
                       headers=bearer(tokens["xuanwu"])).status_code == 404
    assert client.post("/api/v1/persons/status", json={"id_number": number + "1"},
                       headers=bearer(tokens["xuanwu"])).status_code == 400
    assert client.post("/api/v1/persons/status", json={"id_number": number}).status_code == 401
    db.session.expire_all()
    calls = list(db.session.scalars(select(ApiCall).order_by(ApiCall.id)))
    assert [(c.endpoint, c.status) for c in calls] == [("api.v1.person_status", s)
                                                       for s in (200, 404, 400, 401)]
    assert calls[0].client_id is not None and calls[-1].client_id is None
    assert all(c.duration_ms >= 0 for c in calls)
    rows = " ".join(f"{c.endpoint} {c.method} {c.status}" for c in calls)
    logged = caplog.text + rows
    # each call is also a line of the request log, naming the client as its user
    lines = [r for r in caplog.records
             if r.name == "lms.request" and getattr(r, "path", "") == "/api/v1/persons/status"]
    assert [r.status for r in lines] == [200, 404, 400, 401]
    assert lines[0].user_id.startswith("api:") and lines[-1].user_id == ""
    for secret in (number, world.staff_other.id_number, number.lower(), number[6:14]):
        assert secret not in logged
    token = db.session.scalar(select(ApiToken).where(ApiToken.prefix == tokens["xuanwu"].split("_")[1]))
    assert token.last_used_at is not None


def test_api_answers_set_no_cookie(client, world, tokens):
    for answer in (client.get("/api/v1/bans", headers=bearer(tokens["feed"])),
                   client.get("/api/v1/bans"),
                   client.post("/api/v1/persons/status", json={"id_number": world.staff.id_number},
                               headers=bearer(tokens["city"]))):
        assert "Set-Cookie" not in answer.headers


def test_the_api_needs_no_csrf_token_but_the_admin_page_does(world, tokens):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    answer = client.post("/api/v1/persons/status", json={"id_number": world.staff.id_number},
                         headers=bearer(tokens["city"]))
    assert answer.status_code == 200
    from tests.conftest import login

    login(client, "admin")  # refused without its token: the sign-in form is protected too
    assert client.post("/admin/api-clients", data={"name": "x"}).status_code in (302, 400)


def test_a_failure_is_a_500_problem_and_a_broken_answer_is_never_sent(world, tokens, monkeypatch):
    from lms.api import service

    app = make_app(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    client = app.test_client()
    url = f"/api/v1/institutions/{world.inst.id}/compliance"
    monkeypatch.setattr(service, "institution_compliance",
                        lambda actor, org: (_ for _ in ()).throw(RuntimeError("boom")))
    problem(client.get(url, headers=bearer(tokens["city"])), 500, "server-error")
    # an answer that does not match its schema (a field the document does not have) is
    # refused by the schema it is serialised with, not sent
    monkeypatch.setattr(service, "certificate_feed", lambda *a: service.Page(
        [{"id": 1, "surprise": True}], None, False))
    problem(client.get("/api/v1/certificate-status", headers=bearer(tokens["feed"])), 500,
            "server-error")


def test_a_token_is_marked_used_to_the_minute_and_every_call_logged(client, world, tokens):
    url = f"/api/v1/institutions/{world.inst.id}/compliance"
    prefix = tokens["city"].split("_")[1]

    def token():
        db.session.expire_all()
        return db.session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))

    assert client.get(url, headers=bearer(tokens["city"])).status_code == 200
    first = token().last_used_at
    assert first is not None
    long_ago = first - timedelta(minutes=5)
    token().last_used_at = long_ago
    db.session.commit()
    assert client.get(url, headers=bearer(tokens["city"])).status_code == 200
    marked = token().last_used_at
    assert marked > long_ago  # more than a minute since: marked again
    token().last_used_at = marked - timedelta(seconds=30)
    db.session.commit()
    assert client.get(url, headers=bearer(tokens["city"])).status_code == 200
    assert token().last_used_at == marked - timedelta(seconds=30)  # within the minute: kept
    assert client.get(f"/api/v1/institutions/{world.base.id}/compliance",
                      headers=bearer(tokens["city"])).status_code == 404
    statuses = list(db.session.scalars(select(ApiCall.status).where(
        ApiCall.token_id == token().id).order_by(ApiCall.id)))
    assert statuses == [200, 200, 200, 404]  # answered and refused calls alike


def _in_transaction(dbapi_connection) -> bool:
    info = getattr(dbapi_connection, "info", None)  # psycopg's; sqlite3 has in_transaction
    if info is not None and hasattr(info, "transaction_status"):
        return info.transaction_status.name != "IDLE"
    return dbapi_connection.in_transaction


def _autocommit(dbapi_connection) -> bool:
    # psycopg's flag; sqlite3's isolation_level None is its autocommit
    if hasattr(dbapi_connection, "autocommit") and hasattr(dbapi_connection, "info"):
        return dbapi_connection.autocommit
    return dbapi_connection.isolation_level is None


@contextmanager
def _connections_used() -> Iterator[list[tuple[str, object, bool, bool]]]:
    """Each statement sent inside the block, as it left its connection: (its first word, the
    driver's connection, in a transaction?, in AUTOCOMMIT?)."""
    seen: list[tuple[str, object, bool, bool]] = []

    def after(conn, _cursor, statement, *_args):
        raw = conn.connection.driver_connection
        seen.append((statement.split()[0].upper(), raw, _in_transaction(raw), _autocommit(raw)))

    event.listen(db.engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(db.engine, "after_cursor_execute", after)


def test_a_call_holds_no_transaction_open_and_its_log_commits_at_once(client, world, tokens):
    """The API only reads: each statement of a call commits by itself (no BEGIN and COMMIT
    round trips, no transaction held across the call), the call's log included; a problem
    answer finds no transaction to roll back."""
    url = f"/api/v1/institutions/{world.inst.id}/compliance"
    not_an_institution = f"/api/v1/institutions/{world.base.id}/compliance"
    db.session.commit()
    with _connections_used() as answered:
        assert client.get(url, headers=bearer(tokens["city"])).status_code == 200
    with _connections_used() as refused:
        problem(client.get(not_an_institution, headers=bearer(tokens["city"])), 404, "not-found")
    opened = [(word, in_transaction) for word, _raw, in_transaction, _auto in answered + refused]
    assert ("INSERT", False) in opened and ("SELECT", False) in opened
    assert not any(in_transaction for _word, in_transaction in opened), opened
    db.session.expire_all()
    assert list(db.session.scalars(select(ApiCall.status).order_by(ApiCall.id)))[-2:] == [200, 404]


def test_the_connection_goes_back_to_the_pool_in_transactions_again(client, world, tokens):
    """The next user of a connection an API call had in AUTOCOMMIT (a page, a job) gets
    transactions again: its writes are all or nothing."""
    url = f"/api/v1/institutions/{world.inst.id}/compliance"
    db.session.commit()
    with _connections_used() as used:
        assert client.get(url, headers=bearer(tokens["city"])).status_code == 200
    assert used and all(auto for *_rest, auto in used)  # in the call: AUTOCOMMIT
    assert not any(_autocommit(raw) for _word, raw, *_rest in used)  # back in the pool
