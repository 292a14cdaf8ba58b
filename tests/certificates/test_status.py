"""A certificate's status: the transition table over every (state, action) pair, who may change
what with which authority (a regulator's suspension is lifted only by a regulator), and the
page offering exactly the actions the service allows."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select, update

from lms.certificates import service
from lms.certificates.models import Authority, CertAction, Certificate, CertificateStatus
from lms.core.actors import CLI
from lms.core.errors import PermissionDenied
from lms.core.models import StateEvent
from lms.core.states import InvalidTransition
from lms.extensions import db
from tests.certificates.helpers import offered_actions
from tests.conftest import login


def _put(cert, status, authority=None):
    db.session.execute(update(Certificate).where(Certificate.id == cert.id).values(
        status=status.value, status_authority=authority))
    db.session.refresh(cert)


@pytest.mark.parametrize(("state", "action"), list(itertools.product(CertificateStatus, CertAction)))
def test_every_state_and_action(world, cert, state, action):
    _put(cert, state, None if state == CertificateStatus.VALID else Authority.ISSUER.value)
    target = service.TRANSITIONS.get((state, action))
    if target is None:
        with pytest.raises(InvalidTransition):
            service.change_status(CLI, cert, action, "表内测试")
        assert cert.status == state
    else:
        service.change_status(CLI, cert, action, "表内测试")
        assert cert.status == target
        event = service.history(cert)[-1]
        assert (event.action, event.from_state, event.to_state, event.authority) == (
            action.value, state.value, target.value, "system")


def test_a_base_cannot_reinstate_what_a_regulator_suspended(world, cert):
    base, regulator = world.users["base_staff"], world.users["regulator"]
    service.change_status(regulator, cert, "suspend", "投诉调查中")
    assert cert.status_authority == "regulator"
    assert CertAction.REINSTATE not in service.allowed_actions(cert, base)
    with pytest.raises(PermissionDenied):
        service.change_status(base, cert, "reinstate", "我们认为没问题")
    assert cert.status == "suspended"
    # an administrator cannot lift it either; the city's regulator can
    with pytest.raises(PermissionDenied):
        service.change_status(world.users["admin"], cert, "reinstate", "x")
    service.change_status(world.users["regulator_city"], cert, "reinstate", "调查结束")
    assert cert.status == "valid" and cert.status_authority is None
    assert service.history(cert)[-1].authority == "regulator"


def test_a_base_corrects_its_own_issuing_error(world, cert):
    base = world.users["base_staff"]
    service.change_status(base, cert, "suspend", "出生日期录入错误")
    assert cert.status_authority == "issuer"
    assert CertAction.REINSTATE in service.allowed_actions(cert, base)
    service.change_status(base, cert, "reinstate", "已更正")
    assert cert.status == "valid"
    service.change_status(base, cert, "revoke", "不应发证")
    assert (cert.status, cert.status_authority) == ("revoked", "issuer")
    events = db.session.scalars(select(StateEvent).where(
        StateEvent.object_type == "certificates", StateEvent.object_id == cert.id)).all()
    assert [(e.action, e.authority, e.actor_id, e.reason) for e in events][1:] == [
        ("suspend", "issuer", base.id, "出生日期录入错误"), ("reinstate", "issuer", base.id, "已更正"),
        ("revoke", "issuer", base.id, "不应发证")]


def test_an_administrators_suspension_is_lifted_by_a_regulator_not_the_base(world, cert):
    service.change_status(world.users["admin"], cert, "suspend", "核查")
    with pytest.raises(PermissionDenied):
        service.change_status(world.users["base_staff"], cert, "reinstate", "x")
    service.change_status(world.users["regulator"], cert, "reinstate", "核查完毕")
    assert cert.status == "valid"


def test_who_may_act_at_all(world, cert):
    for role in ("regulator_other", "inst_admin", "hr_reviewer", "caregiver"):
        assert service.allowed_actions(cert, world.users[role]) == []
        with pytest.raises(PermissionDenied):
            service.change_status(world.users[role], cert, "suspend", "x")
    with pytest.raises(PermissionDenied):
        service.change_status("cli", cert, "suspend", "a bare string is nobody")


def test_a_banned_holders_certificate_is_not_reinstated(world, cert):
    from lms.core.clock import local_today
    from lms.core.states import ActionNotPossible
    from lms.registry.models import Ban

    service.change_status(world.users["regulator"], cert, "suspend", "调查")
    db.session.add(Ban(id_number=world.staff.id_number, person_id=world.staff.id, name=world.staff.name,
                       kind="lifetime", starts_on=local_today(), reason="虐童"))
    db.session.flush()
    assert CertAction.REINSTATE not in service.allowed_actions(cert, world.users["regulator"])
    with pytest.raises(ActionNotPossible, match="banned"):
        service.change_status(world.users["regulator"], cert, "reinstate", "x")


def test_the_page_offers_exactly_the_allowed_actions(app, world, cert):
    states = [("valid", None), ("suspended", "regulator"), ("suspended", "issuer"), ("revoked", "admin")]
    roles = ["base_staff", "regulator", "regulator_city", "admin", "caregiver"]
    clients = {}
    for role in roles:
        clients[role] = app.test_client()
        login(clients[role], world.users[role].username or world.staff.mobile)
    for status, authority in states:
        _put(cert, CertificateStatus(status), authority)
        db.session.commit()
        for role in roles:
            page = clients[role].get(f"/certificates/{cert.id}")
            assert page.status_code == 200, role
            expected = [a.value for a in service.allowed_actions(cert, world.users[role])]
            assert offered_actions(page.get_data(as_text=True)) == expected, (status, authority, role)
    assert offered_actions(clients["caregiver"].get(f"/certificates/{cert.id}").get_data(as_text=True)) == []


def test_a_base_posting_reinstate_on_a_regulators_suspension_is_refused(app, world, cert, login_as, client):
    service.change_status(world.users["regulator"], cert, "suspend", "投诉调查中")
    db.session.commit()
    login_as("base_staff")
    page = client.get(f"/certificates/{cert.id}").get_data(as_text=True)
    assert offered_actions(page) == ["revoke"]
    response = client.post(f"/certificates/{cert.id}/status", data={"action": "reinstate", "reason": "x"})
    assert response.status_code == 403
    db.session.refresh(cert)
    assert cert.status == "suspended"


def test_history_is_shown_in_the_readers_language(app, world, cert, client, login_as):
    service.change_status(world.users["regulator"], cert, "suspend", "投诉调查中")
    db.session.commit()
    login_as("regulator")
    english = client.get(f"/certificates/{cert.id}").get_data(as_text=True)
    history = english.split('id="history"')[1]
    assert "Issued" in history and "Suspend" in history and "by a regulator" in history
    client.set_cookie("lms_lang", "zh_Hans_CN")
    chinese = client.get(f"/certificates/{cert.id}").get_data(as_text=True).split('id="history"')[1]
    assert "suspend" not in chinese and "create" not in chinese and "暂停" in chinese
