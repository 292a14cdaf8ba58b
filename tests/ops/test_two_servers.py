"""Two app servers, one database: two gunicorn instances on loopback ports serve one
PostgreSQL database and count rate limits in one Redis, as a city runs them behind a load
balancer. A user signs in on one and carries on on the other (CSRF on, as in production),
the sign-in limit is counted across both, and a setting an administrator changes through one
is in force on the other at once.

Needs PostgreSQL and Redis (`make test` provides both): without them this test fails."""

from __future__ import annotations

import re
import uuid

import pytest
import redis
import requests

from tests.conftest import PASSWORD
from tests.ops.servers import (
    REDIS,
    Gunicorn,
    create_database,
    csrf_token,
    drop_database,
    migrate_and_build_world,
    server_env,
)

LIMIT = 6  # sign-in attempts per address per hour, counted across every server


@pytest.fixture()
def two_servers():
    store = redis.Redis.from_url(REDIS, socket_connect_timeout=2)
    store.ping()  # no Redis on 127.0.0.1:6379: fail here, loudly
    prefix = f"lms-ops-{uuid.uuid4().hex}"
    url = create_database()  # no PostgreSQL: fails here
    servers = []
    try:
        migrate_and_build_world(url)
        env = server_env(url, RATELIMIT_KEY_PREFIX=prefix,
                         LMS_LOGIN_RATE_LIMIT=f"{LIMIT} per hour")
        servers.append(Gunicorn(env))
        servers.append(Gunicorn(env))
        yield servers
    finally:
        for server in servers:
            server.stop()
        for key in store.scan_iter(f"*{prefix}*"):
            store.delete(key)
        drop_database(url)


def _sign_in(browser: requests.Session, server: Gunicorn, identifier: str,
             password: str = PASSWORD) -> requests.Response:
    page = browser.get(f"{server.url}/login")
    assert page.status_code == 200
    return browser.post(f"{server.url}/login", allow_redirects=False, data={
        "csrf_token": csrf_token(page.text), "identifier": identifier, "password": password})


def _skills_required(browser: requests.Session, server: Gunicorn) -> str:
    page = browser.get(f"{server.url}/hours")
    assert page.status_code == 200
    found = re.search(r'data-testid="hours-skills">.*?/\s*([\d.]+)', page.text, re.S)
    assert found, page.text[:2000]
    return found.group(1)


def test_sign_in_on_one_server_continue_on_the_other(two_servers):
    one, other = two_servers
    admin = requests.Session()
    assert _sign_in(admin, one, "admin").status_code == 302                    # attempt 1

    # the signed cookie from one is a signed-in session on the other
    home = admin.get(f"{other.url}/admin/settings")
    assert home.status_code == 200 and "Sign in" not in home.text
    assert 'name="effective_from"' in home.text

    # a caregiver sees the city's 72 hours on the first server ...
    caregiver = requests.Session()
    assert _sign_in(caregiver, one, "13912345678").status_code == 302            # attempt 2
    assert float(_skills_required(caregiver, one)) == 72

    # ... the administrator changes the setting through the other server, with the form's
    # token taken from the page the first server rendered ...
    form = admin.get(f"{one.url}/admin/settings").text
    effective = re.search(r'name="effective_from"[^>]*value="([^"]+)"', form) or \
        re.search(r'value="([^"]+)"[^>]*name="effective_from"', form)
    saved = admin.post(f"{other.url}/admin/settings", allow_redirects=False, data={
        "csrf_token": csrf_token(form), "key": "hours.skills_required", "value": "60",
        "effective_from": effective.group(1), "district_id": "0", "note": "two servers"})
    assert saved.status_code == 302, saved.text[:2000]
    assert "The new value is recorded." in admin.get(f"{other.url}{saved.headers['Location']}").text

    # ... and it is in force on the first at once (no server keeps a copy)
    assert float(_skills_required(caregiver, one)) == 60
    assert float(_skills_required(caregiver, other)) == 60

    # a form posted without the session's token is refused on either server
    forged = admin.post(f"{one.url}/admin/settings", data={
        "csrf_token": "forged", "key": "hours.skills_required", "value": "1",
        "effective_from": effective.group(1), "district_id": "0"})
    assert forged.status_code == 400

    # the sign-in limit is one count across both servers: neither server alone sees more
    # than four attempts, yet the seventh of the hour is refused, on either
    stranger = requests.Session()
    statuses = [_sign_in(stranger, (other, one)[n % 2], f"nobody{n}", "wrong-password").status_code
                for n in range(LIMIT - 2)]                                     # attempts 3-6
    assert statuses == [200] * (LIMIT - 2)  # the form again, with "wrong password"
    assert _sign_in(stranger, other, "nobody-else", "wrong-password").status_code == 429
    assert _sign_in(stranger, one, "admin").status_code == 429

    # signing out on one ends the session on both, even for a copy of the old cookie
    stale = requests.Session()
    stale.cookies.update(admin.cookies)
    page = admin.get(f"{other.url}/admin/settings").text
    assert admin.post(f"{other.url}/logout", data={"csrf_token": csrf_token(page)},
                      allow_redirects=False).status_code == 302
    assert stale.get(f"{one.url}/admin/settings", allow_redirects=False).status_code == 302
