"""The subsidy pages as their users meet them: a caregiver sees why before claiming, the base
confirms, the reviewer works the queue, the public reads the notice, the admin sets standards."""

from __future__ import annotations

import io
from datetime import timedelta

import openpyxl
from sqlalchemy import select

from lms.core.clock import local_today
from lms.extensions import db
from lms.subsidies import service
from lms.subsidies.models import ClaimState, SubsidyClaim, SubsidyStandard
from tests.conftest import login
from tests.helpers import ACCOUNT, TESTS, certificate, claim_for, qtype, statements_sent


def test_a_caregiver_sees_the_amount_or_the_reasons_before_claiming(client, world, login_as):
    good = certificate(world, world.staff, level=4)
    late = certificate(world, world.staff, level=5, code="yuyingyuan",
                       issued_on=local_today() - timedelta(days=500))
    db.session.commit()
    login_as("13912345678")
    page = client.get("/my/subsidies").get_data(as_text=True)
    assert "You can claim 1500.00 yuan." in page
    assert "within 12 months" in page
    form = client.get(f"/my/subsidies/claim/{late.id}").get_data(as_text=True)
    assert "cannot be claimed" in form and "submit-claim" not in form
    assert client.post(f"/my/subsidies/claim/{late.id}", data={
        "bank_name": "工商银行", "bank_account": ACCOUNT}).status_code == 400
    response = client.post(f"/my/subsidies/claim/{good.id}",
                           data={"bank_name": "工商银行玄武支行", "bank_account": ACCOUNT})
    assert response.status_code == 302
    claim = db.session.scalar(select(SubsidyClaim))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert claim.reference in page and "Submitted" in page
    assert "•••• 0123" in page and "62220212345678" not in page  # the account, masked


def test_a_bad_account_is_explained_and_nothing_is_saved(client, world, login_as):
    cert = certificate(world, world.staff)
    db.session.commit()
    login_as("13912345678")
    response = client.post(f"/my/subsidies/claim/{cert.id}",
                           data={"bank_name": "工商银行", "bank_account": "12ab"})
    assert response.status_code == 400
    assert "10 to 30 digits" in response.get_data(as_text=True)
    assert db.session.scalar(select(SubsidyClaim.id)) is None


def test_the_base_confirms_and_the_reviewer_rejects_with_a_reason(app, world):
    claim = claim_for(world, certificate(world, world.staff))
    db.session.commit()
    base, hr, caregiver = app.test_client(), app.test_client(), app.test_client()
    login(base, "base_staff")
    login(hr, "hr_reviewer")
    login(caregiver, "13912345678")
    assert claim.reference in base.get(f"/bases/{world.base.id}/subsidies").get_data(as_text=True)
    base.post(f"/bases/{world.base.id}/subsidies", data={"claim": [str(claim.id)]})
    db.session.expire_all()
    assert db.session.get(SubsidyClaim, claim.id).state == ClaimState.CONFIRMED.value
    # no reason: refused, with the message
    response = hr.post(f"/subsidies/{claim.id}/act", data={"action": "reject", "reason": ""},
                       follow_redirects=True)
    assert "Give the reason for rejecting the claim." in response.get_data(as_text=True)
    hr.post(f"/subsidies/{claim.id}/act", data={"action": "reject", "reason": "户名与证书持有人不符"})
    db.session.expire_all()
    assert db.session.get(SubsidyClaim, claim.id).state == ClaimState.REJECTED.value
    page = caregiver.get(f"/subsidies/{claim.id}").get_data(as_text=True)
    assert "户名与证书持有人不符" in page and "Rejected" in page
    # a move the table does not have
    response = hr.post(f"/subsidies/{claim.id}/act", data={"action": "approve"}, follow_redirects=True)
    assert "cannot be handled that way" in response.get_data(as_text=True)


def test_the_queue_shows_totals_and_the_export_matches(client, world, login_as):
    for person, level in ((world.staff, 5), (world.staff_other, 4)):
        claim = claim_for(world, certificate(world, person, level=level))
        service.transition(world.users["base_staff"], claim, "confirm")
    db.session.commit()
    login_as("hr_reviewer")
    page = client.get("/subsidies/review").get_data(as_text=True)
    assert "2 claims." in page and "Live claims (not rejected or withdrawn): 2, total 2500.00 yuan" in page
    ids = [str(c.id) for c in db.session.scalars(select(SubsidyClaim))]
    client.post("/subsidies/review", data={"do": "approve", "claim": ids})
    page = client.get("/subsidies/review?state=payable").get_data(as_text=True)
    assert "Live claims (not rejected or withdrawn): 2, total 2500.00 yuan" in page
    sheet = openpyxl.load_workbook(io.BytesIO(client.get(
        "/subsidies/review/export.xlsx?state=payable").data)).active
    total = list(sheet.iter_rows(values_only=True))[-1]
    assert total[7] == 2500


