"""A caregiver's own data in real Chromium (issue 18): on a phone she opens My data from the
menu, reads every section without sideways scrolling, downloads the JSON file whose counts are
the page's, and asks for a correction; the institution's administrator answers it on a desktop,
and she reads the answer."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from lms import mydata
from lms.certificates import service as certificates
from lms.certificates.models import Certificate
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import Organisation, Person, QualificationType
from tests.helpers import VIEWPORTS, axe_check, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e


def _a_certificate(app) -> str:
    with app.app_context():
        base = db.session.scalar(select(Organisation).where(Organisation.kind == "training_base"))
        person = db.session.scalar(select(Person).where(Person.mobile == "13912345678"))
        kind = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
        issued = local_today() - timedelta(days=20)
        number = certificates.certificate_number(kind, issued.year, base.id, 1)
        record = registry.add_qualification(DEMO, person, kind, issued_on=issued, level=5,
                                            certificate_no=number, issuer=base.name)
        db.session.add(Certificate(number=number, verify_code="e2e-mydata", person_id=person.id,
                                   qualification_type_id=kind.id, level=5, issuer_id=base.id,
                                   issued_on=issued, status="valid", qualification_id=record.id))
        db.session.commit()
        return number


def test_my_data_on_a_phone_and_a_correction_answered(new_context, e2e_world, app, base_url):
    number = _a_certificate(app)
    findings: list = []

    phone = new_context(locale="zh-CN", **VIEWPORTS["phone"]).new_page()
    phone.set_default_timeout(15_000)
    sign_in(phone, "13912345678")
    phone.goto("/")
    phone.locator(".navbar-toggler").click()
    phone.get_by_role("link", name="我的个人信息").click()
    expect(phone).to_have_url(re.compile(r"/my/data$"))
    for details in phone.locator("details.mydata-section").all():
        details.evaluate("el => el.open = true")
    expect(phone.locator("#certificates")).to_contain_text(number)
    no_horizontal_overflow(phone)
    axe_check(phone, base_url, "my data (phone)", findings)

    counts = {s: int(phone.locator(f"#count-{s}").inner_text()) for s in mydata.SECTIONS}
    with phone.expect_download() as download:
        phone.click("#download-json")
    data = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert data["counts"] == counts and data["certificates"][0]["number"] == number

    phone.select_option("#c-section", "employments")
    phone.fill("#c-subject", "入职日期")
    phone.fill("#c-message", "入职日期应为2024年2月1日")
    phone.click("#correction-send")
    expect(phone.locator(".alert-success")).to_be_visible()

    desk = new_context(locale="zh-CN", **VIEWPORTS["desktop"]).new_page()
    desk.set_default_timeout(15_000)
    sign_in(desk, "inst_admin")
    desk.goto("/corrections")
    card = desk.locator("[id^=correction-]").first
    expect(card).to_contain_text("入职日期应为2024年2月1日")
    axe_check(desk, base_url, "correction requests", findings)
    card.locator("textarea").fill("已核对劳动合同，入职日期已更正")
    card.locator("button[value=complete]").click()
    expect(desk.locator(".alert-success")).to_be_visible()

    phone.goto("/my/data")
    section = phone.locator("#corrections")
    section.evaluate("el => el.open = true")
    expect(section).to_contain_text("已核对劳动合同，入职日期已更正")
    expect(section).to_contain_text("已更正")
    no_horizontal_overflow(phone)
    assert not findings, findings
