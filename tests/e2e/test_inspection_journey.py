"""A 双随机 inspection in real Chromium: the regulator plans a task and draws it with a seed,
draws again with the same seed and gets the same institutions and inspectors (and the draw
verifies), announces it; on a phone (375×812) an inspector finds a staff member by identity
number (typed, sent by POST: never in the URL), sees the photo beside the record, and records a
人证合一 mismatch with a photo taken on site; the results are recorded and published, the public
results notice shows them without personal data, and the mismatch is a follow-up on the
regulator's home page.

Elements are found by id/name, never by visible text."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from lms.core.actors import DEMO
from lms.core.clock import local_today, this_year
from lms.enforcement import inspections
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import District, Organisation
from tests.factories import credit_code, id_number
from tests.helpers import VIEWPORTS, axe_check, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e

SEED = "2026-玄武-001"


def _photo(colour=(90, 140, 190)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (240, 320), colour).save(out, "JPEG")
    return out.getvalue()


def _inspection_world(app) -> dict[str, str]:
    """Four institutions in 玄武区, each with a staff member who has a photo, four inspectors
    and an item; {institution name: its staff member's identity number}."""
    with app.app_context():
        xuanwu = db.session.scalar(select(District).where(District.code == "320102"))
        orgs = list(db.session.scalars(select(Organisation).where(
            Organisation.kind == "institution", Organisation.district_id == xuanwu.id)))
        for n in range(3):
            orgs.append(registry.create_organisation(DEMO, kind="institution", name=f"阳光托育{n + 1}园",
                                                     district=xuanwu, credit_code=credit_code(60 + n)))
        staff = {}
        for n, org in enumerate(orgs):
            number = id_number("320102", "19920506", 40 + n)
            added = registry.add_staff(DEMO, org, id_number=number, name="林" + "一二三四"[n] + "妹",
                                       post="nursery_carer", start_date=local_today())
            registry.set_photo(DEMO, added.employment.person, _photo())
            staff[org.name] = number
        for n, name in enumerate(("王建国", "李卫东", "赵红梅", "陈志强")):
            inspections.add_inspector(DEMO, xuanwu, name=name, is_leader=n == 0)
        inspections.add_item(DEMO, None, name="从业人员持证上岗情况", basis="《托育机构管理规范（试行）》",
                             draw_percent=50, frequency="每年一次", method="现场检查")
        db.session.commit()
        return staff


def _teams(page) -> list[str]:
    return page.locator("#visits tbody tr").all_inner_texts()


def test_draw_check_and_publish(new_context, e2e_world, app, base_url, tmp_path):
    staff = _inspection_world(app)
    findings: list = []

    # --- the regulator plans and draws, at a desk ---
    desk = new_context(locale="zh-CN", **VIEWPORTS["desktop"]).new_page()
    desk.set_default_timeout(15_000)
    sign_in(desk, "regulator")
    desk.goto("/inspections/tasks/new")
    desk.fill("#title", "2026年度托育机构双随机抽查")
    desk.fill("#year", str(this_year()))
    desk.check("#items input[type=checkbox] >> nth=0")
    desk.fill("#draw_count", "2")
    desk.click("#task-form button[type=submit]")
    expect(desk).to_have_url(re.compile(r"/inspections/tasks/\d+$"))
    task_url = desk.url
    desk.fill("#seed", SEED)
    desk.click("#draw-button")
    expect(desk.locator("#draw-seed")).to_have_text(SEED)
    first = _teams(desk)
    assert len(first) == 2
    desk.fill("#seed", SEED)
    desk.click("#draw-button")
    expect(desk.locator("#draw-seed")).to_have_text(SEED)
    assert _teams(desk) == first  # the same institutions and the same inspectors
    desk.click("#verify-link")
    expect(desk.locator("#verify-result.alert-success")).to_be_visible()
    axe_check(desk, base_url, "inspection task", findings)
    desk.goto(task_url)
    desk.click("#act-publish")
    expect(desk.locator("#act-publish")).to_have_count(0)  # announced; closing waits for results
    visit_urls = [desk.locator("#visits a.visit-link").nth(i).get_attribute("href") for i in range(2)]
    names = [desk.locator("#visits a.visit-link").nth(i).inner_text() for i in range(2)]

    # --- on site, on a phone ---
    phone = new_context(locale="zh-CN", **VIEWPORTS["phone"]).new_page()
    phone.set_default_timeout(15_000)
    sign_in(phone, "regulator")
    phone.goto(visit_urls[0])
    no_horizontal_overflow(phone)
    number = staff[names[0]]
    phone.fill("#id_number", number.lower())
    phone.click("#find-button")
    expect(phone).to_have_url(re.compile(r"/inspections/visits/\d+/persons/\d+$"))
    assert number not in phone.url and number.lower() not in phone.url
    expect(phone.locator("#record-photo")).to_be_visible()
    assert phone.locator("#record-photo").evaluate("img => img.naturalWidth") > 0
    expect(phone.locator("#posts")).not_to_be_empty()
    no_horizontal_overflow(phone)
    axe_check(phone, base_url, "人证合一 check (phone)", findings)
    assert phone.locator("#photo").get_attribute("capture") == "environment"
    phone.check("#result input[value=mismatch]")
    phone.fill("#note", "在岗人员与档案照片不符")
    on_site = tmp_path / "on-site.jpg"
    on_site.write_bytes(_photo((200, 90, 60)))
    phone.set_input_files("#photo", str(on_site))
    phone.click("#check-button")
    expect(phone.locator("#checks .check-result")).to_have_count(1)
    # the results of both institutions, recorded on the phone
    for url, outcome in zip(visit_urls, ("rectify", "compliant"), strict=True):
        phone.goto(url)
        phone.check(f"#outcome input[value={outcome}]")
        if outcome == "rectify":
            phone.fill("#findings", "部分人员人证不符，需核实并整改")
            phone.fill("#rectify_by", local_today().replace(day=28).isoformat()
                       if local_today().day < 28 else f"{local_today().year + 1}-01-31")
        phone.click("#result-button")
        expect(phone).to_have_url(re.compile(r"/inspections/tasks/\d+$"))
    no_horizontal_overflow(phone)

    # --- the results are published ---
    desk.goto(task_url)
    desk.click("#act-close")
    expect(desk.locator("#task-actions")).to_have_count(0)
    public = new_context(locale="zh-CN", **VIEWPORTS["phone"]).new_page()
    task_id = task_url.rsplit("/", 1)[1]
    public.goto(f"/public/inspections/tasks/{task_id}/results")
    expect(public.locator("#public-results tbody tr")).to_have_count(2)
    text = public.locator("main").inner_text()
    assert all(name in text for name in names) and "部分人员人证不符" in text
    assert not re.search(r"[1-9]\d{16}[\dXx]", text) and "林一妹" not in text
    no_horizontal_overflow(public)
    axe_check(public, base_url, "results notice", findings)
    public.goto(f"/public/inspections/tasks/{task_id}")
    assert public.locator("#public-seed").inner_text() == SEED
    # the mismatch waits on the regulator's home page
    desk.goto("/")
    expect(desk.locator("#summary-follow-ups .fs-3")).to_have_text("1")
