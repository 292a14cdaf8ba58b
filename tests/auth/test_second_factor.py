"""The second factor: enrolment, codes at sign-in (wrong, reused, recovery), remembered
browsers, the grace period and forced enrolment, and the administrator's reset."""

from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, select

from lms.auth import second_factor
from lms.auth.models import RecoveryCode, RememberedDevice, SecondFactor, User
from lms.core.clock import utc_now
from lms.core.models import AuditLog
from lms.core.security import SecurityEvent
from lms.extensions import db
from tests.conftest import PASSWORD, login

EPOCH = datetime(1970, 1, 1)


def code(secret: str, steps: int = 0) -> str:
    """The authenticator app's code, `steps` 30-second steps from now."""
    step = int((utc_now() - EPOCH).total_seconds()) // 30 + steps
    return pyotp.TOTP(secret).generate_otp(step)


def enrol(user) -> tuple[str, list[str]]:
    """Set up a second factor for `user` as the enrolment page would (with the previous step's
    code, so sign-in tests can use this step's and the next)."""
    user = db.session.get(User, user.id)
    secret = second_factor.begin_enrolment(user).secret
    codes = second_factor.confirm_enrolment(user, code(secret, -1))
    db.session.commit()
    return secret, codes


def fresh(model, id_):
    db.session.commit()
    return db.session.get(model, id_)


def signed_in(client) -> bool:
    return client.get("/").status_code == 200 and 'id="user-menu"' in client.get("/").get_data(
        as_text=True)


def test_enrolment_shows_a_qr_code_and_needs_one_right_code(client, world, login_as):
    login_as("regulator")
    page = client.get("/account/second-factor").get_data(as_text=True)
    factor = db.session.scalar(select(SecondFactor).where(
        SecondFactor.user_id == world.users["regulator"].id))
    assert factor is not None and factor.confirmed_at is None
    assert 'src="data:image/svg+xml' in page  # the CSP allows img-src data:
    assert factor.secret[:4] in page.split('id="totp-secret">')[1]
    # reloading keeps the same secret (the app may have scanned it already)
    client.get("/account/second-factor")
    assert fresh(SecondFactor, factor.id).secret == factor.secret

    wrong = client.post("/account/second-factor", data={"code": "000000"})
    assert wrong.status_code == 200 and "This code is wrong" in wrong.get_data(as_text=True)
    assert fresh(SecondFactor, factor.id).confirmed_at is None

    done = client.post("/account/second-factor", data={"code": code(factor.secret)})
    page = done.get_data(as_text=True)
    assert done.status_code == 200 and 'id="recovery-codes"' in page
    shown = page.split('id="recovery-codes">')[1].split("</ul>")[0].count("<li>")
    assert shown == 10
    assert fresh(SecondFactor, factor.id).confirmed_at is not None
    stored = list(db.session.scalars(select(RecoveryCode.code_hash).where(
        RecoveryCode.user_id == world.users["regulator"].id)))
    assert len(stored) == 10
    first = page.split('id="recovery-codes">')[1].split("<li>")[1].split("</li>")[0]
    assert all(first not in h and first.replace("-", "") not in h for h in stored)  # hashed
    assert db.session.scalar(select(AuditLog).where(
        AuditLog.action == "auth.second_factor_enrolled")) is not None
    # enrolled: the page shows the status, not a new secret
    status = client.get("/account/second-factor").get_data(as_text=True)
    assert 'id="second-factor-status"' in status and 'id="totp-secret"' not in status


