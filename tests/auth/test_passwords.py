"""The password policy (ASVS 5.0: length, no common or personal passwords, no composition
rules) and one-time passwords (slow hash, expiry)."""

from datetime import UTC, timedelta

import pytest
import time_machine

from lms.auth import service
from lms.auth.models import User
from lms.core import settings
from lms.core.actors import DEMO
from lms.core.clock import local_today, utc_now
from lms.core.errors import DomainError
from lms.extensions import db
from tests.conftest import PASSWORD, login


def _problems(user, password):
    return [str(p) for p in service.password_problems(user, password)]


def test_caregivers_need_8_characters_staff_12(world):
    caregiver, staff = world.users["caregiver"], world.users["inst_admin"]
    assert _problems(caregiver, "tuvwxyz") == ["The password must have at least 8 characters."]
    assert _problems(caregiver, "tuvwxyzq") == []
    assert _problems(staff, "lamp-river-9") == []
    assert _problems(staff, "lamp-river9") == ["The password must have at least 12 characters."]
    assert _problems(staff, "x" * 129)[0] == "The password must have at most 128 characters."


@pytest.mark.parametrize("password", ["correct horse battery", "onlylowercaseletters",
                                      "1597534862017", "灯塔河流山谷海洋星空月亮"])
def test_no_composition_rules(world, password):
    """Letters only, digits only, Chinese only: length is what counts."""
    assert _problems(world.users["inst_admin"], password) == []


@pytest.mark.parametrize("password", ["woaini1314", "qq123456", "Password1234", "1QAZ2WSX3EDC",
                                      "pass word 1234", "ｐａｓｓｗｏｒｄ１２３４"])
def test_common_passwords_are_refused(world, password):
    problems = _problems(world.users["caregiver"], password)
    assert "This password is one of the most common ones; choose another." in problems


def test_the_common_list_is_shipped_not_fetched():
    common = service.common_passwords()
    assert len(common) > 19000 and {"123456", "5201314", "woaini1314"} <= common


@pytest.mark.parametrize("password", ["{id}", "my-{id_lower}", "call {mobile} now",
                                      "{name}的密码很长", "caregiver-{name}"])
def test_passwords_may_not_contain_who_the_person_is(world, password):
    person = world.staff
    text = password.format(id=person.id_number, id_lower=person.id_number.lower(),
                           mobile=person.mobile, name=person.name)
    assert _problems(world.users["caregiver"], text) == [
        "The password cannot contain your name, sign-in name, mobile or identity number."]
    # the same words are fine in someone else's password
    assert "cannot contain" not in " ".join(_problems(world.users["caregiver_other"], text))


def test_staff_passwords_may_not_contain_the_sign_in_name(world):
    assert "cannot contain" in " ".join(_problems(world.users["inst_admin"], "xx-inst_admin-xx"))


def test_change_password_applies_the_policy(client, world, login_as):
    login_as("inst_admin")

    def change(new):
        return client.post("/account/password", data={
            "current_password": PASSWORD, "new_password": new, "confirm": new})

    assert "at least 12 characters" in change("Short-pass9").get_data(as_text=True)
    assert "most common" in change("qwertyuiop12").get_data(as_text=True)
    assert change("lamp river valley").status_code == 302
    user = db.session.get(User, world.users["inst_admin"].id)
    db.session.refresh(user)
    assert service.password_matches(user, "lamp river valley")


def test_admin_created_accounts_apply_the_policy(world):
    with pytest.raises(service.PasswordPolicyError, match="at least 12"):
        service.create_staff_user(world.users["admin"], username="hr9", display_name="审核员",
                                  role="hr_reviewer", organisation_id=world.hr.id,
                                  password="Demo2026!")
    with pytest.raises(service.PasswordPolicyError, match="cannot contain"):
        service.create_staff_user(world.users["admin"], username="reviewer9", display_name="x",
                                  role="hr_reviewer", organisation_id=world.hr.id,
                                  password="reviewer9-is-long")


def test_replacing_a_one_time_password_applies_the_policy(client, world):
    user = db.session.get(User, world.users["caregiver"].id)
    password = service.issue_one_time_password(world.users["admin"], user)
    db.session.commit()
    assert login(client, world.staff.mobile, password).headers["Location"] == "/account/password"
    page = client.post("/account/password", data={
        "current_password": password, "new_password": f"me{world.staff.mobile}",
        "confirm": f"me{world.staff.mobile}"}).get_data(as_text=True)
    assert "cannot contain your name" in page
    assert client.get("/me").headers["Location"] == "/account/password"


