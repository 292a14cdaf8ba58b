"""A caregiver's study journey on a phone, in a real Chromium.

Enrol, study a one-minute lesson until the server credits it, see the hours on "My hours";
a second tab on the same lesson takes the clock over instead of doubling it. The study page
passes axe-core and does not scroll sideways at 375 px.

No test waits for the minutes it studies: the page's clock is Playwright's (its timers run when
told) and the server's clock (the live server runs in this process) is moved with time-machine,
one heartbeat interval at a time, so the server sees exactly the time a learner would spend.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

import pytest
import time_machine
from playwright.sync_api import expect
from sqlalchemy import func, select

from lms.catalog.models import Lesson
from lms.core.actors import system_actor
from lms.core.clock import utc_now
from lms.extensions import db
from lms.learning import service as learning
from lms.learning.models import PresenceCheck, StudyClock, StudySegment
from lms.ledger.models import LedgerEntry, LedgerTotal
from tests.conftest import import_test_course
from tests.helpers import VIEWPORTS, axe_check, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e

HEARTBEAT_SECONDS = 3


def _credited(app, person_id: int, lesson_id: int) -> int:
    """The lesson's credited study time, the clock's open segment included."""
    with app.app_context():
        from lms.catalog.models import Lesson
        from lms.registry.models import Person
        return learning.lesson_seconds(db.session.get(Person, person_id), db.session.get(Lesson, lesson_id))


def test_caregiver_studies_a_lesson_until_credited(new_context, e2e_world, app, e2e_app, base_url):
    e2e_app.config["STUDY_HEARTBEAT_SECONDS"] = HEARTBEAT_SECONDS
    with app.app_context():
        course = import_test_course()
        course_id, lesson_id, lesson_title = course.id, course.lessons[0].id, course.lessons[0].title
        from lms.registry.models import Person
        person = db.session.scalar(select(Person).where(Person.mobile == "13912345678"))
        person_id = person.id
    context = new_context(locale="zh-CN", **VIEWPORTS["phone"])
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and not m.location.get("url", "").endswith("/favicon.ico") else None)

    sign_in(page, "13912345678")
    page.goto("/courses")
    page.click(f"a[href='/courses/{course_id}']")
    page.click(f"form[action='/courses/{course_id}/enrol'] button[type=submit]")
    expect(page.locator(".alert-success")).to_be_visible()
    page.click(f"a[href='/learn/lessons/{lesson_id}']")
    expect(page.locator("h1")).to_have_text(lesson_title)
    expect(page.locator("img.lesson-figure")).to_be_visible()
    no_horizontal_overflow(page)
    axe_check(page, base_url, "study (phone)", [])

    # a second tab on the same lesson takes the clock over; the first stops counting
    second = context.new_page()
    second.clock.install()  # its timers run only when the test says so
    second.goto(f"/learn/lessons/{lesson_id}")
    expect(page.locator("#study-elsewhere")).to_be_visible(timeout=3 * HEARTBEAT_SECONDS * 1000)
    expect(second.locator("#study-elsewhere")).to_be_hidden()
    before = _credited(app, person_id, lesson_id)  # what the first tab had, a few seconds

    # study on in the second tab: each step, the server's clock and the page's move on by one
    # heartbeat interval, and the page sends its heartbeat
    beats = []
    with time_machine.travel(utc_now().replace(tzinfo=UTC), tick=True) as traveller:
        while not (beats and beats[-1]["lesson_credited"]) and len(beats) < 40:
            traveller.shift(HEARTBEAT_SECONDS)
            with second.expect_response(lambda r: r.url.endswith("/learn/heartbeat")) as beat:
                second.clock.run_for(HEARTBEAT_SECONDS * 1000)
            beats.append(beat.value.json())
    assert beats[-1]["lesson_credited"] and beats[-1]["state"] == "complete"
    # every second after the takeover came from the second tab's heartbeats: none doubled
    assert before + sum(b["credited_now"] for b in beats) == 60
    assert len(beats) <= (60 - before) // HEARTBEAT_SECONDS + 2
    progress = second.locator("#study-progress")
    expect(progress).to_have_attribute("value", "60")
    expect(second.locator("#study-status")).to_contain_text("课时")
    with app.app_context():
        entries = list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.person_id == person_id)))
        segments = db.session.scalar(select(func.sum(StudySegment.seconds)).where(
            StudySegment.person_id == person_id))
        total = db.session.scalar(select(LedgerTotal.hours).where(LedgerTotal.person_id == person_id))
    assert len(entries) == 1 and entries[0].source_ref == str(lesson_id)
    assert entries[0].hours == Decimal("0.0222") and total == Decimal("0.0222")
    assert segments == 60 and _credited(app, person_id, lesson_id) == 60

    # "My hours" shows the credit and where it came from. The session cookie was last signed
    # (the idle timeout's last-seen time) in the moved time, which the clock has gone back
    # from: to the server it looks forged, so she signs in again
    sign_in(second, "13912345678")
    second.goto("/hours")
    expect(second.locator("[data-testid=hours-skills]")).to_contain_text("0.02")
    row = second.locator("#ledger-entries tbody tr").first
    expect(row).to_contain_text("TT-101")
    expect(row).to_contain_text(lesson_title)
    no_horizontal_overflow(second)
    second.screenshot(path="test-results/my-hours-375.png", full_page=True)
    assert errors == []


def test_idle_learner_is_asked_about_the_lesson_and_the_clock_waits(new_context, e2e_world, app, e2e_app):
    """After the idle minutes (the page's clock is fast-forwarded) the page asks the server's
    question about the lesson; the clock stands still until the right option is chosen, and
    how long the answer took is kept."""
    e2e_app.config["STUDY_HEARTBEAT_SECONDS"] = HEARTBEAT_SECONDS
    with app.app_context():
        course = import_test_course()
        lesson_id = course.lessons[2].id  # 30 minutes: it will not complete during the test
        from lms.registry.models import Person
        person = db.session.scalar(select(Person).where(Person.mobile == "13912345678"))
        learning.enrol(system_actor("test"), person, course)
        db.session.commit()
        person_id = person.id
    page = new_context(locale="zh-CN", **VIEWPORTS["phone"]).new_page()
    page.set_default_timeout(15_000)
    sign_in(page, "13912345678")
    page.clock.install()
    page.goto(f"/learn/lessons/{lesson_id}")
    expect(page.locator("#study-check")).to_be_hidden()
    page.clock.run_for(HEARTBEAT_SECONDS * 1000)
    page.clock.fast_forward("06:00")  # no input for six minutes (the setting says five)
    check = page.locator("#study-check")
    expect(check).to_be_visible()
    question = page.locator("#study-check-question")
    expect(question).to_contain_text("03-long")  # a question about this lesson, not arithmetic
    with app.app_context():
        clock = db.session.get(StudyClock, person_id)
        assert clock.challenge["stem"] == question.inner_text()
        key = clock.challenge_key
        frozen = learning.lesson_seconds(db.session.get(Person, person_id), db.session.get(Lesson, lesson_id))
    options = page.locator("#study-check-options input")
    wrong = next(i for i in range(options.count()) if [i] != key)
    page.check(f"#study-check-option-{wrong}")
    page.click("#study-check-form button[type=submit]")
    expect(page.locator("#study-check-error")).not_to_be_empty()
    for index in key:
        page.check(f"#study-check-option-{index}")
    for index in range(options.count()):
        if index not in key and options.nth(index).get_attribute("type") == "checkbox":
            page.uncheck(f"#study-check-option-{index}")
    page.click("#study-check-form button[type=submit]")
    expect(check).to_be_hidden()
    with app.app_context():
        db.session.expire_all()
        assert db.session.get(StudyClock, person_id).challenge is None
        person = db.session.get(Person, person_id)
        assert learning.lesson_seconds(person, db.session.get(Lesson, lesson_id)) == frozen
        answered = db.session.scalar(select(PresenceCheck).where(PresenceCheck.person_id == person_id))
        assert (answered.reason, answered.outcome, answered.wrong_answers) == ("idle", "answered", 1)
        assert answered.answer_seconds >= 0
