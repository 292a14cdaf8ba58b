"""Codes are shown in words (audit-log actions), and every page writes dates one way per locale."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import pytest
from flask import current_app

from lms.core import audit
from lms.core.settings import set_setting
from lms.core.states import MACHINES
from lms.core.web import format_day, format_moment
from lms.extensions import db
from lms.scheduling.models import AttendanceStatus
from lms.subsidies.models import ClaimAction

LMS = Path(__file__).resolve().parents[2] / "lms"


def test_every_audit_action_the_code_records_has_a_title(app):
    codes = set()
    for path in LMS.rglob("*.py"):
        codes |= set(re.findall(r"audit\.record\([^,]+,\s*\"([a-z_.]+)\"", path.read_text(encoding="utf-8")))
    codes |= {f"subsidies.claim_{a.value}" for a in ClaimAction}
    # a prefix completed at run time ("…attendance_mark_" + status): check each completion
    codes = {c for c in codes if not c.endswith("_")}
    codes |= {f"scheduling.attendance_mark_{s.value}" for s in AttendanceStatus}
    # every move a transition table records is titled by its action
    codes |= {f"{m.audit_prefix or m.model.__tablename__}_{a.value}"
              for m in MACHINES for (_s, a) in m.transitions}
    with app.test_request_context():
        titles = audit.action_titles()
    assert len(codes) > 40
    assert sorted(codes - set(titles)) == []


def test_the_audit_log_shows_what_happened_in_words(client, world, login_as):
    set_setting(world.users["admin"], "hours.ethics_required", 48, date(2026, 1, 1))
    db.session.commit()
    login_as("admin")
    english = client.get("/admin/audit").get_data(as_text=True)
    assert "A setting was given a new value" in english and "Signed in" in english
    assert ">setting.set<" not in english and ">auth.login<" not in english
    chinese = client.get("/admin/audit", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "设置了新的参数值" in chinese
    # choosing an action shows exactly that action (signed in, not failed sign-ins)
    only = client.get("/admin/audit?action=auth.login").get_data(as_text=True)
    assert "Signed in" in only and "A setting was given a new value" not in only.split("</select>")[1]


@pytest.mark.parametrize("accept, day, moment", [
    ("en", "Mar 8, 2026", "Mar 8, 2026 2:30\u202fPM"),  # CLDR: a narrow space before PM
    ("zh-CN", "2026年3月8日", "2026年3月8日 14:30"),
    ("zh-TW", "2026年3月8日", "2026年3月8日 下午2:30"),
])
def test_one_date_format_per_locale(app, accept, day, moment):
    with app.test_request_context(headers={"Accept-Language": accept}):
        assert format_day(date(2026, 3, 8)) == day
        # stored times are UTC: 06:30 UTC is 14:30 in the city, and 17:00 UTC the next day
        assert format_moment(datetime(2026, 3, 8, 6, 30)) == moment
        assert format_day(datetime(2026, 3, 7, 17, 0)) == day
        rendered = current_app.jinja_env.from_string("{{ d|day }} {{ t|moment }}").render(
            d=date(2026, 3, 8), t=datetime(2026, 3, 8, 6, 30))
        assert rendered == f"{day} {moment}"


ISO_DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")


def _visible_text(page: str) -> str:
    body = page.split("<main", 1)[1]
    body = re.sub(r"<(script|style)\b.*?</\1>", "", body, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)  # attributes (input values, links) are not text


def test_english_pages_write_dates_one_way(client, world, login_as):
    from tests.helpers import certificate, claim_for

    claim = claim_for(world, certificate(world, world.staff, level=5))
    set_setting(world.users["admin"], "hours.ethics_required", 48, date(2026, 1, 1))
    db.session.commit()
    login_as(world.staff.mobile)
    for url in ("/", f"/subsidies/{claim.id}", "/my/subsidies"):
        text = _visible_text(client.get(url).get_data(as_text=True))
        assert not ISO_DATE.findall(text), (url, ISO_DATE.findall(text))
    client.post("/logout")
    login_as("admin")
    # (the audit log's details column keeps the recorded values as they were stored)
    for url in ("/admin/settings", "/admin/subsidy-standards"):
        text = _visible_text(client.get(url).get_data(as_text=True))
        assert not ISO_DATE.findall(text), (url, ISO_DATE.findall(text))
    assert "Jan 1, 2026" in _visible_text(client.get("/admin/settings").get_data(as_text=True))
    when = re.findall(r'data-label="When"[^>]*>([^<]+)<', client.get("/admin/audit").get_data(as_text=True))
    assert when and all(re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, 20\d\d \d{1,2}:\d\d\u202f[AP]M", w) for w in when), when