def test_the_demo_password_meets_the_staff_policy():
    from lms.demo import PASSWORD as DEMO_PASSWORD

    service.check_password_policy(DEMO_PASSWORD)  # no role given: the stricter staff rule


# --- one-time passwords ---------------------------------------------------------------------


def test_one_time_passwords_are_stored_with_scrypt(app, world):
    """Production stores them with Werkzeug's scrypt (the suite's cheap hash is a test
    override that the environment cannot set)."""
    from lms import create_app
    from tests.conftest import database_url

    assert "PASSWORD_HASH_METHOD" not in create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url()}).config
    user = db.session.get(User, world.users["caregiver"].id)
    method = app.config.pop("PASSWORD_HASH_METHOD")
    try:
        password = service.issue_one_time_password(world.users["admin"], user)
    finally:
        app.config["PASSWORD_HASH_METHOD"] = method
    assert user.password_hash.startswith("otp$") and "$scrypt:" in user.password_hash
    assert password not in user.password_hash and service.password_matches(user, password)


def _travel(delta):
    return time_machine.travel(utc_now().replace(tzinfo=UTC) + delta, tick=False)


@pytest.mark.parametrize("days, works", [(6, True), (7, False)])
def test_one_time_passwords_expire_after_seven_days(app, world, days, works):
    user = db.session.get(User, world.users["caregiver"].id)
    password = service.issue_one_time_password(world.users["admin"], user)
    db.session.commit()
    with _travel(timedelta(days=days, hours=23, minutes=59) if works else timedelta(days=days)):
        response = login(app.test_client(), world.staff.mobile, password)
    if works:
        assert response.headers["Location"] == "/account/password"
    else:
        assert "This one-time password has expired" in response.get_data(as_text=True)


def test_the_expiry_is_a_setting(app, world):
    settings.set_setting(world.users["admin"], "auth.one_time_password_days", 1, local_today())
    user = db.session.get(User, world.users["caregiver"].id)
    password = service.issue_one_time_password(world.users["admin"], user)
    db.session.commit()
    assert service.one_time_password_expires_at(user) > utc_now() + timedelta(hours=23)
    with _travel(timedelta(days=1, minutes=1)):
        page = login(app.test_client(), world.staff.mobile, password).get_data(as_text=True)
    assert "expired" in page


def test_a_password_the_person_chose_never_expires(app, world):
    user = db.session.get(User, world.users["caregiver"].id)
    assert service.one_time_password_expires_at(user) is None
    with _travel(timedelta(days=400)):
        assert login(app.test_client(), world.staff.mobile).status_code == 302


def test_old_unhashed_initial_passwords_count_as_expired(app, world):
    import hashlib
    import hmac

    user = db.session.get(User, world.users["caregiver"].id)
    digest = hmac.new(b"salt", b"OldInitial22", hashlib.sha256).hexdigest()
    user.password_hash, user.must_change_password = f"initial$salt${digest}", True
    db.session.commit()
    page = login(app.test_client(), world.staff.mobile, "OldInitial22").get_data(as_text=True)
    assert "expired" in page


def test_the_reset_page_says_until_when_it_works(client, world, login_as):
    login_as("admin")
    page = client.post(f"/admin/users/{world.users['caregiver'].id}/reset-password")
    assert 'id="initial-password-expires"' in page.get_data(as_text=True)


# --- the admin's services authorise their actor ---------------------------------------------


@pytest.mark.parametrize("role", ["inst_admin", "regulator_city", "hr_reviewer", "caregiver"])
def test_only_administrators_manage_accounts(world, role):
    from lms.core.errors import PermissionDenied

    actor, target = world.users[role], world.users["caregiver_other"]
    with pytest.raises(PermissionDenied):
        service.create_staff_user(actor, username="someone", display_name="x", role="admin")
    with pytest.raises(PermissionDenied):
        service.reset_password(actor, target)
    with pytest.raises(PermissionDenied):
        service.set_enabled(actor, target, False)
    db.session.refresh(target)
    assert target.is_enabled


def test_bare_strings_and_self_service_are_refused(world):
    from lms.core.errors import PermissionDenied

    admin = world.users["admin"]
    with pytest.raises(PermissionDenied):
        service.create_staff_user("cli", username="someone", display_name="x", role="admin")
    with pytest.raises(PermissionDenied):  # an admin changes their own password themselves
        service.reset_password(admin, admin)
    with pytest.raises(DomainError):
        service.set_enabled(admin, admin, False)
    user = service.create_staff_user(DEMO, username="someone", display_name="x", role="admin")
    assert user.id
