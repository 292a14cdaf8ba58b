"""Sign-in, lock-out, server-side session ending, redirects, headers, CSRF, rate limits."""

from datetime import timedelta

import pytest

from lms import create_app
from lms.auth import service
from lms.auth.models import User
from lms.core.clock import utc_now
from lms.core.models import AuditLog
from lms.extensions import db
from tests.conftest import PASSWORD, database_url, login, make_app


def test_staff_sign_in_by_username(client, world):
    response = login(client, "inst_admin")
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_caregiver_signs_in_by_mobile_or_identity_number(client, world):
    assert login(client, "139 1234 5678").status_code == 302
    client.post("/logout")
    number = world.staff.id_number
    assert login(client, number.lower()).status_code == 302
    client.post("/logout")
    assert login(client, " " + number[:6] + " " + number[6:]).status_code == 302


def _login_error(client, identifier):
    page = login(client, identifier, "wrong-password1")
    assert page.status_code == 200
    return page.get_data(as_text=True).split('id="login-error">')[1].split("<")[0]


@pytest.mark.parametrize("known", ["inst_admin", "13912345678"])
def test_unknown_and_known_accounts_get_the_same_answers(client, world, known):
    """No account oracle: a wrong password for an account that exists reads exactly like a
    name that has no account, at every attempt, through to the lock-out."""
    unknown = "nobody_here" if not known.isdigit() else "13900000000"
    for attempt in range(1, 8):
        for_known, for_unknown = _login_error(client, known), _login_error(client, unknown)
        assert for_known == for_unknown, attempt
        assert "left" not in for_known
        assert ("Too many failed sign-ins" in for_known) == (attempt >= 5), attempt
    assert "Try again in 15 minutes" in for_known


def test_five_failures_lock_the_account_for_fifteen_minutes(client, world):
    for _ in range(4):
        login(client, "inst_admin", "wrong-password1")
    page = login(client, "inst_admin", "wrong-password1").get_data(as_text=True)
    assert "locked" in page and "15 minutes" in page
    # even the right password is refused while locked, and the page says so plainly
    page = login(client, "inst_admin").get_data(as_text=True)
    assert "locked" in page
    assert client.get("/admin/users").status_code in (302, 401)
    user = db.session.get(User, world.users["inst_admin"].id)
    db.session.refresh(user)
    assert user.locked_until > utc_now() + timedelta(minutes=14)
    # after the lock expires, the right password works
    user.locked_until = utc_now() - timedelta(seconds=1)
    db.session.commit()
    assert login(client, "inst_admin").status_code == 302


def test_logout_ends_the_session_on_the_server(app, world):
    client = app.test_client()
    login(client, "inst_admin")
    cookie = client.get_cookie("lms_session").value
    client.post("/logout")
    thief = app.test_client()
    thief.set_cookie("lms_session", cookie)
    assert thief.get(f"/institutions/{world.inst.id}/staff").status_code == 302  # to login


def test_password_change_ends_other_sessions(app, world):
    first, second = app.test_client(), app.test_client()
    login(first, "inst_admin")
    login(second, "inst_admin")
    response = first.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "Another-pass9", "confirm": "Another-pass9"})
    assert response.status_code == 302
    assert first.get(f"/institutions/{world.inst.id}/staff").status_code == 200
    assert second.get(f"/institutions/{world.inst.id}/staff").status_code == 302


def test_disabling_an_account_ends_its_sessions(app, world):
    victim = app.test_client()
    login(victim, "inst_admin")
    admin = app.test_client()
    login(admin, "admin")
    admin.post(f"/admin/users/{world.users['inst_admin'].id}/enabled", data={"enable": "0"})
    assert victim.get(f"/institutions/{world.inst.id}/staff").status_code == 302
    assert "disabled" in login(app.test_client(), "inst_admin").get_data(as_text=True)


@pytest.mark.parametrize("target, expected", [
    ("/admin/users", "/admin/users"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
])
def test_redirect_after_login_only_to_our_paths(client, world, target, expected):
    response = client.post("/login", query_string={"next": target},
                           data={"identifier": "admin", "password": PASSWORD})
    assert response.headers["Location"] == expected


def test_initial_password_must_be_changed_first(client, world):
    user = db.session.get(User, world.users["caregiver"].id)
    password = service.issue_one_time_password(world.users["admin"], user)
    db.session.commit()
    response = login(client, "13912345678", password)
    assert response.headers["Location"] == "/account/password"
    assert client.get("/me").headers["Location"] == "/account/password"
    bad = client.post("/account/password", data={
        "current_password": password, "new_password": "short", "confirm": "short"})
    assert "at least 8 characters" in bad.get_data(as_text=True)
    client.post("/account/password", data={
        "current_password": password, "new_password": "Mine-2026x", "confirm": "Mine-2026x"})
    assert client.get("/me").status_code == 200
    client.post("/logout")
    assert login(client, "13912345678", password).status_code == 200  # the one-time one is gone
    assert login(client, "13912345678", "Mine-2026x").status_code == 302


def test_admin_reset_issues_a_new_one_time_password(client, world, login_as):
    login_as("admin")
    page = client.post(f"/admin/users/{world.users['caregiver'].id}/reset-password")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    password = text.split('id="initial-password">')[1].split("<")[0]
    assert len(password) == 10
    other = client.application.test_client()
    assert login(other, world.staff.id_number, PASSWORD).status_code == 200  # old one dead
    assert login(other, world.staff.id_number, password).headers["Location"] == "/account/password"


def test_admin_creates_a_staff_account(client, world, login_as):
    login_as("admin")
    page = client.post("/admin/users/new", data={
        "username": "hr2", "display_name": "人社审核员二", "role": "hr_reviewer",
        "organisation_id": str(world.hr.id), "district_id": "0"})
    assert page.status_code == 200 and 'id="initial-password"' in page.get_data(as_text=True)
    missing_org = client.post("/admin/users/new", data={
        "username": "hr3", "display_name": "x", "role": "hr_reviewer", "organisation_id": "0",
        "district_id": "0"})
    assert "acts for an organisation" in missing_org.get_data(as_text=True)


def test_security_headers(client, world):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.get_data(as_text=True)  # no inline script anywhere
    assert ' style="' not in response.get_data(as_text=True)


def test_session_cookie_flags(client, world):
    response = login(client, "admin")
    cookie = next(v for k, v in response.headers.items()
                  if k == "Set-Cookie" and v.startswith("lms_session"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_flag_in_production_config(monkeypatch):
    monkeypatch.delenv("LMS_COOKIE_SECURE", raising=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url()})
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_csrf_is_required_on_every_form(world):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    response = client.post("/login", data={"identifier": "admin", "password": PASSWORD})
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    ok = client.post("/login", data={"identifier": "admin", "password": PASSWORD,
                                     "csrf_token": token})
    assert ok.status_code == 302


def test_login_is_rate_limited_per_address(world):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    codes = [login(client, f"nobody{i}", "x").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    assert client.get("/login").status_code == 200  # only POSTs count


def test_failed_logins_are_audited(client, world):
    login(client, "inst_admin", "bad-password1")
    assert db.session.query(AuditLog).filter_by(action="auth.login_failed").count() == 1


@pytest.mark.parametrize("name", ["13912345678", "11010519491231002X", "11010519491231002x"])
def test_staff_names_never_shadow_a_caregivers_sign_in(world, name):
    from lms.core.errors import DomainError

    with pytest.raises(DomainError, match="cannot be only digits"):
        service.create_staff_user(world.users["admin"], username=name, display_name="x",
                                  role="admin")
