"""A training subsidy from claim to payment in real Chromium: the caregiver claims on a phone
(and sees the account masked), the base confirms, the HR reviewer rejects one claim with a
reason and approves the other, publishes it in the public notice, marks it paid after the
notice, and the Excel export's totals match the screen's."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from lms.certificates import service as certificates
from lms.certificates.models import Certificate
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import Organisation, Person, QualificationType
from lms.subsidies.models import SubsidyClaim, SubsidyNotice
from lms.subsidies.service import ensure_standards
from tests.helpers import VIEWPORTS, axe_check, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e


def _certificates(app) -> tuple[int, list[int]]:
    """The caregiver holds a 保育师 and a 育婴员 certificate (level 5) from the base."""
    with app.app_context():
        ensure_standards()
        base = db.session.scalar(select(Organisation).where(Organisation.kind == "training_base"))
        person = db.session.scalar(select(Person).where(Person.mobile == "13912345678"))
        ids = []
        for n, code in enumerate(("baoyushi", "yuyingyuan"), start=1):
            kind = db.session.scalar(select(QualificationType).where(QualificationType.code == code))
            issued = local_today() - timedelta(days=20)
            number = certificates.certificate_number(kind, issued.year, base.id, n)
            record = registry.add_qualification(DEMO, person, kind, issued_on=issued, level=5,
                                                certificate_no=number, issuer=base.name)
            cert = Certificate(number=number, verify_code=f"e2e-{n}", person_id=person.id,
                               qualification_type_id=kind.id, level=5, issuer_id=base.id,
                               issued_on=issued, status="valid", qualification_id=record.id)
            db.session.add(cert)
            db.session.flush()
            ids.append(cert.id)
        db.session.commit()
        return base.id, ids


def test_claim_to_payment(new_context, e2e_world, app, base_url):
    base_id, (first, second) = _certificates(app)
    findings: list = []

    # the caregiver, on a phone, claims both
    phone = new_context(locale="zh-CN", **VIEWPORTS["phone"]).new_page()
    phone.set_default_timeout(15_000)
    sign_in(phone, "13912345678")
    phone.goto("/my/subsidies")
    expect(phone.locator(f"#cert-{first}")).to_contain_text("1000.00")
    no_horizontal_overflow(phone)
    for cert_id in (first, second):
        phone.click(f"#claim-{cert_id}")
        expect(phone.locator("#amount")).to_contain_text("1000.00")
        phone.fill("#bank_name", "中国工商银行南京玄武支行")
        phone.fill("#bank_account", "6222 0212 3456 7890 123")
        if cert_id == first:
            no_horizontal_overflow(phone)
            axe_check(phone, base_url, "subsidy claim form (phone)", findings)
        phone.click("#submit-claim")
        expect(phone.locator("#claim-state")).to_be_visible()
        expect(phone.locator("#bank-account")).to_have_text("•••• 0123")
        assert "6222021234567890123" not in phone.content()
        phone.goto("/my/subsidies")
    with app.app_context():
        claims = {c.certificate_id: c.id for c in db.session.scalars(select(SubsidyClaim))}
    keep, reject = claims[first], claims[second]

    # the base confirms both
    base = new_context(locale="zh-CN", **VIEWPORTS["desktop"]).new_page()
    base.on("dialog", lambda d: d.accept())
    sign_in(base, "base_staff")
    base.goto(f"/bases/{base_id}/subsidies")
    base.check("#base-claims [data-check-all]")  # one tick chooses every row
    expect(base.locator(f"#pick-{keep}")).to_be_checked()
    expect(base.locator(f"#pick-{reject}")).to_be_checked()
    base.click("#confirm-claims")
    expect(base.locator(".alert-success[role=status]")).to_be_visible()

    # the HR reviewer rejects one with a reason and approves the other
    hr = new_context(locale="zh-CN", **VIEWPORTS["desktop"]).new_page()
    hr.on("dialog", lambda d: d.accept())
    sign_in(hr, "hr_reviewer")
    hr.goto("/subsidies/review")
    expect(hr.locator("#queue-totals")).to_have_attribute("data-count", "2")
    axe_check(hr, base_url, "HR review queue", findings)
    hr.goto(f"/subsidies/{reject}")
    hr.click("#do-reject")  # no reason: refused, and said so
    expect(hr.locator(".alert-danger")).to_be_visible()
    hr.fill("#reason", "开户名与证书持有人不一致")
    hr.click("#do-reject")
    expect(hr.locator("#rejected-reason")).to_have_text("开户名与证书持有人不一致")
    hr.goto("/subsidies/review?state=confirmed")
    hr.check(f"#pick-{keep}")
    hr.click("#approve-chosen")
    expect(hr.locator(".alert-success[role=status]")).to_be_visible()

    # published in the notice, which the public reads with the name masked
    hr.goto("/subsidies/review?state=approved")
    hr.check(f"#pick-{keep}")
    hr.click("#publish-chosen")
    expect(hr.locator(".alert-success[role=status]")).to_be_visible()
    public = new_context(locale="zh-CN", **VIEWPORTS["phone"]).new_page()
    public.goto("/subsidies/notices")
    public.click("#notices a")
    with app.app_context():
        claim = db.session.get(SubsidyClaim, keep)
        reference, name = claim.reference, claim.person.name
    expect(public.locator("#notice-table")).to_contain_text(reference)
    expect(public.locator("#notice-table")).to_contain_text(name[0] + "*")
    expect(public.locator("#notice-table")).not_to_contain_text(name)
    no_horizontal_overflow(public)

    # a week later the notice has closed without objections: paid
    with app.app_context():
        notice = db.session.scalar(select(SubsidyNotice))
        notice.starts_on, notice.ends_on = local_today() - timedelta(days=8), local_today() - timedelta(days=2)
        db.session.commit()
    hr.goto("/subsidies/review?state=published")
    hr.check(f"#pick-{keep}")
    hr.fill("#payment_ref", "ZF2026112900017")
    hr.click("#pay-chosen")
    expect(hr.locator(".alert-success[role=status]")).to_be_visible()

    # the export of approved and paid claims matches the screen
    hr.goto("/subsidies/review?state=payable")
    totals = hr.locator("#queue-totals")
    expect(totals).to_have_attribute("data-count", "1")
    screen_count, screen_total = totals.get_attribute("data-count"), totals.get_attribute("data-total")
    with hr.expect_download() as download:
        hr.click("#export")
    sheet = openpyxl.load_workbook(io.BytesIO(open(download.value.path(), "rb").read())).active
    rows = list(sheet.iter_rows(values_only=True))
    body, total_row = rows[1:-1], rows[-1]
    assert len(body) == int(screen_count) == 1
    assert Decimal(str(total_row[7])).quantize(Decimal("0.01")) == Decimal(screen_total) == Decimal("1000.00")
    assert body[0][0] == reference and body[0][12] == "ZF2026112900017"

    # the caregiver sees it paid
    phone.goto(f"/subsidies/{keep}")
    expect(phone.locator("#paid")).to_contain_text("ZF2026112900017")
