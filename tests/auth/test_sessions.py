"""Sessions: the idle timeout (staff shorter than caregivers), Clear-Site-Data on sign-out and
the __Host- cookie prefix over HTTPS."""

from datetime import UTC, timedelta

import time_machine

from lms.core import settings
from lms.core.actors import DEMO
from lms.core.clock import local_today, utc_now
from lms.extensions import db
from tests.conftest import login, make_app


def _later(minutes: int):
    return time_machine.travel((utc_now() + timedelta(minutes=minutes)).replace(tzinfo=UTC),
                               tick=True)


def _signed_in(client) -> bool:
    response = client.get("/")
    return 'id="user-menu"' in response.get_data(as_text=True)


def test_staff_are_signed_out_after_thirty_idle_minutes(client, world, login_as):
    login_as("regulator")
    assert client.get("/registry/lookup").status_code == 200
    with _later(29):
        assert client.get("/registry/lookup").status_code == 200  # activity: the clock restarts
        with _later(29):
            assert client.get("/registry/lookup").status_code == 200
            with _later(31):
                response = client.get("/registry/lookup")
                assert response.status_code == 302
                assert response.headers["Location"].startswith("/login?next=")
                assert "without activity" in client.get("/login").get_data(as_text=True)
                assert not _signed_in(client)


def test_caregivers_may_stay_idle_longer(client, world, login_as):
    login_as(world.staff.mobile)
    with _later(60):
        assert _signed_in(client)  # a staff member would be out by now
        with _later(121):
            assert not _signed_in(client)


def test_the_idle_limit_is_a_setting(client, world, login_as):
    settings.set_setting(DEMO, "auth.idle_minutes_staff", "10", local_today())
    db.session.commit()
    login_as("inst_admin")
    with _later(11):
        assert not _signed_in(client)


def test_signing_out_clears_the_sites_data(client, world, login_as):
    login_as("inst_admin")
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Clear-Site-Data"] == '"cache", "cookies", "storage"'
    # and only there: an ordinary page keeps the browser's data
    assert "Clear-Site-Data" not in client.get("/login").headers


def test_the_session_cookie_takes_the_host_prefix_over_https(world):
    secure = make_app(SESSION_COOKIE_SECURE=True)
    client = secure.test_client()
    response = client.post("/login", data={"identifier": "inst_admin", "password": "Passw0rd-test"},
                           base_url="https://localhost")
    assert response.status_code == 302
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "lms_session" in c)
    assert cookie.startswith("__Host-lms_session=")
    parts = {p.strip().split("=")[0].lower() for p in cookie.split(";")}
    assert {"secure", "httponly"} <= parts and "domain" not in parts
    assert "Path=/" in cookie
    assert client.get("/", base_url="https://localhost").status_code == 200
    assert 'id="user-menu"' in client.get("/", base_url="https://localhost").get_data(as_text=True)


def test_plain_http_keeps_the_plain_cookie_name(client, world):
    response = login(client, "inst_admin")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "lms_session" in c)
    assert cookie.startswith("lms_session=")
