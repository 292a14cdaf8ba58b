"""The study pages and their JSON endpoints, as a caregiver's browser uses them."""

from __future__ import annotations

import io
from datetime import date, timedelta

from sqlalchemy import select, update

from lms.catalog.models import Lesson, Question
from lms.core.actors import DEMO, system_actor
from lms.core.clock import local_today
from lms.extensions import db
from lms.learning.models import LessonProgress, StudyClock
from lms.ledger.models import LedgerEntry
from lms.registry import service as registry
from tests.conftest import login

TEST = system_actor("test")


def _shift_clock(person_id: int, seconds: int) -> None:
    """Pretend `seconds` passed since the last heartbeat (the server's clock decides)."""
    clock = db.session.get(StudyClock, person_id, populate_existing=True)
    db.session.execute(update(StudyClock).where(StudyClock.person_id == person_id).values(
        last_beat_at=clock.last_beat_at - timedelta(seconds=seconds)))
    db.session.commit()


def test_catalogue_by_track_and_search(client, world, login_as, course):
    login_as(world.staff.mobile)
    assert course.title in client.get("/courses").get_data(as_text=True)
    assert course.title in client.get("/courses?track=nursery_care").get_data(as_text=True)
    assert course.title not in client.get("/courses?track=ethics").get_data(as_text=True)
    assert course.title in client.get("/courses?q=一日生活").get_data(as_text=True)
    assert course.title not in client.get("/courses?q=没有这门课").get_data(as_text=True)
    detail = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert "保育师" in detail and "Enrol" in detail and "一分钟课：七步洗手法" in detail


def test_a_banned_caregiver_cannot_enrol(client, world, login_as, course):
    registry.record_ban(DEMO, id_number=world.staff.id_number, name=world.staff.name,
                        kind="lifetime", starts_on=date(2025, 1, 1), ends_on=None, reason="虐童")
    db.session.commit()
    login_as(world.staff.mobile)
    page = client.post(f"/courses/{course.id}/enrol", follow_redirects=True).get_data(as_text=True)
    assert "banned from working in childcare for life" in page
    assert "Lessons" in page and "/learn/lessons/" not in page


def test_study_flow_over_http(client, world, login_as, course):
    login_as(world.staff.mobile)
    lesson = course.lessons[0]
    assert client.get(f"/learn/lessons/{lesson.id}").status_code == 302  # not enrolled yet
    assert client.post(f"/courses/{course.id}/enrol").status_code == 302
    page = client.get(f"/learn/lessons/{lesson.id}").get_data(as_text=True)
    assert "<h2>学习目标</h2>" in page and "<strong>七步洗手法</strong>" in page
    assert f'/courses/{course.id}/files/images/steps.svg' in page and "study.js" in page
    first = client.post(f"/learn/lessons/{lesson.id}/start").get_json()
    assert first["required_seconds"] == 60 and first["lesson_seconds"] == 0
    _shift_clock(world.staff.id, 20)
    beat = client.post("/learn/heartbeat", json={"token": first["token"], "seq": 1}).get_json()
    assert beat["state"] == "running" and beat["credited_now"] == 20
    # the same heartbeat again, or one with a made-up token, gains nothing
    assert client.post("/learn/heartbeat", json={"token": first["token"], "seq": 1}).get_json()["state"] == "replayed"
    assert client.post("/learn/heartbeat", json={"token": "forged", "seq": 2}).get_json()["state"] == "superseded"
    assert client.post("/learn/heartbeat", data="not json").get_json()["state"] == "superseded"
    # a second tab takes over; the first is told so
    second = client.post(f"/learn/lessons/{lesson.id}/start").get_json()
    refused = client.post("/learn/heartbeat", json={"token": first["token"], "seq": 2})
    assert refused.status_code == 200 and refused.get_json()["state"] == "superseded"
    _shift_clock(world.staff.id, 30)
    client.post("/learn/heartbeat", json={"token": second["token"], "seq": 1})
    _shift_clock(world.staff.id, 15)
    done = client.post("/learn/heartbeat", json={"token": second["token"], "seq": 2}).get_json()
    assert done["lesson_seconds"] == 60 and done["lesson_credited"] and done["credited_now"] == 10
    hours = client.get("/hours").get_data(as_text=True)
    assert "TT-101 一分钟课：七步洗手法" in hours and "0.02" in hours
    # the idle question, answered wrongly then rightly
    question = client.post("/learn/idle", json={"token": second["token"]}).get_json()["challenge"]
    assert question["stem"].startswith("01-short") and "answer" not in question
    key = db.session.get(StudyClock, world.staff.id, populate_existing=True).challenge_key
    options = 2 if question["kind"] == "truefalse" else len(question["options"])
    other = [next(i for i in range(options) if [i] != key)]
    response = client.post("/learn/answer", json={"token": second["token"], "answer": other})
    wrong = response.get_json()
    assert response.status_code == 422 and wrong["state"] == "challenge" and wrong["error"]
    assert wrong["challenge"] == question
    # refused, yet the wrong answer is counted: the view returned, so the request committed
    assert db.session.get(StudyClock, world.staff.id, populate_existing=True).challenge_tries == 1
    right = client.post("/learn/answer", json={"token": second["token"], "answer": key}).get_json()
    assert right["state"] == "running"