def test_sign_in_asks_for_the_code_refuses_a_wrong_one_and_a_reused_one(app, world):
    secret, _codes = enrol(world.users["regulator"])
    client = app.test_client()
    response = login(client, "regulator")
    assert response.status_code == 302 and response.headers["Location"] == "/login/code"
    assert not signed_in(client)  # the password alone signs no one in

    wrong = client.post("/login/code", data={"code": "123456" if code(secret) != "123456" else "654321"})
    assert wrong.status_code == 200 and "wrong or was already used" in wrong.get_data(as_text=True)
    assert not signed_in(client)
    user = fresh(User, world.users["regulator"].id)
    assert user.failed_logins == 1  # counts towards the lock-out like a wrong password
    assert db.session.scalar(select(SecurityEvent).where(
        SecurityEvent.kind == "auth.second_factor_failed", SecurityEvent.user_id == user.id))

    used = code(secret)
    ok = client.post("/login/code", data={"code": used})
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    assert signed_in(client)
    assert fresh(User, user.id).failed_logins == 0

    # the same code again, from another browser: refused (the time step is spent)
    other = app.test_client()
    assert login(other, "regulator").headers["Location"] == "/login/code"
    again = other.post("/login/code", data={"code": used})
    assert again.status_code == 200 and not signed_in(other)
    # the next step's code works
    assert other.post("/login/code", data={"code": code(secret, 1)}).status_code == 302
    assert signed_in(other)


def test_a_recovery_code_works_once(app, world):
    _secret, codes = enrol(world.users["hr_reviewer"])
    client = app.test_client()
    login(client, "hr_reviewer")
    response = client.post("/login/code", data={"code": codes[3].upper().replace("-", " ")},
                           follow_redirects=True)
    assert "9 are left" in response.get_data(as_text=True)
    assert signed_in(client)
    client.post("/logout")

    login(client, "hr_reviewer")
    second = client.post("/login/code", data={"code": codes[3]})
    assert second.status_code == 200 and not signed_in(client)
    assert client.post("/login/code", data={"code": codes[4]}).status_code == 302


def test_wrong_codes_lock_the_account(app, world):
    secret, _codes = enrol(world.users["admin"])
    client = app.test_client()
    login(client, "admin")
    for _ in range(4):
        assert client.post("/login/code", data={"code": "zzzzz-zzzzz"}).status_code == 200
    locked = client.post("/login/code", data={"code": "zzzzz-zzzzz"}, follow_redirects=True)
    assert "locked" in locked.get_data(as_text=True)
    # the pending sign-in is gone, and the password is refused while the account is locked
    assert client.post("/login/code", data={"code": code(secret)}).headers["Location"] == "/login"
    assert "locked" in login(client, "admin").get_data(as_text=True)
    kinds = set(db.session.scalars(select(SecurityEvent.kind)))
    assert {"auth.second_factor_failed", "auth.login_locked"} <= kinds


def test_a_remembered_browser_skips_the_code_until_a_reset_revokes_it(app, world):
    secret, _codes = enrol(world.users["regulator"])
    client = app.test_client()
    login(client, "regulator")
    response = client.post("/login/code", data={"code": code(secret), "remember": "y"})
    assert "lms_device=" in response.headers.get("Set-Cookie", "")
    client.post("/logout")  # the test client keeps cookies (a browser clears them here)
    again = login(client, "regulator")
    assert again.headers["Location"] == "/"  # no code asked
    assert signed_in(client)
    client.post("/logout")

    admin = app.test_client()
    login(admin, "admin")
    assert admin.post(f"/admin/users/{world.users['regulator'].id}/reset-second-factor"
                      ).status_code == 302
    assert db.session.scalar(select(SecondFactor).where(
        SecondFactor.user_id == world.users["regulator"].id)) is None
    device = db.session.scalar(select(RememberedDevice))
    assert device.revoked_at is not None
    # signing in now: password alone (no factor any more), and no device skip is involved
    assert login(client, "regulator").headers["Location"] == "/"


def test_a_password_change_revokes_remembered_browsers(app, world):
    secret, _codes = enrol(world.users["regulator"])
    client = app.test_client()
    login(client, "regulator")
    client.post("/login/code", data={"code": code(secret), "remember": "y"})
    new = "quiet-harbour-lantern-47"
    client.post("/account/password", data={"current_password": PASSWORD, "new_password": new,
                                            "confirm": new})
    client.post("/logout")
    assert login(client, "regulator", new).headers["Location"] == "/login/code"


