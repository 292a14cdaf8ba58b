"""The compliance journey in a real browser, at desktop and phone size (issue 14).

A city regulator opens the dashboard (both charts' containers and their hidden tables are
there), drills down city → district → institution → person, sees the person's gaps, and
exports the district table, whose row count and totals equal the screen's. An institution
admin sees a staff member's missing health check, the check is recorded, and the gap closes.

Elements are found by id and data attributes, never by visible text.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from lms.compliance import rollups
from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import Organisation, Person
from tests.e2e.test_charts import CSP_LISTENER
from tests.factories import credit_code, id_number
from tests.helpers import VIEWPORTS, axe_check, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request) -> str:
    return request.param


def _page(new_context, viewport):
    context = new_context(locale="zh-CN", accept_downloads=True, **VIEWPORTS[viewport])
    context.add_init_script(CSP_LISTENER)  # every page collects what the policy refuses
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error"
            and not m.location.get("url", "").endswith("/favicon.ico") else None)
    return page


@pytest.fixture()
def compliance_world(app, e2e_world):
    """The e2e world plus a second 玄武区 institution; the caregiver 张晓雯 has everything but a
    health check; snapshots refreshed."""
    from tests.compliance.conftest import hours, qualify, staff_record

    with app.app_context():
        inst = db.session.get(Organisation, e2e_world.org_id)
        staff = db.session.scalar(db.select(Person).where(Person.name == "张晓雯"))
        extra = registry.create_organisation(DEMO, kind="institution", name="阳光托育园",
                                             district=inst.district, credit_code=credit_code(9))
        for n in range(2):
            registry.add_staff(DEMO, extra, id_number=id_number("320102", "19910101", 20 + n),
                               name="赵" + "甲乙"[n], post="nursery_carer",
                               start_date=date(2025, 1, 1))
        qualify(staff)
        hours(staff, "skills", 72)
        hours(staff, "ethics", 40)
        staff_record(staff, "no_criminal_record", local_today() - timedelta(days=20), org=inst)
        rollups.refresh(DEMO)
        db.session.commit()
        yield {"inst": inst.id, "district": inst.district_id, "staff": staff.id, "extra": extra.id}


def test_a_city_regulator_drills_down_and_exports(compliance_world, new_context, viewport,
                                                   base_url, tmp_path):
    page = _page(new_context, viewport)
    findings: list = []
    sign_in(page, "regulator_city")
    page.goto("/compliance")
    expect(page.locator(".lms-chart")).to_have_count(2)
    expect(page.locator('.lms-chart[data-chart-kind="bar-target"]')).to_have_count(1)
    expect(page.locator("#chart-rates-table tbody tr")).to_have_count(2)  # two districts
    expect(page.locator("#freshness")).to_be_visible()
    # both charts are drawn (ECharts has an instance on a canvas), and the policy refused nothing
    for chart_id in ("chart-rates", "chart-trend"):
        page.wait_for_function(
            "(id) => window.echarts && echarts.getInstanceByDom(document.getElementById(id))",
            arg=chart_id)
        expect(page.locator(f"#{chart_id} canvas")).to_have_count(1)
    assert page.evaluate("window.__csp") == []
    axe_check(page, base_url, f"compliance dashboard ({viewport})", findings)
    if viewport == "phone":
        no_horizontal_overflow(page)

    page.locator(f'#area-table a[href="/compliance/districts/{compliance_world["district"]}"]').click()
    expect(page).to_have_url(re.compile(rf"/compliance/districts/{compliance_world['district']}$"))
    expect(page.locator("#area-table tbody tr")).to_have_count(2)
    axe_check(page, base_url, f"compliance district ({viewport})", findings)

    # the export equals the screen: rows and totals
    screen_rows = int(re.match(r"\d+", page.locator("#row-count").inner_text()).group())
    screen_totals = [int(t) for t in page.locator("#totals td").all_inner_texts()]
    with page.expect_download() as info:
        page.locator("#export").click()
    path = tmp_path / "district.xlsx"
    info.value.save_as(path)
    rows = list(load_workbook(path).worksheets[0].iter_rows(values_only=True))
    assert len(rows[1:-1]) == screen_rows == 2
    assert list(rows[-1][1:]) == screen_totals
    assert screen_totals[0] == 3  # 张晓雯 and the two at 阳光托育园

    page.locator(f'#area-table a[href="/compliance/institutions/{compliance_world["inst"]}"]').click()
    expect(page.locator("#staff-table tbody tr")).to_have_count(1)
    expect(page.locator('#staff-table [data-gap="health_missing"]')).to_have_count(1)
    page.locator(f'#staff-table a[href="/compliance/persons/{compliance_world["staff"]}"]').click()
    expect(page.locator('#gaps [data-gap="health_missing"]')).to_have_count(1)
    expect(page.locator('#gaps [data-gap="record_missing"]')).to_have_count(0)
    axe_check(page, base_url, f"compliance person ({viewport})", findings)
    if viewport == "phone":
        no_horizontal_overflow(page)
    assert page.console_errors == []


def test_an_institution_admin_sees_the_health_gap_close(app, compliance_world, new_context,
                                                        viewport):
    page = _page(new_context, viewport)
    sign_in(page, "inst_admin")
    page.goto("/compliance")
    expect(page).to_have_url(re.compile(rf"/compliance/institutions/{compliance_world['inst']}$"))
    gap = page.locator('#staff-table [data-gap="health_missing"]')
    expect(gap).to_have_count(1)
    expect(page.locator('#to-do a[href$="gap=health_missing"]')).to_have_count(1)

    # the institution records the health check on the staff member's page, as it would
    page.goto(f"/institutions/{compliance_world['inst']}/staff/{compliance_world['staff']}")
    section = page.locator("#staff-records")
    section.locator("summary").click()
    page.select_option("#kind", "health_check")
    page.fill("#issued_on", local_today().isoformat())
    page.select_option("#result", "fit")
    page.fill("#issuer", "玄武区妇幼保健院")
    section.locator("form button[type=submit]").click()
    expect(section.locator(".badge.text-bg-warning")).to_have_count(0)  # nothing missing now

    page.goto("/compliance")
    expect(gap).to_have_count(0)
    expect(page.locator('#to-do a[href$="gap=health_missing"]')).to_have_count(0)
    page.locator(f'#staff-table a[href="/compliance/persons/{compliance_world["staff"]}"]').click()
    expect(page.locator("#health")).to_contain_text("玄武区妇幼保健院")
    assert page.console_errors == []
