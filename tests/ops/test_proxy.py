"""Behind a reverse proxy (LMS_PROXIES): the client's address is the one the proxy forwards,
so each client has its own sign-in limit and the audit log names it; without a configured
proxy a forged X-Forwarded-For changes nothing."""

from __future__ import annotations

import uuid

from lms.core.models import AuditLog
from lms.extensions import db
from tests.conftest import make_app

PROXY = {"REMOTE_ADDR": "10.9.8.7"}  # nginx, as the app sees it


def _attempt(client, forwarded: str, identifier: str = "", proto: str = "http"):
    return client.post("/login", data={"identifier": identifier or f"nobody-{uuid.uuid4().hex[:6]}",
                                       "password": "wrong-password"},
                       headers={"X-Forwarded-For": forwarded, "X-Forwarded-Proto": proto},
                       environ_base=PROXY)


def test_behind_one_proxy_each_client_has_its_own_limit(world):
    app = make_app(PROXIES=1, LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    first, second = f"203.0.113.{uuid.uuid4().int % 200 + 1}", "198.51.100.23"
    assert [_attempt(client, first).status_code for _ in range(3)] == [200, 200, 429]
    # another citizen behind the same proxy is not locked out by the first one
    assert _attempt(client, second, "inst_admin").status_code == 200
    # a client cannot prepend addresses of its own: only the proxy's entry counts
    assert _attempt(client, f"1.2.3.4, {first}").status_code == 429
    with app.app_context():
        origins = {row.origin for row in db.session.query(AuditLog).filter_by(
            action="auth.login_failed")}
    assert second in origins and PROXY["REMOTE_ADDR"] not in origins


def _language_cookie(app, proto: str) -> str:
    response = app.test_client().post("/lang/en", headers={
        "X-Forwarded-Proto": proto, "X-Forwarded-For": "198.51.100.7"}, environ_base=PROXY)
    return response.headers["Set-Cookie"]


def test_https_at_the_proxy_is_https_for_the_app(world):
    """The language cookie is Secure exactly when the browser's connection is HTTPS."""
    assert "Secure" in _language_cookie(make_app(PROXIES=1), "https")
    assert "Secure" not in _language_cookie(make_app(PROXIES=1), "http")
    assert "Secure" not in _language_cookie(make_app(), "https")  # no proxy configured


def test_without_a_proxy_forwarded_headers_are_ignored(world):
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    direct = {"REMOTE_ADDR": f"192.0.2.{uuid.uuid4().int % 200 + 1}"}
    codes = [client.post("/login", data={"identifier": "nobody", "password": "x"},
                         headers={"X-Forwarded-For": f"203.0.113.{n}"},
                         environ_base=direct).status_code for n in range(3)]
    assert codes == [200, 200, 429], "a forged X-Forwarded-For does not dodge the limit"
