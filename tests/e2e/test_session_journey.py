"""A training base's session in real Chromium: staff schedule it at a desk, a caregiver books
it on a phone, the trainer's screen shows the rotating QR code, the caregiver checks in with
the current code and an old code is refused, and the hours reach the caregiver's ledger.

Nobody waits for the session to start or end: time-machine moves the clock of this process,
which is also the live server's, to just before the start and then past the end."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

import pytest
import time_machine
from playwright.sync_api import expect
from sqlalchemy import select

from lms.core import settings
from lms.core.actors import DEMO
from lms.core.clock import local_now, local_today, to_local, to_utc, utc_now
from lms.extensions import db
from lms.ledger.models import LedgerEntry
from lms.registry.models import Organisation, Person
from lms.scheduling import service
from lms.scheduling.models import Attendance, TrainingSession
from tests.conftest import import_test_course
from tests.helpers import VIEWPORTS, axe_check, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e


def test_schedule_book_check_in_and_credit(new_context, e2e_world, app, base_url):
    with app.app_context():
        course = import_test_course()
        course_id = course.id
        base_id = db.session.scalar(select(Organisation.id).where(Organisation.kind == "training_base"))
        person_id = db.session.scalar(select(Person.id).where(Person.mobile == "13912345678"))
        # the clock jumps hours ahead below; in the story nobody sits idle that long, so the
        # idle sign-out (auth.idle_minutes_*) is set to its longest
        settings.set_setting(DEMO, "auth.idle_minutes_staff", "480", local_today())
        settings.set_setting(DEMO, "auth.idle_minutes_caregiver", "720", local_today())
        db.session.commit()
    desk = new_context(locale="zh-CN", **VIEWPORTS["desktop"]).new_page()
    desk.set_default_timeout(15_000)
    desk.on("dialog", lambda dialog: dialog.accept())
    sign_in(desk, "base_staff")

    # venues and instructors, then the session (local times, next week 09:00-12:00)
    desk.goto(f"/bases/{base_id}/resources")
    desk.fill("#venue-name", "一号实训室")
    desk.click("#venue-form button[type=submit]")
    desk.fill("#instructor-name", "李老师")
    desk.click("#instructor-form button[type=submit]")
    expect(desk.locator("main")).to_contain_text("李老师")
    # the next full hour but one (local time): close enough that the moved clock keeps everyone
    # signed in (sessions last 8 hours), far enough that it starts in the future
    starts = local_now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    desk.goto(f"/bases/{base_id}/sessions/new")
    desk.select_option("#course_id", str(course_id))
    desk.select_option("#kind", "practical")
    desk.fill("#starts_at", starts.strftime("%Y-%m-%dT%H:%M"))
    desk.fill("#ends_at", (starts + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    desk.fill("#capacity", "20")
    desk.fill("#class_hours", "3")
    desk.click("#session-form button[type=submit]")
    expect(desk.locator("#calendar .calendar-item")).to_have_count(1)
    with app.app_context():
        session_id = db.session.scalar(select(TrainingSession.id))

    # the caregiver finds it on a phone and books a seat
    phone = new_context(locale="zh-CN", **VIEWPORTS["phone"]).new_page()
    phone.set_default_timeout(15_000)
    sign_in(phone, "13912345678")
    phone.goto("/sessions")
    phone.click(f"a[href='/sessions/{session_id}']")
    phone.click("#book")
    expect(phone.locator("#my-booking")).to_be_visible()
    no_horizontal_overflow(phone)
    axe_check(phone, base_url, "session (phone)", [])

    # the session is about to start: the trainer shows the code, the caregiver scans it
    with time_machine.travel((to_utc(starts) - timedelta(minutes=5)).replace(tzinfo=UTC), tick=True):
        desk.goto(f"/sessions/{session_id}")
        desk.click(f"a[href='/sessions/{session_id}/qr']")
        qr = desk.locator("#qr")
        expect(qr).to_be_visible()
        link = qr.get_attribute("data-link")
        assert link.startswith(base_url + f"/sessions/{session_id}/attend?code=")
        phone.goto(link)
        phone.click("#check-in")
        expect(phone.locator(".alert-success[role=status]")).to_be_visible()
        with app.app_context():
            attendance = db.session.scalar(select(Attendance).where(Attendance.person_id == person_id))
            assert attendance.status == "present" and attendance.checked_in_at is not None
            target = db.session.get(TrainingSession, session_id)
            old = service.attendance_code(target, utc_now() - timedelta(minutes=2))
        phone.goto(f"/sessions/{session_id}/attend?code={old}")
        phone.click("#check-in")
        expect(phone.locator("#attend-error")).to_be_visible()

    # the session has ended: staff close it and the hours are credited (the clock stays moved:
    # a cookie signed in the moved time would look forged to a clock that went back)
    with time_machine.travel((to_utc(starts) + timedelta(hours=3, minutes=1)).replace(tzinfo=UTC),
                             tick=True):
        desk.goto(f"/sessions/{session_id}")
        desk.click("#close-session")
        expect(desk.locator(".alert-success[role=status]")).to_be_visible()
        with app.app_context():
            entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.person_id == person_id))
            assert (entry.source_type, entry.hours) == ("session", Decimal("3.0000"))
            day = to_local(db.session.get(TrainingSession, session_id).starts_at).strftime("%Y-%m-%d")
        phone.goto("/hours")
        expect(phone.locator("#ledger-entries tbody tr").first).to_contain_text("TT-101")
        expect(phone.locator("#ledger-entries tbody tr").first).to_contain_text(day)
        expect(phone.locator("[data-testid=hours-skills]")).to_contain_text("3")
        phone.screenshot(path="test-results/session-hours-375.png", full_page=True)