def test_self_check_page(client, world, login_as, course):
    login_as(world.staff.mobile)
    client.post(f"/courses/{course.id}/enrol")
    lesson = course.lessons[0]
    page = client.get(f"/learn/lessons/{lesson.id}/check").get_data(as_text=True)
    assert "01-short 单选题" in page and "01-short 判断题" in page
    form = {}
    for question in db.session.scalars(select(Question).where(Question.lesson_id == lesson.id)):
        if question.kind == "truefalse":
            form[f"q{question.id}"] = "true" if question.answer[0] else "false"
        else:
            form[f"q{question.id}"] = [str(i) for i in question.answer]
    # odd answers (a superscript digit, another script's digit, a huge number) are wrong
    # answers, never a server error
    odd = {key: ["²", "٣", "9" * 40] for key, value in form.items() if isinstance(value, list)}
    assert client.post(f"/learn/lessons/{lesson.id}/check", data={**form, **odd}).status_code in (200, 400)
    result = client.post(f"/learn/lessons/{lesson.id}/check", data=form).get_data(as_text=True)
    assert "3 of 3 correct." in result and "Passed." in result
    progress = db.session.scalar(select(LessonProgress).where(LessonProgress.lesson_id == lesson.id))
    assert progress.self_check_passed_at is not None


def test_staff_hours_table_shows_who_is_behind(app, client, world, login_as):
    from decimal import Decimal

    from lms.ledger import service as ledger
    from lms.registry.service import add_staff
    from tests.factories import id_number

    keen = add_staff(DEMO, world.inst, id_number=id_number("320102", "19950101", 5), name="李勤学",
                     post="infant_carer", start_date=date(2025, 1, 1)).employment.person
    year = local_today().year
    ledger.credit(TEST, keen, year=year, category="skills", hours=Decimal(72), source_type="external",
                  source_ref="a")
    ledger.credit(TEST, keen, year=year, category="ethics", hours=Decimal(40), source_type="external",
                  source_ref="b")
    ledger.credit(TEST, world.staff, year=year, category="skills", hours=Decimal("10.5"),
                  source_type="external", source_ref="c")
    db.session.commit()
    login_as("inst_admin")
    page = client.get(f"/institutions/{world.inst.id}/hours").get_data(as_text=True)
    assert "1 person is behind" in page
    assert page.index(world.staff.name) < page.index("李勤学")  # most behind first
    assert "10.5 / 72" in page and "72 / 72" in page and "Behind by 101.5" in page
    by_name = client.get(f"/institutions/{world.inst.id}/hours?sort=skills&dir=desc").get_data(as_text=True)
    assert by_name.index("李勤学") < by_name.index(world.staff.name)
    assert f"/ledger/persons/{world.staff.id}" not in page  # an institution sees the table only
    other = app.test_client()
    login(other, "inst_admin_other")
    assert other.get(f"/institutions/{world.inst.id}/hours").status_code == 403
    regulator = app.test_client()
    login(regulator, "regulator")
    assert f"/ledger/persons/{world.staff.id}" in regulator.get(
        f"/institutions/{world.inst.id}/hours").get_data(as_text=True)


def test_external_hours_form(client, world, login_as):
    login_as("inst_admin")
    data = {"id_number": world.staff.id_number.lower(), "name": world.staff.name, "year": local_today().year,
            "category": "ethics", "hours": "6", "provider": "江苏省托育服务培训平台",
            "reference": "JS-1"}
    bad = client.post("/ledger/external", data={**data, "evidence": (io.BytesIO(b"MZ exe"), "x.pdf")},
                      content_type="multipart/form-data").get_data(as_text=True)
    assert "The evidence must be a PDF, JPEG or PNG file." in bad
    wrong_name = client.post("/ledger/external", data={**data, "name": "王某",
                                                       "evidence": (io.BytesIO(b"%PDF-1.4"), "a.pdf")},
                             content_type="multipart/form-data").get_data(as_text=True)
    assert "None of your current staff has this identity number and name." in wrong_name
    ok = client.post("/ledger/external", data={**data, "evidence": (io.BytesIO(b"%PDF-1.4"), "a.pdf")},
                     content_type="multipart/form-data", follow_redirects=True)
    assert "Recorded 6 class hours" in ok.get_data(as_text=True)
    entry = db.session.scalar(select(LedgerEntry))
    assert entry.category == "ethics" and entry.recorded_by_id == world.users["inst_admin"].id
    page = client.get("/ledger/external").get_data(as_text=True)
    assert "JS-1" in page and world.staff.id_number not in page and world.staff.id_number[-4:] in page
    record_url = "/ledger/external/" + page.split('href="/ledger/external/')[1].split('"')[0]
    record_page = client.get(record_url)
    evidence = client.get(record_url + "/evidence")
    assert record_page.status_code == 200 and "Confirmed" in record_page.get_data(as_text=True)
    assert evidence.status_code == 200 and evidence.data == b"%PDF-1.4"
    assert db.session.scalar(select(Lesson)) is None


