"""The queue's money counts only live claims and says so per state; one constant for the closed
states; the public notice names where to object; every state-changing service authorises; the
export's file name; the seeded standards' note in words."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from lms.core.actors import SystemActor
from lms.core.clock import local_today
from lms.core.errors import PermissionDenied
from lms.extensions import db
from lms.subsidies import models, service
from lms.subsidies.models import ClaimAction, ClaimState, ObjectionContact, SubsidyClaim
from lms.subsidies.service import QueueFilter
from tests.helpers import TESTS, certificate, claim_for, qtype


def _three_claims(world):
    base, hr = world.users["base_staff"], world.users["hr_reviewer"]
    approved = claim_for(world, certificate(world, world.staff, level=5))  # 1000
    service.transition(base, approved, ClaimAction.CONFIRM)
    service.transition(hr, approved, ClaimAction.APPROVE)
    rejected = claim_for(world, certificate(world, world.staff_other, level=4))  # 1500
    service.transition(base, rejected, ClaimAction.CONFIRM)
    service.transition(hr, rejected, ClaimAction.REJECT, reason="账户不符")
    withdrawn = claim_for(world, certificate(world, world.staff, level=5, code="yuyingyuan"))  # 1000
    service.transition(world.users["caregiver"], withdrawn, ClaimAction.WITHDRAW)
    return approved, rejected, withdrawn


def test_the_queue_adds_up_only_live_claims_and_gives_each_state_its_own_total(world):
    _three_claims(world)
    everything = service.queue(world.users["hr_reviewer"], QueueFilter())
    assert everything.count == 3
    assert everything.live == 1 and everything.total == Decimal("1000.00")
    per_state = {row.state: (row.count, row.total) for row in everything.by_state}
    assert per_state == {ClaimState.APPROVED: (1, Decimal("1000.00")),
                         ClaimState.REJECTED: (1, Decimal("1500.00")),
                         ClaimState.WITHDRAWN: (1, Decimal("1000.00"))}
    rejected_only = service.queue(world.users["hr_reviewer"], QueueFilter(state="rejected"))
    assert rejected_only.count == 1 and rejected_only.live == 0 and rejected_only.total == 0


def test_the_queue_page_says_which_claims_its_total_counts(client, world, login_as):
    _three_claims(world)
    db.session.commit()
    login_as("hr_reviewer")
    page = client.get("/subsidies/review").get_data(as_text=True)
    assert "3 claims." in page
    assert "Live claims (not rejected or withdrawn): 1, total 1000.00 yuan." in page
    assert "Rejected: 1, 1500.00 yuan" in page and "Withdrawn: 1, 1000.00 yuan" in page
    assert "3500.00" not in page


def test_the_closed_states_exist_once_for_the_index_and_the_service(world):
    index = next(i for i in SubsidyClaim.__table__.indexes if i.name == "uq_subsidy_claims_live")
    for dialect in ("sqlite", "postgresql"):
        where = str(index.dialect_options[dialect]["where"])
        assert sorted(re.findall(r"'(\w+)'", where)) == sorted(s.value for s in models.CLOSED_STATES)
    assert service.CLOSED_STATES is models.CLOSED_STATES
    assert not hasattr(models, "DEAD_STATES")
    # a closed claim frees the certificate for a new claim; a live one does not
    _approved, rejected, _withdrawn = _three_claims(world)
    again = claim_for(world, rejected.certificate)
    assert again.state == ClaimState.SUBMITTED.value


def test_the_public_notice_names_where_to_object(client, world, login_as):
    claim = claim_for(world, certificate(world, world.staff))
    service.transition(world.users["base_staff"], claim, ClaimAction.CONFIRM)
    service.transition(world.users["hr_reviewer"], claim, ClaimAction.APPROVE)
    notice, _outcome = service.publish(world.users["hr_reviewer"], [claim.id])
    db.session.commit()
    assert notice.bureau_id == world.hr.id
    login_as("admin")
    form = client.get("/admin/subsidy-standards").get_data(as_text=True)
    assert f'id="contact-{world.hr.id}"' in form
    response = client.post("/admin/subsidy-standards/objections", data={
        "bureau": world.hr.id, "contact": "玄武区人社局就业科，北京东路41号，电话 025-83630000"})
    assert response.status_code == 302
    client.post("/logout")
    page = client.get(f"/subsidies/notices/{notice.id}").get_data(as_text=True)  # the public
    assert "Where to object" in page and world.hr.name in page
    assert "北京东路41号，电话 025-83630000" in page


def test_only_an_administrator_sets_where_to_object(world):
    for name in ("hr_reviewer", "base_staff", "regulator"):
        with pytest.raises(PermissionDenied):
            service.set_objection_contact(world.users[name], world.hr, "电话 12345")
    with pytest.raises(service.DomainError):
        service.set_objection_contact(world.users["admin"], world.base, "电话 12345")  # not a bureau
    service.set_objection_contact(world.users["admin"], world.hr, "电话 12345")
    service.set_objection_contact(world.users["admin"], world.hr, "电话 67890")
    assert [r.contact for r in db.session.scalars(select(ObjectionContact))] == ["电话 67890"]


@pytest.mark.parametrize("name", ["hr_reviewer", "base_staff", "inst_admin", "regulator", "caregiver"])
def test_setting_a_standard_is_for_administrators_only(world, name):
    with pytest.raises(PermissionDenied):
        service.set_standard(world.users[name], qtype(), 5, "1200", local_today())


def test_a_system_actor_may_set_a_standard_and_a_bare_string_may_not(world):
    row = service.set_standard(SystemActor("cli"), qtype(), 5, "1200", local_today())
    assert row.amount == Decimal("1200.00")
    with pytest.raises(PermissionDenied):
        service.set_standard("admin", qtype(), 5, "1300", local_today())


def test_the_export_is_sent_as_a_file_with_its_name_in_the_readers_language(client, world, login_as):
    _three_claims(world)
    db.session.commit()
    login_as("hr_reviewer")
    english = client.get("/subsidies/review/export.xlsx?state=payable")
    day = local_today().isoformat()
    assert english.headers["Content-Disposition"] == f"attachment; filename=subsidies-{day}.xlsx"
    chinese = client.get("/subsidies/review/export.xlsx?state=payable", headers={"Accept-Language": "zh-CN"})
    disposition = chinese.headers["Content-Disposition"]
    # a non-ASCII name travels as RFC 5987 filename* with an ASCII fallback (every browser)
    assert "filename*=UTF-8''" in disposition and day in disposition
    assert chinese.data[:2] == b"PK"


def test_the_seeded_standards_note_is_words_not_a_code(client, world, login_as):
    login_as("admin")
    page = client.get("/admin/subsidy-standards").get_data(as_text=True)
    assert ">seed<" not in page
    assert "Example amount seeded at installation" in page
    service.set_standard(TESTS, qtype(), 5, "1200", local_today() - timedelta(days=1), "苏人社发〔2026〕1号")
    db.session.commit()
    assert "苏人社发〔2026〕1号" in client.get("/admin/subsidy-standards").get_data(as_text=True)
