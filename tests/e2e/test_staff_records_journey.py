"""An institution admin records a staff member's health check in a real browser, at desktop
and phone size: the staff page's section lists both records as missing, the form (behind a
disclosure) takes the date, result, issuer and a photographed scan, and the check then shows
as current. axe-core and, on the phone, a horizontal-overflow check on the way.

Elements are found by id and state colour, never by visible text."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from lms.core.clock import local_today
from lms.extensions import db
from lms.registry.models import Person, StaffRecord, StaffRecordScan
from tests.helpers import VIEWPORTS, axe_check, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request) -> str:
    return request.param


def test_recording_a_health_check(new_context, viewport, e2e_world, app, base_url, results_dir,
                                  tmp_path):
    page = new_context(locale="zh-CN", **VIEWPORTS[viewport]).new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    findings: list = []
    with app.app_context():
        person_id = db.session.scalar(select(Person.id).where(Person.name == "张晓雯"))
    scan = tmp_path / "体检报告.jpg"
    out = io.BytesIO()
    Image.new("RGB", (600, 800), (240, 240, 230)).save(out, "JPEG")
    scan.write_bytes(out.getvalue())

    sign_in(page)
    page.goto(f"/institutions/{e2e_world.org_id}/staff/{person_id}")
    section = page.locator("#staff-records")
    expect(section.locator(".badge.text-bg-warning")).to_have_count(2)  # both missing
    expect(page.locator("#kind")).not_to_be_visible()  # the form waits behind its summary
    section.locator("summary").click()
    page.select_option("#kind", "health_check")
    page.fill("#issued_on", local_today().isoformat())
    page.select_option("#result", "fit")
    page.fill("#issuer", "南京市玄武区妇幼保健所")
    page.fill("#document_no", "TJ-2026-0001")
    page.set_input_files("#scan", str(scan))
    if viewport == "phone":
        no_horizontal_overflow(page)
    axe_check(page, base_url, "staff records form", findings)
    section.locator("form button[type=submit]").click()

    expect(section.locator(".badge.text-bg-success")).to_have_count(1)
    expect(section.locator(".badge.text-bg-warning")).to_have_count(1)  # the certificate
    expect(section.locator("a[href*='/registry/staff-records/']")).to_have_count(1)
    if viewport == "phone":
        no_horizontal_overflow(page)
    axe_check(page, base_url, "staff records", findings)
    page.screenshot(path=str(results_dir / f"staff-records-{viewport}.png"), full_page=True)
    assert errors == []
    with app.app_context():
        stored = db.session.scalars(select(StaffRecord)).one()
        assert (stored.kind, stored.result, stored.issued_on) == ("health_check", "fit",
                                                                  local_today())
        assert db.session.get(StaffRecordScan, stored.id).content_type == "image/jpeg"
