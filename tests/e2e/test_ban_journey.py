"""A child-abuse ban in real Chromium: a district regulator looks the caregiver up (by POST),
the form lists the direct managers at the time — the institution's director and the group lead
recorded as the caregiver's direct manager — and the director is banned too; the employment ends, the certificate shows suspended on the public verification page, the
institution and the regulator are told; a lift asked by the same regulator cannot be approved
by them, and a second (city-wide) regulator approves it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from lms.certificates import service as certificates
from lms.certificates.models import Certificate
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import (
    Ban,
    BanLiftRequest,
    Employment,
    Organisation,
    Person,
    QualificationType,
)
from tests.factories import id_number
from tests.helpers import VIEWPORTS, axe_check, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e

PDF = b"%PDF-1.4 ban decision"
CAREGIVER_MOBILE = "13912345678"


def _setting(app) -> dict:
    """The caregiver holds a 保育师 certificate; the institution has a director since 2020 and
    a group lead recorded as the caregiver's direct manager for the last month."""
    with app.app_context():
        person = db.session.scalar(select(Person).where(Person.mobile == CAREGIVER_MOBILE))
        inst = db.session.scalar(select(Organisation).where(Organisation.name == "小橡树托育中心"))
        base = db.session.scalar(select(Organisation).where(Organisation.kind == "training_base"))
        director = registry.add_staff(DEMO, inst, id_number=id_number("320102", "19780101", 41),
                                      name="李园长", post="director",
                                      start_date=date(2020, 1, 1)).employment.person
        lead = registry.add_staff(DEMO, inst, id_number=id_number("320102", "19800202", 42),
                                  name="赵组长", post="nursery_carer",
                                  start_date=date(2021, 1, 1)).employment
        caregiver_job = db.session.scalar(select(Employment).where(
            Employment.person_id == person.id, Employment.organisation_id == inst.id))
        registry.set_direct_manager(DEMO, caregiver_job, lead, local_today() - timedelta(days=30))
        kind = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
        issued = local_today() - timedelta(days=30)
        number = certificates.certificate_number(kind, issued.year, base.id, 1)
        record = registry.add_qualification(DEMO, person, kind, issued_on=issued, level=5,
                                            certificate_no=number, issuer=base.name)
        db.session.add(Certificate(number=number, verify_code="e2e-ban-cert", person_id=person.id,
                                   qualification_type_id=kind.id, level=5, issuer_id=base.id,
                                   issued_on=issued, status="valid", qualification_id=record.id))
        db.session.commit()
        return {"number": person.id_number, "name": person.name, "person_id": person.id,
                "director_id": director.id, "lead_id": lead.person_id}


def test_child_abuse_ban_with_the_direct_manager_and_four_eyes(new_context, e2e_world, app, base_url):
    world = _setting(app)
    findings: list = []

    regulator = new_context(locale="en", **VIEWPORTS["desktop"]).new_page()
    regulator.set_default_timeout(15_000)
    sign_in(regulator, "regulator")
    regulator.click("nav a[href='/bans']")
    regulator.click("#new-ban")
    regulator.fill("#id_number", world["number"])
    regulator.fill("#incident_date", (local_today() - timedelta(days=3)).isoformat())
    regulator.select_option("#category", "child_abuse")
    regulator.click("#lookup")
    expect(regulator.locator("#candidate-name")).to_have_text(world["name"])
    assert world["number"] not in regulator.url
    manager = regulator.locator(f"#manager-{world['director_id']}")
    expect(regulator.locator("#managers")).to_contain_text("李园长")
    expect(regulator.locator("#managers")).to_contain_text("赵组长")
    expect(regulator.locator(f"#manager-{world['lead_id']}")).to_have_count(1)
    manager.check()
    regulator.select_option("#kind", "lifetime")
    regulator.fill("#authority", "玄武区卫生健康委员会")
    regulator.fill("#decision_no", "玄卫禁〔2026〕7号")
    regulator.fill("#decision_date", local_today().isoformat())
    regulator.fill("#reason", "殴打幼儿，经调查属实")
    regulator.set_input_files("#evidence", files=[{"name": "决定书.pdf", "mimeType": "application/pdf",
                                                   "buffer": PDF}])
    axe_check(regulator, base_url, "impose a ban", findings)
    regulator.click("#impose")
    expect(regulator.locator("#ban-state")).to_have_text("In force")
    expect(regulator.locator("#linked")).to_contain_text("李园长")
    axe_check(regulator, base_url, "ban detail", findings)
    ban_url = regulator.url

    with app.app_context():
        bans = list(db.session.scalars(select(Ban).order_by(Ban.id)))
        first = next(b for b in bans if b.person_id == world["person_id"])
        second = next(b for b in bans if b.person_id == world["director_id"])
        assert second.linked_to_id == first.id
        employment = db.session.scalar(select(Employment).where(
            Employment.person_id == world["person_id"]))
        assert employment.state == "ended"

    # the public verification page says the certificate is suspended
    public = new_context(locale="en", **VIEWPORTS["phone"]).new_page()
    public.goto("/verify/e2e-ban-cert")
    expect(public.locator("#verdict")).to_contain_text("Suspended")
    no_horizontal_overflow(public)

    # the institution and the regulator are told
    institution = new_context(locale="en", **VIEWPORTS["desktop"]).new_page()
    sign_in(institution, "inst_admin")
    institution.goto("/notifications")
    expect(institution.locator("main")).to_contain_text(f"{world['name']}, employed at 小橡树托育中心, is banned")
    regulator.goto("/notifications")
    expect(regulator.locator("main")).to_contain_text("玄卫禁〔2026〕7号")

    # the same regulator asks for a lift, and cannot approve it
    regulator.goto(ban_url)
    regulator.fill("#lift-form #reason", "复议决定撤销原处罚")
    regulator.click("#request-lift")
    expect(regulator.locator("#four-eyes-note")).to_be_visible()
    expect(regulator.locator("#decide-form")).to_have_count(0)
    with app.app_context():
        request_id = db.session.scalar(select(BanLiftRequest.id))
    token = regulator.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = regulator.request.post(f"{base_url}/bans/requests/{request_id}/decide",
                                     form={"csrf_token": token, "reason": "同意", "action": "approve"})
    assert "a second, different regulator must decide it" in refused.text()
    regulator.reload()
    expect(regulator.locator("#ban-state")).to_have_text("In force")

    # a second regulator (the city's) approves, on a phone
    second_regulator = new_context(locale="en", **VIEWPORTS["phone"]).new_page()
    second_regulator.set_default_timeout(15_000)
    sign_in(second_regulator, "regulator_city")
    expect(second_regulator.locator("#ban-alerts")).to_contain_text("Requests awaiting your decision")
    second_regulator.goto(ban_url)
    no_horizontal_overflow(second_regulator)
    second_regulator.fill("#decide-form #reason", "复议决定书已核实")
    second_regulator.click("#decide-approve")
    expect(second_regulator.locator("#ban-state")).to_have_text("Lifted")
    expect(second_regulator.locator("#history")).to_contain_text("Lift the ban early")
    axe_check(second_regulator, base_url, "ban detail after the lift (phone)", findings)
    # lifting does not reinstate the certificate
    public.reload()
    expect(public.locator("#verdict")).to_contain_text("Suspended")
