"""Exams: eligibility, the timed theory paper the server keeps, practical scores, results."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from lms.catalog.models import QuestionKind
from lms.core.errors import DomainError
from lms.exams import service
from lms.exams.models import Attempt
from lms.extensions import db
from lms.learning.models import Enrolment
from lms.registry import service as registry
from lms.registry.models import QualificationType
from tests.conftest import PASSWORD, login

NEXT_WEEK = datetime.combine(date.today() + timedelta(days=7), datetime.min.time()).replace(hour=9)


@pytest.fixture()
def exam(world, course):
    staff = world.users["base_staff"]
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
    sitting = service.plan_sitting(staff, world.base, service.SittingPlan(
        qualification_type=qtype, level=5, starts_at=NEXT_WEEK, duration_minutes=30, venue="考场一",
        examiners=[staff], blueprint={"single": 3, "multiple": 2, "truefalse": 2}))
    db.session.add(Enrolment(person_id=world.staff.id, course_id=course.id, completed_at=datetime.utcnow()))
    db.session.commit()
    return sitting


def exam_course_id(sitting) -> int:
    return db.session.scalar(select(Enrolment.course_id).limit(1))


def _started(sitting):
    return sitting.starts_at + timedelta(minutes=1)


def test_planning_checks_the_question_banks_and_the_examiners(world, course):
    staff = world.users["base_staff"]
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
    plan = service.SittingPlan(qualification_type=qtype, level=5, starts_at=NEXT_WEEK,
                               duration_minutes=30, venue="考场一", examiners=[staff],
                               blueprint={"single": 30})
    with pytest.raises(DomainError, match="hold Single choice 4; the blueprint asks for Single choice 30"):
        service.plan_sitting(staff, world.base, plan)
    plan.blueprint, plan.examiners = {"single": 2}, [world.users["inst_admin"]]
    with pytest.raises(DomainError, match="examiners from this base"):
        service.plan_sitting(staff, world.base, plan)
    plan.examiners, plan.level = [staff], None
    with pytest.raises(DomainError, match="Choose one of the levels 保育师 has"):
        service.plan_sitting(staff, world.base, plan)


def test_eligibility_gives_every_reason(world, exam, course):
    staff = world.users["base_staff"]
    reasons = service.eligibility(world.staff_other, exam)
    assert len(reasons) == 1 and "Complete one of these courses first: TT-101" in reasons[0]
    registry.record_ban("test", id_number=world.staff_other.id_number, name=world.staff_other.name,
                        kind="lifetime", starts_on=date(2025, 1, 1), ends_on=None, reason="虐童")
    assert len(service.eligibility(world.staff_other, exam)) == 2
    with pytest.raises(DomainError, match="cannot sit this exam: The person is banned"):
        service.register(staff, exam, world.staff_other)
    # level 4 needs a level-5 certificate of the same type first
    exam.level = 4
    assert any("level 5 or higher" in r for r in service.eligibility(world.staff, exam))
    registry.add_qualification("test", world.staff, exam.qualification_type, issued_on=date(2025, 6, 1),
                               level=5, certificate_no="X-1", issuer="南京市职业技能鉴定指导中心")
    assert service.eligibility(world.staff, exam) == []


def test_the_paper_never_carries_answers_and_keeps_the_time(client, world, exam):
    service.register(world.users["base_staff"], exam, world.staff)
    db.session.commit()
    login(client, world.staff.mobile)
    early = client.get(f"/exams/{exam.id}/paper", follow_redirects=True).get_data(as_text=True)
    assert "The paper opens at the start of the sitting." in early
    # the sitting has begun (moved to now for the test)
    exam.starts_at = datetime.utcnow() - timedelta(minutes=1)
    db.session.commit()
    page = client.get(f"/exams/{exam.id}/paper").get_data(as_text=True)
    attempt = db.session.scalar(select(Attempt))
    assert len(attempt.items) == 7
    kinds = [item.question.kind for item in attempt.items]
    assert kinds.count("single") == 3 and kinds.count("multiple") == 2 and kinds.count("truefalse") == 2
    for item in attempt.items:
        assert item.question.stem in page
    # explanations and answers stay on the server: the page has stems and options only
    assert "说明。" not in page and "data-answer" not in page and "correct" not in page.lower()
    # answers are saved as the candidate goes, by the positions shown
    for item in attempt.items:
        q = item.question
        if q.kind == QuestionKind.TRUEFALSE:
            shown = [q.answer[0]]
        else:
            shown = [item.option_order.index(i) for i in q.answer]
        assert client.post(f"/exams/items/{item.id}/answer", json={"answer": shown}).get_json() == {"saved": True}
    # reloading the page (a dropped connection) gives the same paper with the answers ticked
    again = client.get(f"/exams/{exam.id}/paper").get_data(as_text=True)
    assert again.count(" checked>") + again.count(" checked ") >= 7
    assert db.session.scalar(select(Attempt).where(Attempt.id != attempt.id)) is None
    done = client.post(f"/exams/{exam.id}/paper").get_data(as_text=True)
    assert "Theory score: 100.0 (7 of 7 right)." in done
    # no second attempt; answers cannot change after handing in
    item = attempt.items[0]
    late = client.post(f"/exams/items/{item.id}/answer", json={"answer": [0]})
    assert late.status_code == 409


def test_the_server_hands_in_when_the_time_runs_out(world, exam):
    service.register(world.users["base_staff"], exam, world.staff)
    start = _started(exam)
    attempt = service.start_attempt(world.staff, exam, now=start)
    first = attempt.items[0]
    service.save_answer(world.staff, first, [0] if first.question.kind != "truefalse" else [True], now=start)
    deadline = service.ends_at(exam)
    with pytest.raises(DomainError, match="submitted"):
        service.save_answer(world.staff, attempt.items[1], [0], now=deadline + timedelta(seconds=1))
    db.session.refresh(attempt)
    assert attempt.auto_submitted and attempt.submitted_at == deadline
    assert attempt.registration.theory_score is not None
    db.session.add(Enrolment(person_id=world.staff_other.id, course_id=exam_course_id(exam),
                             completed_at=datetime.utcnow()))
    service.register(world.users["base_staff"], exam, world.staff_other, now=start - timedelta(hours=1))
    with pytest.raises(DomainError, match="time for this paper is over"):
        service.start_attempt(world.staff_other, exam, now=deadline)


def test_practical_scores_by_this_sittings_examiners_and_the_result(world, exam, app):
    staff = world.users["base_staff"]
    registration = service.register(staff, exam, world.staff)
    attempt = service.start_attempt(world.staff, exam, now=_started(exam))
    for item in attempt.items[:5]:  # 5 of 7 answered right: 71.4
        q = item.question
        service.save_answer(world.staff, item, [q.answer[0]] if q.kind == "truefalse"
                            else [item.option_order.index(i) for i in q.answer], now=_started(exam))
    service.submit(attempt, now=_started(exam))
    assert registration.theory_score == Decimal("71.4") and registration.result == "pending"
    with pytest.raises(DomainError, match="Only this sitting's examiners"):
        service.enter_practical(world.users["admin"], registration, "80", now=_started(exam))
    with pytest.raises(DomainError, match="0 to 100"):
        service.enter_practical(staff, registration, "101", now=_started(exam))
    service.enter_practical(staff, registration, "59.5", now=_started(exam))
    assert registration.result == "failed"
    service.enter_practical(staff, registration, "60", now=_started(exam))
    assert registration.result == "passed"


def test_absent_candidates_score_zero_once_the_paper_closes(world, exam):
    registration = service.register(world.users["base_staff"], exam, world.staff)
    service.expire_sitting(exam, now=service.ends_at(exam) + timedelta(minutes=1))
    assert registration.theory_score == 0


def test_the_pages(app, world, exam):
    staff = app.test_client()
    login(staff, "base_staff")
    page = staff.post(f"/exams/{exam.id}", data={"id_number": world.staff_other.id_number,
                                                  "name": world.staff_other.name}).get_data(as_text=True)
    assert "cannot sit this exam" in page
    assert staff.post(f"/exams/{exam.id}", data={"id_number": world.staff.id_number,
                                                 "name": world.staff.name}).status_code == 302
    listing = staff.get(f"/exams/{exam.id}").get_data(as_text=True)
    assert world.staff.name in listing and world.staff.id_number not in listing
    candidate = app.test_client()
    login(candidate, world.staff.mobile, PASSWORD)
    assert "保育师" in candidate.get("/my/exams").get_data(as_text=True)


def test_a_types_levels_and_required_hours_are_data(world, exam, course):
    from lms.ledger import service as ledger

    qtype = exam.qualification_type
    registry.update_qualification_type(
        world.users["admin"], qtype, name_zh=qtype.name_zh, name_en=qtype.name_en,
        occupation_code=qtype.occupation_code, validity_months="", number_prefix=qtype.number_prefix,
        levels="5,4,3", required_hours="10")
    assert qtype.level_list == [5, 4, 3] and qtype.required_hours == 10
    with pytest.raises(DomainError, match="levels 保育师 has: 5,4,3"):
        service.plan_sitting(world.users["base_staff"], world.base, service.SittingPlan(
            qualification_type=qtype, level=2, starts_at=NEXT_WEEK, duration_minutes=30, venue="考场",
            examiners=[world.users["base_staff"]], blueprint={"single": 1}))
    reasons = service.eligibility(world.staff, exam)
    assert reasons and "needs 10 skills-training class hours" in reasons[0] and "has 0" in reasons[0]
    ledger.credit(world.users["admin"], world.staff, year=date.today().year, category="skills",
                  hours=Decimal(12), source_type="external", source_ref="t")
    assert service.eligibility(world.staff, exam) == []
    with pytest.raises(DomainError, match="Levels are numbers"):
        registry.update_qualification_type(
            world.users["admin"], qtype, name_zh=qtype.name_zh, name_en=qtype.name_en,
            occupation_code="", validity_months="", number_prefix="", levels="6")
