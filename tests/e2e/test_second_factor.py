"""Issue 18's "done when", in real Chromium: a regulator enrols an authenticator (the codes come
from pyotp and the key the page shows under its QR code), signs out, signs in with password
and code, is refused a wrong code, and uses a recovery code once: a second use is refused."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.helpers import VIEWPORTS, axe_check, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e


def _sign_out(page: Page) -> None:
    page.goto("/")
    page.locator("#user-menu").click()
    page.locator("form[action='/logout'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def _password(page: Page, identifier: str = "regulator") -> None:
    page.goto("/login")
    page.fill("#identifier", identifier)
    page.fill("#password", PASSWORD)
    page.click("main form[method=post] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/login/code$"))


def _code(page: Page, code: str) -> None:
    page.fill("#code", code)
    page.click("#code-form button[type=submit]")


def test_a_regulator_enrols_and_signs_in_with_a_code_or_a_recovery_code(
        new_context, e2e_world, base_url):
    page = new_context(locale="en", **VIEWPORTS["desktop"]).new_page()
    page.set_default_timeout(15_000)
    findings: list = []
    sign_in(page, "regulator")
    expect(page.locator("#second-factor-nudge")).to_be_visible()  # the grace period: a nudge
    page.locator("#second-factor-nudge a").click()
    expect(page).to_have_url(re.compile(r"/account/second-factor$"))
    expect(page.locator("#totp-qr")).to_be_visible()
    assert page.locator("#totp-qr").evaluate("img => img.naturalWidth") > 0  # the CSP let it in
    axe_check(page, base_url, "second factor enrolment", findings)
    secret = "".join(page.locator("#totp-secret").inner_text().split())
    totp = pyotp.TOTP(secret)
    page.fill("#code", totp.at(time.time() - 30))  # the previous step: still accepted
    page.click("#enrol-form button[type=submit]")
    codes = [c.strip() for c in page.locator("#recovery-codes li").all_inner_texts()]
    assert len(codes) == 10 and len(set(codes)) == 10
    no_horizontal_overflow(page)
    page.get_by_role("link", name="I have kept them").click()
    expect(page.locator("#second-factor-nudge")).to_have_count(0)

    _sign_out(page)
    _password(page)
    axe_check(page, base_url, "second factor code", findings)
    wrong = "000000" if totp.now() != "000000" else "111111"
    _code(page, wrong)
    expect(page.locator("#code-error")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login/code$"))
    _code(page, totp.at(time.time() + 30))  # a step not used before (the window allows one ahead)
    expect(page.locator("#user-menu")).to_be_visible()

    _sign_out(page)
    _password(page)
    _code(page, codes[0])
    expect(page.locator("#user-menu")).to_be_visible()
    expect(page.get_by_text("You used a recovery code; 9 are left.")).to_be_visible()

    _sign_out(page)
    _password(page)
    _code(page, codes[0])
    expect(page.locator("#code-error")).to_be_visible()
    expect(page.locator("#user-menu")).to_have_count(0)
    assert not [f for f in findings if f["impact"] in ("critical", "serious")], findings