def test_the_public_notice_masks_names(client, world):
    claim = claim_for(world, certificate(world, world.staff))
    service.transition(world.users["base_staff"], claim, "confirm")
    service.transition(world.users["hr_reviewer"], claim, "approve")
    notice, _ = service.publish(world.users["hr_reviewer"], [claim.id])
    db.session.commit()
    assert notice.title in client.get("/subsidies/notices").get_data(as_text=True)
    page = client.get(f"/subsidies/notices/{notice.id}").get_data(as_text=True)
    assert claim.reference in page and "1000.00" in page
    assert world.staff.name not in page and world.staff.id_number[-4:] not in page


def test_an_administrator_adds_a_dated_standard(client, world, login_as):
    login_as("admin")
    client.post("/admin/subsidy-standards", data={
        "type_id": qtype().id, "level": "5", "amount": "1100", "effective_from": "2027-01-01",
        "note": "宁人社〔2026〕1号"})
    rows = db.session.scalars(select(SubsidyStandard).where(
        SubsidyStandard.qualification_type_id == qtype().id, SubsidyStandard.level == 5)).all()
    assert sorted(str(r.amount) for r in rows) == ["1000.00", "1100.00"]
    response = client.post("/admin/subsidy-standards", data={
        "type_id": qtype().id, "level": "5", "amount": "1100.001", "effective_from": "2027-01-01"},
        follow_redirects=True)
    assert "at most two decimals" in response.get_data(as_text=True)


def test_the_reviewers_home_says_what_waits(client, world, login_as):
    hr = world.users["hr_reviewer"]
    waiting = claim_for(world, certificate(world, world.staff))
    service.transition(world.users["base_staff"], waiting, "confirm")
    noticed = claim_for(world, certificate(world, world.staff_other))
    service.transition(world.users["base_staff"], noticed, "confirm")
    service.transition(hr, noticed, "approve")
    notice, _ = service.publish(hr, [noticed.id])
    notice.starts_on, notice.ends_on = local_today() - timedelta(days=9), local_today() - timedelta(days=2)
    db.session.commit()
    assert service.reviewer_summary(hr) == {"confirmed": 1, "second_review": 0, "approved": 0,
                                            "payable": 1, "objections": 0}
    service.record_objection(hr, noticed, "未参加实操考核", local_today() - timedelta(days=3))
    db.session.commit()
    assert service.reviewer_summary(hr)["payable"] == 0
    login_as("hr_reviewer")
    page = client.get("/").get_data(as_text=True)
    assert 'id="summary-confirmed"' in page and "1 objection is open" in page


def test_the_queue_costs_the_same_queries_for_few_claims_or_many(client, world, login_as):
    from lms.registry import service as registry_service
    from tests.factories import id_number

    hr, base = world.users["hr_reviewer"], world.users["base_staff"]

    def claim_in_notice(n):
        person, _ = registry_service.get_or_create_person(
            TESTS, id_number=id_number("320102", "19920101", 300 + n), name="学员" + "甲乙丙丁戊己庚"[n])
        account, _ = registry_service.ensure_account(TESTS, person)
        claim = service.submit(account, certificate(world, person), bank_name="银行",
                               bank_account="1234567890")
        service.transition(base, claim, "confirm")
        service.transition(hr, claim, "approve")
        service.publish(hr, [claim.id])

    def statements_for_the_page() -> int:
        with statements_sent() as sent:
            assert client.get("/subsidies/review").status_code == 200
        return len(sent)

    claim_in_notice(1)
    db.session.commit()
    login_as("hr_reviewer")
    few = statements_for_the_page()
    for n in range(2, 7):
        claim_in_notice(n)
    db.session.commit()
    assert statements_for_the_page() == few


def test_reviewers_record_objections_only_while_a_claim_is_in_the_notice(client, world, login_as):
    claim = claim_for(world, certificate(world, world.staff))
    service.transition(world.users["base_staff"], claim, "confirm")
    db.session.commit()
    login_as("hr_reviewer")
    assert "Record an objection received" not in client.get(f"/subsidies/{claim.id}").get_data(as_text=True)
    service.transition(world.users["hr_reviewer"], claim, "approve")
    service.publish(world.users["hr_reviewer"], [claim.id])
    db.session.commit()
    assert "Record an objection received" in client.get(f"/subsidies/{claim.id}").get_data(as_text=True)
    client.post(f"/subsidies/{claim.id}/objections", data={"summary": "未参加培训",
                                                           "received_on": local_today().isoformat()})
    page = client.get(f"/subsidies/{claim.id}").get_data(as_text=True)
    assert "未参加培训" in page and "Uphold: reject the claim" in page
