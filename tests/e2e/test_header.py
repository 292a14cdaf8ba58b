"""Every role's header fits the screen at 1280 and 375 px in all three languages: nothing in it
is wider than the viewport, and sign-out and the language switch can be reached (at a phone's
width behind the menu button)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from lms.core.i18n import LANGUAGE_NAMES
from tests.helpers import sign_in

pytestmark = pytest.mark.e2e

ROLES = ["admin", "inst_admin", "base_staff", "hr_reviewer", "regulator", "13912345678"]
LANGUAGES = {"zh_Hans_CN": "zh-CN", "zh_Hant_TW": "zh-TW", "en": "en"}
WIDTHS = {1280: {"viewport": {"width": 1280, "height": 800}},
          375: {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}}
#: the account menus are named by the user's display name (the caregiver's is her name)
USER_NAMES = {"13912345678": "张晓雯"}
#: the user menu's sign-out and the language switch, by their accessible names
SIGN_OUT = {"zh_Hans_CN": "退出登录", "zh_Hant_TW": "登出", "en": "Sign out"}


def _header_fits(page) -> None:
    sizes = page.evaluate("""() => {
        const nav = document.querySelector('nav.navbar');
        const wide = [...nav.querySelectorAll('*')].filter(el => {
            const r = el.getBoundingClientRect();
            return r.width > 0 && r.right > window.innerWidth + 0.5;
        }).map(el => el.outerHTML.slice(0, 100));
        return {scroll: nav.scrollWidth, client: nav.clientWidth, inner: window.innerWidth,
                doc: document.documentElement.scrollWidth, wide};
    }""")
    assert sizes["scroll"] <= sizes["inner"] and sizes["doc"] <= sizes["inner"], sizes
    assert sizes["wide"] == [], sizes


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_roles_header_fits_and_keeps_sign_out_and_language_in_reach(
        new_context, e2e_world, base_url, width, language):
    context = new_context(locale=LANGUAGES[language], **WIDTHS[width])
    page = context.new_page()
    page.set_default_timeout(10_000)
    for role in ROLES:
        sign_in(page, role)
        page.goto("/")
        _header_fits(page)
        nav = page.get_by_role("navigation", name=page.locator("nav.navbar").get_attribute("aria-label"))
        toggler = nav.locator(".navbar-toggler")
        if toggler.is_visible():
            toggler.click()
            # wait for the menu to finish unfolding ("collapsing" -> "collapse show"): a click
            # on a dropdown while it moves is lost
            expect(nav.locator("#nav")).to_have_class(re.compile(r"(^|\s)show(\s|$)"))
            _header_fits(page)
        # the language switch: a menu named by the current language, listing all three
        # the toggle comes first; the current language is also a button inside its menu
        language_menu = nav.get_by_role("button", name=LANGUAGE_NAMES[language], exact=True).first
        expect(language_menu).to_be_visible()
        language_menu.click()
        for name in ("简体中文", "繁體中文", "English"):
            expect(nav.get_by_role("button", name=name).or_(nav.get_by_role("link", name=name))
                   .or_(nav.get_by_role("menuitem", name=name)).first).to_be_visible()
        language_menu.click()
        # sign-out, in the user's menu
        user_menu = nav.get_by_role("button", name=USER_NAMES.get(role, role), exact=True)
        expect(user_menu).to_be_visible()
        user_menu.click()
        sign_out = nav.get_by_role("button", name=SIGN_OUT[language])
        expect(sign_out).to_be_visible()
        box = sign_out.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= WIDTHS[width]["viewport"]["width"] + 0.5
        if role == "admin":
            expect(nav.get_by_role("link", name={"zh_Hans_CN": "审计日志", "zh_Hant_TW": "稽核日誌",
                                                  "en": "Audit log"}[language])).to_be_visible()
        sign_out.click()
        page.wait_for_load_state("load")
    context.close()
