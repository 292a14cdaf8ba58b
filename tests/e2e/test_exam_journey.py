"""From exam to certificate in real Chromium: a candidate's timed theory paper on a phone
(opened, then started with a button; answers saved as given; the clock turning red and
announced in the last minutes; handed in by itself when the time runs out), the examiner's
practical score, the base issuing the certificate, the caregiver downloading the PDF, and
the verification page its QR code points to saying valid.

The server's clock is moved with time-machine (the live server runs in this process) while
Chromium's clock is real: the page counts down from the seconds the server says are left,
so no test waits for minutes."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from playwright.sync_api import expect
from sqlalchemy import func, select

from lms.auth.models import User
from lms.certificates.models import Certificate
from lms.core.clock import local_today, utc_now
from lms.exams import service as exams
from lms.exams.models import Attempt
from lms.extensions import db
from lms.learning.models import Enrolment
from lms.registry.models import Organisation, Person, QualificationType
from tests.conftest import import_test_course
from tests.factories import venue as base_venue
from tests.helpers import VIEWPORTS, axe_check, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.e2e


def test_timed_paper_to_verified_certificate(new_context, e2e_world, app, base_url, tmp_path):
    with app.app_context():
        course = import_test_course()
        base = db.session.scalar(select(Organisation).where(Organisation.kind == "training_base"))
        staff = db.session.scalar(select(User).where(User.username == "base_staff"))
        person = db.session.scalar(select(Person).where(Person.mobile == "13912345678"))
        qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
        db.session.add(Enrolment(person_id=person.id, course_id=course.id, completed_at=utc_now()))
        sitting = exams.plan_sitting(staff, base, exams.SittingPlan(
            qualification_type=qtype, level=5, duration_minutes=10, venue=base_venue(base, "考场一"), examiners=[staff],
            starts_at=datetime.combine(local_today() + timedelta(days=1), time(9)),
            blueprint={"single": 2, "multiple": 1, "truefalse": 1}))
        exams.register(staff, sitting, person)
        # the sitting began a minute ago: nine minutes are left
        sitting.starts_at = utc_now() - timedelta(minutes=1)
        db.session.commit()
        sitting_id, person_id, ends = sitting.id, person.id, exams.ends_at(sitting)
    page = new_context(locale="zh-CN", **VIEWPORTS["phone"]).new_page()
    page.set_default_timeout(15_000)
    sign_in(page, "13912345678")
    page.goto("/my/exams")
    page.click(f"#take-{sitting_id}")
    # opening the paper changed nothing: it starts with a button (a POST)
    expect(page.locator("#start-paper")).to_be_visible()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Attempt)) == 0
    page.click("#start-paper")
    expect(page.locator("#exam-clock")).to_be_visible()
    expect(page.locator("#exam-clock")).not_to_have_class("text-danger")
    no_horizontal_overflow(page)
    axe_check(page, base_url, "theory paper (phone)", [])
    # the candidate knows the answers (read here from the bank) and ticks them
    with app.app_context():
        attempt = db.session.scalar(select(Attempt))
        keys = [(item.id, item.question.kind, item.question.answer, item.option_order)
                for item in attempt.items]
    for item_id, kind, answer, order in keys:
        if kind == "truefalse":
            page.check(f"#i{item_id}-{'true' if answer[0] else 'false'}")
        else:
            for original in answer:
                page.check(f"#i{item_id}-{order.index(original)}")
        expect(page.locator("#exam-status")).to_have_text(page.locator("#exam").get_attribute("data-saved"))
    for _ in range(50):  # the last save may still be on its way
        with app.app_context():
            attempt = db.session.scalar(select(Attempt))
            if all(item.answer is not None for item in attempt.items):
                break
        page.wait_for_timeout(100)
    with app.app_context():
        attempt = db.session.scalar(select(Attempt))
        assert all(item.answer is not None for item in attempt.items) and attempt.submitted_at is None

    # the server's clock moves on to three seconds before the last five minutes; the page,
    # reloaded, counts down from the server's seconds left and turns red as they pass
    warning = page.locator("#exam-warning")
    with time_machine.travel((ends - timedelta(minutes=5, seconds=3)).replace(tzinfo=UTC), tick=True):
        page.reload()
        expect(page.locator("#exam-clock")).to_have_text("5:03", timeout=2_000)
        expect(page.locator("#exam-clock")).not_to_have_class("text-danger")
        expect(warning).to_have_text("")
        assert warning.get_attribute("aria-live") == "assertive"
        expect(page.locator("#exam-clock")).to_have_class("mono text-danger", timeout=6_000)
        expect(warning).to_have_text("还剩 5 分钟。")
        page.screenshot(path=str(tmp_path / "paper-last-minutes.png"))
    # two seconds before the end: the page hands the paper in by itself at zero
    with time_machine.travel((ends - timedelta(seconds=2)).replace(tzinfo=UTC), tick=True):
        page.reload()
        expect(page.locator("#exam-clock")).to_have_class("mono text-danger")
        expect(warning).to_have_text("还剩 1 分钟。")
        expect(page.locator("#paper-done")).to_be_visible(timeout=10_000)
        with app.app_context():
            attempt = db.session.scalar(select(Attempt))
            assert attempt.submitted_at is not None and attempt.auto_submitted
            assert attempt.registration.person_id == person_id
            assert attempt.registration.theory_score == 100

    # the examiner enters the practical score; the base issues the certificate
    desk = new_context(locale="zh-CN", **VIEWPORTS["desktop"]).new_page()
    desk.set_default_timeout(15_000)
    desk.on("dialog", lambda dialog: dialog.accept())
    sign_in(desk, "base_staff")
    desk.goto(f"/exams/{sitting_id}")
    desk.fill("#candidates input[name=score]", "86")
    desk.click("#candidates button[type=submit]")
    expect(desk.locator("#candidates")).to_contain_text("86")
    desk.click(f"a[href='/exams/{sitting_id}/certificates']")
    desk.click("#confirm-issue")
    expect(desk.locator("main")).to_contain_text("BYS-")

    # the caregiver downloads the PDF; the page its QR code holds says valid. Her session
    # cookie was last signed (the idle timeout's last-seen time) in the moved time, which the
    # clock has gone back from: to the server it looks forged, so she signs in again
    sign_in(page, "13912345678")
    page.goto("/my/certificates")
    with page.expect_download() as download:
        page.locator("a[id^=download-]").first.click()
    pdf = tmp_path / "certificate.pdf"
    download.value.save_as(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True)
    decoded = subprocess.run(["zbarimg", "-q", str(tmp_path / "page-1.png")], check=True,
                             capture_output=True, text=True).stdout.strip()
    link = decoded.removeprefix("QR-Code:")
    assert link.startswith(base_url + "/verify/"), decoded
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    assert link in text  # the address is printed too, for eyes and for typing
    public = new_context(locale="zh-CN", **VIEWPORTS["phone"]).new_page()
    public.goto(link)
    expect(public.locator("#verdict .text-success")).to_be_visible()
    with app.app_context():
        cert = db.session.scalar(select(Certificate))
        assert cert.person_id == person_id and link.endswith(cert.verify_code)
    expect(public.locator("#verification")).to_contain_text(cert.number)

    # the holder opens the certificate's own page from "my certificates"
    page.goto("/my/certificates")
    page.click(f"#open-{cert.id}")
    expect(page.locator("h1")).to_have_text(cert.number)
    expect(page.locator("#download")).to_be_visible()
    expect(page.locator("#status-form")).to_have_count(0)
    axe_check(page, base_url, "certificate page (holder, phone)", [])

    # by number, the public page also asks for the holder's name
    public.goto("/verify")
    public.fill("#q", cert.number)
    public.click("form[action='/verify'] button[type=submit]")
    expect(public.locator("#not-found")).to_be_visible()
    expect(public.locator("#verification")).to_have_count(0)
    public.fill("#q", cert.number)
    public.fill("#name", "张晓雯")
    public.click("form[action='/verify'] button[type=submit]")
    expect(public.locator("#verdict .text-success")).to_be_visible()
    expect(public.locator("#verification")).to_contain_text("张*雯")
