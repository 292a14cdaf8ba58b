"""A candidate's timed theory paper on a phone, in real Chromium: answers are saved as they
are given, and when the time runs out the paper is handed in by itself."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from lms.auth.models import User
from lms.core.clock import utc_now
from lms.exams import service as exams
from lms.exams.models import Attempt
from lms.extensions import db
from lms.learning.models import Enrolment
from lms.registry.models import Organisation, Person, QualificationType
from tests.conftest import import_test_course
from tests.e2e.conftest import VIEWPORTS
from tests.e2e.test_institution_journey import axe_check, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e


def test_timed_paper_saves_answers_and_hands_itself_in(new_context, e2e_world, app, base_url):
    with app.app_context():
        course = import_test_course()
        base = db.session.scalar(select(Organisation).where(Organisation.kind == "training_base"))
        staff = db.session.scalar(select(User).where(User.username == "base_staff"))
        person = db.session.scalar(select(Person).where(Person.mobile == "13912345678"))
        qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
        db.session.add(Enrolment(person_id=person.id, course_id=course.id, completed_at=utc_now()))
        sitting = exams.plan_sitting(staff, base, exams.SittingPlan(
            qualification_type=qtype, level=5, duration_minutes=10, venue="考场一", examiners=[staff],
            starts_at=datetime.combine(date.today() + timedelta(days=1), datetime.min.time()),
            blueprint={"single": 2, "multiple": 1, "truefalse": 1}))
        exams.register(staff, sitting, person)
        # the sitting began nine minutes and forty seconds ago: twenty seconds are left
        sitting.starts_at = utc_now() - timedelta(minutes=9, seconds=40)
        db.session.commit()
        sitting_id, person_id = sitting.id, person.id
    page = new_context(locale="zh-CN", **VIEWPORTS["phone"]).new_page()
    page.set_default_timeout(15_000)
    sign_in(page, "13912345678")
    page.goto("/my/exams")
    page.click(f"#take-{sitting_id}")
    expect(page.locator("#exam-clock")).to_be_visible()
    no_horizontal_overflow(page)
    axe_check(page, base_url, "theory paper (phone)", [])
    page.locator(".exam-item").first.locator("input").first.check()
    expect(page.locator("#exam-status")).to_have_text(page.locator("#exam").get_attribute("data-saved"))
    with app.app_context():
        attempt = db.session.scalar(select(Attempt))
        assert attempt.items[0].answer is not None and attempt.submitted_at is None
    expect(page.locator("#paper-done")).to_be_visible(timeout=40_000)  # handed in by itself
    with app.app_context():
        db.session.expire_all()
        attempt = db.session.scalar(select(Attempt))
        assert attempt.submitted_at is not None and attempt.auto_submitted
        assert attempt.registration.person_id == person_id
        assert attempt.registration.theory_score is not None
