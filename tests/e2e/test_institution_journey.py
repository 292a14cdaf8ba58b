"""An institution admin's journey in a real browser, at desktop and phone size.

Sign in, add a staff member (one-time password, masked identity number in the list), import
a roster with one bad row (nothing stored, the row's problem shown), be refused for a banned
identity number typed with a lower-case x; screenshots, a horizontal-overflow check at phone
size and axe-core checks on the way. A second test switches the language to English.

Elements are found by id/name, never by visible text: the Chinese catalogs are still being
written. Texts the app shows are compared with what the app itself renders for zh-CN.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from lms.core.clock import local_today
from lms.core.excel import write_xlsx
from lms.core.idnumber import IdNumberError, mask_id_number, normalise_id_number
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.models import Person
from lms.registry.roster import COLUMN_TITLES
from tests.factories import id_number
from tests.helpers import VIEWPORTS, axe_check, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e

ZH = {"Accept-Language": "zh-CN"}

#: per viewport: the staff member added by hand, and the roster's three rows
PEOPLE = {
    "desktop": {"seq": 11, "name": "李明远", "mobile": "13700000001",
                "roster": [(21, "赵一", "13600000001"), (22, "钱二", "13600000002"),
                           (23, "孙三", "13600000003")]},
    "phone": {"seq": 12, "name": "王思琪", "mobile": "13700000002",
              "roster": [(31, "周四", "13600000004"), (32, "吴五", "13600000005"),
                         (33, "郑六", "13600000006")]},
}


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request) -> str:
    return request.param


@pytest.fixture()
def browser_page(new_context, viewport):
    """A zh-CN page at the viewport; collects console errors (CSP refusals, failed loads)."""
    context = new_context(locale="zh-CN", **VIEWPORTS[viewport])
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.console_errors = []

    def on_console(message) -> None:
        # Chromium asks for /favicon.ico on its own; the app has none (reported, not tested)
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            page.console_errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: page.console_errors.append(f"pageerror: {exc}"))
    return page


# --- helpers ---------------------------------------------------------------------------------


def zh_text(e2e_app, render) -> str:
    """What the app renders for a zh-CN browser (the catalogs may change while we run)."""
    with e2e_app.test_request_context(headers=ZH):
        return render()


def roster_file(tmp_path: Path, rows) -> Path:
    headers = ["姓名", "身份证号", "手机号", "岗位", "入职日期", "是否专职负责人"]
    path = tmp_path / "roster.xlsx"
    path.write_bytes(write_xlsx(headers, rows, text_columns={1, 2}))
    return path


def wrong_check_character(number: str) -> str:
    return number[:-1] + next(c for c in "0123456789" if c != number[-1])


def person_exists(app, number: str) -> bool:
    with app.app_context():
        return db.session.scalar(db.select(Person.id).where(Person.id_number == number)) is not None


# --- the journey -----------------------------------------------------------------------------


def test_institution_admin_journey(browser_page, viewport, e2e_world, app, e2e_app, base_url,
                                   results_dir, tmp_path):
    page = browser_page
    org = e2e_world.org_id
    me = PEOPLE[viewport]
    phone = viewport == "phone"
    findings: list = []

    # 1. sign in (the page speaks Chinese to a zh-CN browser)
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    axe_check(page, base_url, "login", findings)
    sign_in(page)

    # 2. add a staff member by identity number
    number = id_number("320102", "19950101", me["seq"])
    page.goto(f"/institutions/{org}/staff/new")
    axe_check(page, base_url, "staff form", findings)
    page.fill("#id_number", number)
    page.fill("#name", me["name"])
    page.fill("#mobile", me["mobile"])
    page.select_option("#post", "nursery_carer")
    expect(page.locator("#start_date")).to_have_value(local_today().isoformat())
    page.click("form#staff-form button[type=submit]")
    expect(page.locator("#added-message")).to_be_visible()
    expect(page.locator("#added-message")).to_contain_text(me["name"])
    one_time = page.locator("#initial-password").inner_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9]{10}", one_time), one_time

    page.goto(f"/institutions/{org}/staff")
    table = page.locator("#staff-table")
    row = table.locator("tbody tr", has_text=me["name"])
    expect(row).to_have_count(1)
    expect(row.locator("td.id-number")).to_have_text(mask_id_number(number))
    assert number not in page.content()  # the full number never reaches the page
    axe_check(page, base_url, "staff list", findings)
    if phone:
        no_horizontal_overflow(page)
    page.screenshot(path=str(results_dir / f"staff-list-{viewport}.png"), full_page=True)

    # 3. a roster whose row 3 (the second staff row) has a wrong check character
    good = [id_number("320102", "19920202", seq) for seq, _n, _m in me["roster"]]
    bad = wrong_check_character(good[1])
    numbers = [good[0], bad, good[2]]
    rows = [[name, n, mobile, "保育员", "2025-09-01", "否"]
            for (_s, name, mobile), n in zip(me["roster"], numbers, strict=True)]
    path = roster_file(tmp_path, rows)

    page.goto(f"/institutions/{org}/roster")
    page.set_input_files("#file", str(path))
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    errors = page.locator("#roster-errors")
    expect(errors).to_be_visible()
    expect(page.locator("#roster-result")).to_have_count(0)
    column = zh_text(e2e_app, lambda: str(COLUMN_TITLES["id_number"]))

    def problem() -> str:
        try:
            normalise_id_number(bad)
        except IdNumberError as err:
            return str(err)
        raise AssertionError("the bad number passed")

    message = zh_text(e2e_app, problem)
    cells = [[c.strip() for c in r.locator("td").all_inner_texts()]
             for r in errors.locator("tbody tr").all()]
    assert cells == [["3", column, message]], cells
    axe_check(page, base_url, "roster errors", findings)
    if phone:
        no_horizontal_overflow(page)
    page.screenshot(path=str(results_dir / f"roster-errors-{viewport}.png"), full_page=True)

    page.goto(f"/institutions/{org}/staff")
    expect(page.locator("#staff-table")).to_be_visible()
    for _seq, name, _mobile in me["roster"]:
        expect(page.locator("#staff-table")).not_to_contain_text(name)
    assert not any(person_exists(app, n) for n in numbers)

    # 4. a banned identity number, typed with a lower-case x, is refused
    banned = e2e_world.banned_id
    assert banned.endswith("X")
    page.goto(f"/institutions/{org}/staff/new")
    page.fill("#id_number", banned[:-1] + "x")
    page.fill("#name", e2e_world.banned_name)
    page.select_option("#post", "nursery_carer")
    page.click("form#staff-form button[type=submit]")
    with e2e_app.test_request_context(headers=ZH):
        refusal = str(registry.BannedError(registry.ban_gate([banned])[banned]))
    feedback = page.locator("#id_number-error, .alert-danger")
    expect(feedback.first).to_be_visible()
    expect(feedback.first).to_have_text(refusal)
    if page.locator("#id_number-error").count():
        expect(page.locator("#id_number")).to_have_attribute(
            "aria-describedby", re.compile(r"(^|\s)id_number-error(\s|$)"))
    expect(page.locator("#added-message")).to_have_count(0)
    expect(page.locator("#initial-password")).to_have_count(0)
    axe_check(page, base_url, "staff form with the refusal", findings)
    page.screenshot(path=str(results_dir / f"banned-refused-{viewport}.png"), full_page=True)
    assert not person_exists(app, banned)
    page.goto(f"/institutions/{org}/staff")
    expect(page.locator("#staff-table")).not_to_contain_text(e2e_world.banned_name)

    (results_dir / f"axe-{viewport}.json").write_text(
        json.dumps(findings, ensure_ascii=False, indent=1), encoding="utf-8")
    assert not page.console_errors, page.console_errors


def test_language_switch_is_remembered(browser_page, viewport, e2e_world, base_url):
    page = browser_page
    sign_in(page)
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    if viewport == "phone":
        toggler = page.locator("button.navbar-toggler")
        expect(toggler).to_be_visible()
        toggler.click()
        expect(page.locator("#nav")).to_be_visible()
    page.click("#lang-menu")
    english = page.locator("form[action$='/lang/en'] button")
    expect(english).to_be_visible()
    english.click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies.get("lms_lang") == "en"
    page.goto(f"/institutions/{e2e_world.org_id}/staff")
    expect(page.locator("#staff-table")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#lang-menu")).to_contain_text("English")
    assert not page.console_errors, page.console_errors