def test_a_device_cookie_of_another_user_or_forged_is_not_remembered(app, world):
    enrol(world.users["regulator"])
    user = fresh(User, world.users["regulator"].id)
    other = fresh(User, world.users["admin"].id)
    value, _seconds = second_factor.remember_device(other)
    db.session.commit()
    assert second_factor.device_is_remembered(other, value)
    assert not second_factor.device_is_remembered(user, value)
    # a character of the signature changed (not its last: that one carries two unused bits,
    # and a forgery differing only there would verify)
    i = len(value) - 5
    forged = value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1:]
    assert not second_factor.device_is_remembered(other, forged)


def test_grace_period_nudges_then_forces_enrolment(client, world, login_as):
    login_as("regulator")
    home = client.get("/").get_data(as_text=True)
    assert 'id="second-factor-nudge"' in home  # nudged, not blocked
    assert client.get("/registry/lookup").status_code == 200

    user = fresh(User, world.users["regulator"].id)
    user.second_factor_since = utc_now() - timedelta(days=366)  # the test world's grace: a year
    db.session.commit()
    response = client.get("/registry/lookup")
    assert response.status_code == 302 and response.headers["Location"] == "/account/second-factor"
    assert client.get("/account/second-factor").status_code == 200
    # enrolling lets the regulator through
    secret = db.session.scalar(select(SecondFactor.secret).where(SecondFactor.user_id == user.id))
    client.post("/account/second-factor", data={"code": code(secret)})
    assert client.get("/registry/lookup").status_code == 200


def test_the_grace_period_is_a_setting_of_fourteen_days_by_default(world):
    from lms.core.models import Setting

    db.session.execute(delete(Setting).where(Setting.key == "auth.second_factor_grace_days"))
    user = fresh(User, world.users["regulator"].id)
    user.second_factor_since = utc_now() - timedelta(days=13)
    assert second_factor.enrolment_due(user)[0] is False
    user.second_factor_since = utc_now() - timedelta(days=15)
    assert second_factor.enrolment_due(user)[0] is True


def test_caregivers_and_institutions_are_never_forced_but_may_opt_in(client, world, login_as):
    for name in ("caregiver", "inst_admin"):
        user = fresh(User, world.users[name].id)
        user.second_factor_since = utc_now() - timedelta(days=400)
    db.session.commit()
    login_as(world.staff.mobile)
    assert client.get("/").status_code == 200
    assert 'id="second-factor-nudge"' not in client.get("/").get_data(as_text=True)
    secret, _codes = enrol(world.users["caregiver"])
    client.post("/logout")
    assert login(client, world.staff.mobile).headers["Location"] == "/login/code"
    assert client.post("/login/code", data={"code": code(secret)}).status_code == 302


def test_admin_reset_is_audited_and_ends_the_users_sessions(app, world):
    secret, _codes = enrol(world.users["base_staff"])
    user_client = app.test_client()
    login(user_client, "base_staff")
    user_client.post("/login/code", data={"code": code(secret)})
    assert signed_in(user_client)

    admin = app.test_client()
    login(admin, "admin")
    target = world.users["base_staff"].id
    assert admin.post(f"/admin/users/{target}/reset-second-factor").status_code == 302
    record = db.session.scalar(select(AuditLog).where(AuditLog.action == "auth.second_factor_reset"))
    assert record is not None and record.object_id == str(target)
    assert record.actor_id == world.users["admin"].id
    assert not signed_in(user_client)
    # a user cannot reset their own (nor can anyone else but an administrator)
    assert admin.post(f"/admin/users/{world.users['admin'].id}/reset-second-factor"
                      ).status_code == 403
    assert user_client.post(f"/admin/users/{target}/reset-second-factor").status_code in (302, 403)


def test_new_recovery_codes_replace_the_old_ones(client, world, login_as):
    secret, codes = enrol(world.users["regulator"])
    login(client, "regulator")
    client.post("/login/code", data={"code": code(secret)})
    page = client.post("/account/second-factor", data={"code": code(secret, 1)}).get_data(
        as_text=True)
    assert page.count("<li>") >= 10 and 'id="recovery-codes"' in page
    client.post("/logout")
    login(client, "regulator")
    assert client.post("/login/code", data={"code": codes[0]}).status_code == 200  # old: dead
