"""The request cycle: one commit when the view returns, a rollback when it raises; numbers in
URLs and query strings bounded to what the database can hold."""

import re

import pytest
from flask import abort
from sqlalchemy import func, select

from lms.core import audit
from lms.core.actors import system_actor
from lms.core.models import AuditLog
from lms.core.permissions import anyone, permission
from lms.core.web import DB_INT_MAX, BoundedIntConverter
from lms.extensions import db
from tests.conftest import PASSWORD, login, make_app

HUGE = "99999999999999999999999"  # beyond PostgreSQL's int8 and SQLite's 64-bit integers


def _count(action: str) -> int:
    return db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == action))


@pytest.fixture(scope="module")
def cycle_app():
    """An app with three extra views that write, then answer in different ways."""
    application = make_app(PROPAGATE_EXCEPTIONS=False)
    actor = system_actor("test:cycle")

    @application.post("/_cycle/<how>")
    @permission(anyone)
    def write_then(how):
        audit.record(actor, f"cycle.{how}")
        db.session.flush()
        if how == "refuse":
            return "refused, but what was done stands", 422
        if how == "abort":
            abort(409)
        if how == "raise":
            raise RuntimeError("a bug after the write")
        return "ok"

    return application


@pytest.mark.parametrize("how, status, kept", [
    ("ok", 200, True),
    ("refuse", 422, True),  # returned: the status code does not decide
    ("abort", 409, False),  # raised
    ("raise", 500, False),
])
def test_a_request_commits_when_its_view_returns(cycle_app, how, status, kept):
    response = cycle_app.test_client().post(f"/_cycle/{how}")
    assert response.status_code == status
    db.session.rollback()
    assert _count(f"cycle.{how}") == (1 if kept else 0)


def test_each_request_decides_for_itself_even_in_one_app_context(cycle_app):
    """Requests that share an app context (and so `g`) do not inherit the last one's verdict."""
    from flask.testing import FlaskClient

    with cycle_app.app_context():
        client = FlaskClient(cycle_app)
        assert client.post("/_cycle/ok").status_code == 200
        assert client.post("/_cycle/abort").status_code == 409
    db.session.rollback()
    assert _count("cycle.abort") == 0


# --- huge numbers -------------------------------------------------------------------------


def _int_rules(app):
    for rule in app.url_map.iter_rules():
        if any(isinstance(c, BoundedIntConverter) for c in rule._converters.values()):
            yield rule


def _url(rule, number: str) -> str:
    """The rule's path with `number` typed where it takes an int (not built by Werkzeug, which
    would parse the number first) and "x" elsewhere."""
    def fill(match):
        converter = rule._converters[match.group(1)]
        return number if isinstance(converter, BoundedIntConverter) else "x"

    return re.sub(r"<(?:[^>:]+:)?(\w+)>", fill, rule.rule)


def test_every_int_in_every_url_is_bounded(app):
    assert app.url_map.converters["int"] is BoundedIntConverter
    assert len(list(_int_rules(app))) > 40  # every blueprint's id routes use <int:…>


@pytest.mark.parametrize("number", [HUGE, "9" * 5000, str(DB_INT_MAX + 1), "١٢", "-1"])
def test_huge_numbers_in_urls_are_404_never_500(app, world, number):
    clients = {"anon": app.test_client(), "admin": app.test_client()}
    login(clients["admin"], "admin", PASSWORD)
    for rule in _int_rules(app):
        url = _url(rule, number)
        method = "get" if "GET" in rule.methods else "post"
        for who, client in clients.items():
            response = getattr(client, method)(url)
            assert response.status_code == 404, (url, who, response.status_code)


def test_the_largest_id_is_still_a_plain_404(client, world, login_as):
    login_as("admin")
    assert client.get(f"/institutions/{DB_INT_MAX}/staff").status_code == 404


QUERY = {"page": HUGE, "year": HUGE, "district": HUGE, "course": HUGE, "base": HUGE, "type": HUGE,
         "date": HUGE, "from": HUGE, "to": HUGE}


def _get_rules(app, world):
    ids = {"org_id": world.inst.id, "person_id": world.staff.id, "base_id": world.base.id}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        if set(rule.arguments) - set(ids):
            continue
        yield rule.build({k: ids[k] for k in rule.arguments}, append_unknown=False)[1]


@pytest.mark.parametrize("role", ["admin", "inst_admin", "hr_reviewer", "regulator", "base_staff",
                                  "caregiver"])
def test_huge_numbers_in_query_strings_are_400_never_500(app, world, role):
    client = app.test_client()
    identifier = world.users[role].username or world.staff.mobile
    assert login(client, identifier, PASSWORD).status_code == 302
    statuses = {}
    for url in _get_rules(app, world):
        response = client.get(url, query_string=QUERY)
        statuses[url] = response.status_code
        # the JSON API answers a bearer token, not a session: 401 (a problem document) there
        allowed = (200, 302, 400, 403, 404) + ((401,) if url.startswith("/api/v1/") else ())
        assert response.status_code in allowed, (url, response.status_code)
    if role == "admin":
        assert statuses["/admin/audit"] == 400 and statuses["/admin/users"] == 400


def test_garbage_in_a_number_argument_still_means_the_default(client, world, login_as):
    login_as("admin")
    assert client.get("/admin/audit?page=1e400").status_code == 200
    assert client.get("/admin/audit?page=abc").status_code == 200
    assert client.get("/admin/audit?page=2").status_code == 200