def test_home_pages_show_hours_and_study(app, client, world, login_as, course):
    login_as(world.staff.mobile)
    client.post(f"/courses/{course.id}/enrol")
    home = client.get("/").get_data(as_text=True)
    assert "Continue studying" in home and course.title in home
    assert 'data-testid="hours-skills"' in home and "/ 72" in home and "/ 40" in home
    admin = app.test_client()
    login(admin, "inst_admin")
    page = admin.get("/").get_data(as_text=True)
    assert "1 person is behind" in page and f"/institutions/{world.inst.id}/hours" in page


def test_an_auditor_sees_the_segments_behind_a_lesson_credit(app, client, world, login_as, course):
    from datetime import datetime

    from lms.learning import service

    lesson = course.lessons[0]
    service.enrol(TEST, world.staff, course)
    start = datetime(2026, 11, 2, 11, 0)
    token = service.start_study(TEST, world.staff, lesson, device="Mozilla/5.0 (iPhone) | 10.0.0.8",
                                now=start).token
    for seq in range(1, 5):
        service.heartbeat(TEST, world.staff.id, token, seq, now=start + timedelta(seconds=15 * seq))
    db.session.commit()
    login_as("regulator")
    hours = client.get(f"/ledger/persons/{world.staff.id}").get_data(as_text=True)
    link = f"/learn/persons/{world.staff.id}/lessons/{lesson.id}/evidence"
    assert link in hours
    page = client.get(link).get_data(as_text=True)
    assert "iPhone" in page and service.RULE_VERSION in page and ">60<" in page
    assert 'id="presence-checks"' in page
    other = app.test_client()
    login(other, "regulator_other")
    assert other.get(link).status_code == 403


def test_the_clock_endpoints_rely_on_the_study_token_not_on_csrf(world, course):
    """A cross-site page can neither start a study clock (CSRF) nor move one (no token)."""
    from tests.conftest import make_app

    guarded = make_app(WTF_CSRF_ENABLED=True)
    client = guarded.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/login", data={"identifier": world.staff.mobile, "password": "Passw0rd-test",
                                "csrf_token": token})
    lesson = course.lessons[0]
    assert client.post(f"/learn/lessons/{lesson.id}/start").status_code == 400  # no CSRF token
    forged = client.post("/learn/heartbeat", json={"token": "guess", "seq": 1})
    assert forged.status_code == 200 and forged.get_json()["state"] == "superseded"
    assert client.post("/learn/idle", json={"token": "guess"}).get_json()["state"] == "superseded"


def test_progress_and_completion_are_one_definition_everywhere(app, client, world, login_as, course):
    """A course counts as completed for an exam exactly when every page shows it completed,
    at 100%; before that no page shows 100% (issue 13: 40% shown, completed for the exam)."""
    from datetime import datetime

    from lms.exams.service import eligibility
    from lms.learning import service
    from lms.learning.models import Enrolment

    enrolment = service.enrol(TEST, world.staff, course)
    lesson = course.lessons[2]  # 30 of the course's 45 minutes
    token = service.start_study(TEST, world.staff, lesson, now=datetime(2026, 11, 2, 2),
                                heartbeat_seconds=60).token
    for seq in range(1, 31):
        service.heartbeat(TEST, world.staff.id, token, seq, now=datetime(2026, 11, 2, 2, seq))
    db.session.commit()
    login_as(world.staff.mobile)

    def shown() -> set[str]:
        pages = [client.get(url).get_data(as_text=True)
                 for url in ("/courses", f"/courses/{course.id}", "/learn", "/")]
        values = set()
        for page in pages:
            for bar in page.split("<progress")[1:]:
                tag = bar.split(">")[0]
                if f'data-course-progress="{course.id}"' in tag:
                    values.add(tag.split('value="')[1].split('"')[0])
        return values

    summary = service.course_progress(world.staff, course)
    # 20 minutes (then a presence question stops the clock) of the course's 45
    assert not summary.completed and summary.percent == 44
    assert shown() == {"44"}  # four pages: the catalogue, the course, my study, home
    sitting = type("Sitting", (), {"qualification_type": _baoyushi(), "level": None})()
    assert any("Complete one of these courses" in r for r in eligibility(world.staff, sitting))
    # completed (recorded when the last lesson was done): 100% and "Completed" on every page,
    # and the exam counts it
    db.session.get(Enrolment, enrolment.id).completed_at = datetime(2026, 11, 3)
    db.session.commit()
    assert service.course_progress(world.staff, course).percent == 100
    assert shown() == {"100"}
    for url in ("/courses", f"/courses/{course.id}", "/learn"):
        assert "Completed" in client.get(url).get_data(as_text=True), url
    assert not any("Complete one of these courses" in r for r in eligibility(world.staff, sitting))


def _baoyushi():
    from lms.registry.models import QualificationType
    return db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
