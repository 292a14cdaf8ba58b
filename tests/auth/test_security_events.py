"""Security events: each refusal is recorded outside the request's transaction and survives its
rollback; administrators filter them; repeated refusals raise an alert; retention purges."""

import time
from datetime import timedelta

import pytest
from flask import abort
from sqlalchemy import func, insert, select

from lms.auth import service
from lms.auth.models import RememberedDevice, User
from lms.core import audit, settings
from lms.core.actors import DEMO, system_actor
from lms.core.clock import local_today, utc_now
from lms.core.errors import DomainError
from lms.core.models import AuditLog, Notification
from lms.core.permissions import anyone, permission
from lms.core.security import SecurityEvent, record_event
from lms.extensions import db
from tests.conftest import PASSWORD, login, make_app


def events(kind=None) -> list[SecurityEvent]:
    db.session.commit()  # end the test's read transaction: see what other connections wrote
    stmt = select(SecurityEvent).order_by(SecurityEvent.id)
    if kind:
        stmt = stmt.where(SecurityEvent.kind == kind)
    return list(db.session.scalars(stmt))


def test_a_403_is_recorded_with_who_where_and_what(client, world, login_as):
    login_as(world.staff.mobile)
    assert client.get("/admin/users", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    [event] = events("http.forbidden")
    assert event.user_id == world.users["caregiver"].id
    assert event.remote_addr == "10.1.2.3" and event.path == "/admin/users"
    assert event.subject == f"user:{event.user_id}"


def test_a_refusal_survives_the_rollback_of_a_request_that_had_written(world):
    """The request wrote (and holds SQLite's write lock) when the refusal is recorded; the
    request then rolls back: its own write is gone, the event is not, and nobody waited."""
    app = make_app()

    @app.post("/test-refusal")
    @permission(anyone)
    def refusal():
        audit.record(None, "test.written_then_refused", None, object_type="test")
        db.session.flush()
        record_event("test.refusal", detail={"why": "test"})
        abort(403)

    started = time.monotonic()
    response = app.test_client().post("/test-refusal")
    assert response.status_code == 403
    assert time.monotonic() - started < 3  # not the 5 s busy timeout: no one waited for itself
    assert [e.kind for e in events()] == ["test.refusal", "http.forbidden"]
    assert db.session.scalar(select(AuditLog).where(
        AuditLog.action == "test.written_then_refused")) is None


def test_an_event_kept_aside_is_written_when_the_transaction_rolls_back(world):
    db.session.add(AuditLog(action="test.pending", object_type="test", details={}))
    db.session.flush()  # this session now writes (on SQLite: holds the lock)
    record_event("test.kept_aside", detail={"n": 1})
    db.session.rollback()
    assert [e.kind for e in events()] == ["test.kept_aside"]
    assert events()[0].path == "cli"


def test_a_service_refusal_is_recorded(world):
    """PermissionDenied raised by a service behind a view that let the user through (another
    front door's rule) is recorded like the view's own 403."""
    from flask_login import current_user

    from lms.auth import second_factor
    from lms.core.permissions import signed_in as anyone_signed_in

    app = make_app()
    admin_id = world.users["admin"].id

    @app.post("/test-service-refusal")
    @permission(anyone_signed_in)
    def service_refusal():
        second_factor.reset_second_factor(current_user, db.session.get(User, admin_id))
        return "not reached"

    client = app.test_client()
    login(client, world.staff.mobile)
    assert client.post("/test-service-refusal").status_code == 403
    [event] = events("http.forbidden")
    assert event.user_id == world.users["caregiver"].id
    assert event.detail["reason"] == "You may not do that."


def test_a_csrf_failure_is_recorded(world):
    app = make_app(WTF_CSRF_ENABLED=True)
    response = app.test_client().post("/login", data={"identifier": "admin", "password": PASSWORD})
    assert response.status_code == 400
    [event] = events("http.csrf_failed")
    assert event.path == "/login" and event.user_id is None
    assert "CSRF" in event.detail["reason"]


def test_a_rate_limit_hit_is_recorded(world):
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    where = {"REMOTE_ADDR": "10.42.0.9"}
    statuses = [client.post("/login", data={"identifier": "nobody_x", "password": "x" * 12},
                            environ_base=where).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    [event] = events("http.rate_limited")
    assert event.remote_addr == "10.42.0.9" and event.path == "/login"


def test_failed_sign_ins_are_recorded_without_saying_which_accounts_exist(client, world):
    login(client, "inst_admin", "wrong-password1")
    login(client, "nobody_recorded", "wrong-password1")
    known, unknown = events("auth.login_failed")
    for event in (known, unknown):
        assert event.user_id is None and event.subject.startswith("name:")
        assert "inst_admin" not in str(event.detail) and "nobody" not in str(event.detail)
        assert set(event.detail) == set()
    assert known.subject != unknown.subject
    # the same name typed again counts against the same subject
    login(client, "INST_ADMIN", "wrong-password1")
    assert events("auth.login_failed")[-1].subject == known.subject


def test_failed_and_locked_sign_ins_survive_a_rollback(world):
    for _ in range(4):
        assert service.attempt_login("inst_admin", "wrong-password1").error is not None
    outcome = service.attempt_login("inst_admin", "wrong-password1")
    assert isinstance(outcome.error, service.AccountLocked)
    db.session.rollback()  # the failure counts are gone; the events are not
    assert len(events("auth.login_failed")) == 4
    assert len(events("auth.login_locked")) == 1
    assert db.session.get(User, world.users["inst_admin"].id).locked_until is None


def test_locked_sign_ins_are_recorded_over_http(client, world):
    for _ in range(6):  # a name of its own: unknown names are counted in the limiter's storage
        login(client, "nobody_locked_http", "wrong-password1")
    assert len(events("auth.login_locked")) == 2  # the attempt that locked, and one while locked


def test_administrators_filter_the_events(client, world, login_as):
    login(client, "regulator", "wrong-password1")
    login(client, "nobody_filtered", "wrong-password1")
    client.get("/admin/users", environ_base={"REMOTE_ADDR": "10.7.7.7"})  # anonymous: a redirect
    login_as(world.staff.mobile)
    client.get("/admin/users", environ_base={"REMOTE_ADDR": "10.7.7.7"})
    client.post("/logout")
    login_as("admin")

    def rows(**args):
        page = client.get("/admin/security-events", query_string=args)
        assert page.status_code == 200
        return page.get_data(as_text=True).split("<tbody>")[1].count("data-code=")

    assert rows() == 3
    assert rows(kind="auth.login_failed") == 2
    assert rows(kind="http.forbidden") == 1
    assert rows(account="regulator") == 1  # the name typed, found by its hash
    assert rows(account=world.staff.mobile) == 1  # the caregiver's 403
    assert rows(address="10.7.7.7") == 1
    today = local_today()
    assert rows(date_from=today.isoformat(), date_to=today.isoformat()) == 3
    assert rows(date_to=(today - timedelta(days=1)).isoformat()) == 0
    assert "No events." in client.get("/admin/security-events?kind=nothing").get_data(as_text=True)


def test_repeated_refusals_raise_an_alert_for_administrators(client, world):
    settings.set_setting(DEMO, "security.alert_threshold", "3", local_today())
    db.session.commit()
    where = {"REMOTE_ADDR": "10.66.6.6"}
    for name in ("a_one", "a_two", "a_three", "a_four"):
        client.post("/login", data={"identifier": name, "password": "wrong-password1"},
                    environ_base=where)
    db.session.commit()
    notes = list(db.session.scalars(select(Notification).where(Notification.kind == "security.alert_address")))
    assert [n.user_id for n in notes] == [world.users["admin"].id]  # once, at the threshold
    assert notes[0].params["who"] == "10.66.6.6"
    assert notes[0].link.startswith("/admin/security-events?address=")

    admin = make_app().test_client()
    login(admin, "admin")
    home = admin.get("/").get_data(as_text=True)
    assert 'id="security-alerts"' in home and "10.66.6.6" in home
    regulator = make_app().test_client()
    login(regulator, "regulator")
    assert 'id="security-alerts"' not in regulator.get("/").get_data(as_text=True)


def test_purge_keeps_recent_events_and_removes_expired_data(app, world):
    now = utc_now()
    table = SecurityEvent.__table__
    with db.engine.begin() as conn:
        conn.execute(insert(table), [
            {"kind": "test.old", "created_at": now - timedelta(days=400), "remote_addr": "",
             "path": "", "detail": {}},
            {"kind": "test.recent", "created_at": now - timedelta(days=200), "remote_addr": "",
             "path": "", "detail": {}}])
    user = db.session.get(User, world.users["regulator"].id)
    db.session.add_all([
        RememberedDevice(user_id=user.id, token_hash="a" * 64, expires_at=now - timedelta(days=1)),
        RememberedDevice(user_id=user.id, token_hash="b" * 64, expires_at=now + timedelta(days=5))])
    expired_user = db.session.get(User, world.users["hr_reviewer"].id)
    expired_user.password_hash = service.hash_one_time_password(
        "abc", issued_at=now - timedelta(days=30))
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["auth", "purge"])
    assert result.exit_code == 0, result.output
    assert "security_events: 1" in result.output
    assert [e.kind for e in events()] == ["test.recent"]  # 200 days: within the 12 months
    assert db.session.scalar(select(func.count()).select_from(RememberedDevice)) == 1
    assert db.session.get(User, expired_user.id).password_hash is None
    assert db.session.get(User, user.id).password_hash is not None
    # the audit log is kept (append-only); the purge itself is audited
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "auth.purged"))

    # six months is the floor: a shorter period cannot be set
    with pytest.raises(DomainError):
        settings.set_setting(DEMO, "security.event_retention_months", "5", local_today())
    settings.set_setting(DEMO, "security.event_retention_months", "6", local_today())
    db.session.commit()
    counts = service.purge_expired(system_actor("job:purge"))
    assert counts["security_events"] == 1 and events() == []
