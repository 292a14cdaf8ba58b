"""Exams: eligibility, the timed theory paper the server keeps, practical scores, results."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import func, select

from lms.catalog.models import ExamQuestion, Question
from lms.core.actors import DEMO
from lms.core.clock import local_today, utc_now
from lms.core.errors import DomainError, PermissionDenied
from lms.exams import service
from lms.exams.models import Attempt
from lms.extensions import db
from lms.learning.models import Enrolment
from lms.registry import service as registry
from lms.registry.models import QualificationType
from tests.conftest import PASSWORD, login
from tests.factories import venue as base_venue

#: sittings are planned in the city's wall-clock time
NEXT_WEEK = datetime.combine(local_today() + timedelta(days=7), time(9))


def at(moment: datetime):
    """The server's clock stopped at `moment` (naive UTC, as stored)."""
    return time_machine.travel(moment.replace(tzinfo=UTC), tick=False)


@pytest.fixture()
def exam(world, course):
    staff = world.users["base_staff"]
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
    sitting = service.plan_sitting(staff, world.base, service.SittingPlan(
        qualification_type=qtype, level=5, starts_at=NEXT_WEEK, duration_minutes=30, venue=base_venue(world.base, "考场一"),
        examiners=[staff], blueprint={"single": 3, "multiple": 2, "truefalse": 2}))
    db.session.add(Enrolment(person_id=world.staff.id, course_id=course.id, completed_at=utc_now()))
    db.session.commit()
    return sitting


def exam_course_id(sitting) -> int:
    return db.session.scalar(select(Enrolment.course_id).limit(1))


def _started(sitting):
    return sitting.starts_at + timedelta(minutes=1)


def _right(item) -> list:
    """The positions, as shown, of the right answer."""
    q = item.question
    return [q.answer[0]] if q.kind == "truefalse" else [item.option_order.index(i) for i in q.answer]


def test_planning_checks_the_exam_bank_and_the_examiners(world, course):
    staff = world.users["base_staff"]
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
    plan = service.SittingPlan(qualification_type=qtype, level=5, starts_at=NEXT_WEEK,
                               duration_minutes=30, venue=base_venue(world.base, "考场一"), examiners=[staff],
                               blueprint={"single": 30})
    # the bank's fifth single-choice question is for level 3 papers only
    with pytest.raises(DomainError, match="holds Single choice 4; the blueprint asks for Single choice 30"):
        service.plan_sitting(staff, world.base, plan)
    assert service.pool_counts(qtype, 3)["single"] == 5
    plan.blueprint, plan.examiners = {"single": 2}, [world.users["inst_admin"]]
    with pytest.raises(DomainError, match="examiners from this base"):
        service.plan_sitting(staff, world.base, plan)
    plan.examiners, plan.level = [staff], None
    with pytest.raises(DomainError, match="Choose one of the levels 保育师 has"):
        service.plan_sitting(staff, world.base, plan)
    # someone outside the base is refused by the service itself, whatever the front door
    plan.level = 5
    with pytest.raises(PermissionDenied):
        service.plan_sitting(world.users["inst_admin"], world.base, plan)


def test_a_paper_never_contains_a_self_check_question(world, exam):
    """The course's self-check questions (answers shown to caregivers, unlimited retries) are
    never drawn: the paper is the exam bank's, and without a bank there is no paper."""
    registration = service.register(world.users["base_staff"], exam, world.staff)
    with at(_started(exam)):
        attempt = service.start_attempt(world.users["caregiver"], registration)
    self_check_stems = set(db.session.scalars(select(Question.stem)))
    assert len(self_check_stems) == 9
    assert len(attempt.items) == 7
    for item in attempt.items:
        assert isinstance(item.question, ExamQuestion)
        assert item.question.stem not in self_check_stems and "只在考试中出现" in item.question.stem
    # the course still has self-check questions of every kind, but they make no paper
    for question in db.session.scalars(select(ExamQuestion)):
        question.is_active = False
    db.session.flush()
    assert service.certificate_types() == []
    with pytest.raises(DomainError, match="holds Single choice 0"):
        service.plan_sitting(world.users["base_staff"], world.base, service.SittingPlan(
            qualification_type=exam.qualification_type, level=5, starts_at=NEXT_WEEK,
            duration_minutes=30, venue=base_venue(world.base, "考场"), examiners=[world.users["base_staff"]],
            blueprint={"single": 1}))


def test_eligibility_gives_every_reason(world, exam, course):
    staff = world.users["base_staff"]
    reasons = service.eligibility(world.staff_other, exam)
    assert len(reasons) == 1 and "Complete one of these courses first: TT-101" in reasons[0]
    registry.record_ban(DEMO, id_number=world.staff_other.id_number, name=world.staff_other.name,
                        kind="lifetime", starts_on=date(2025, 1, 1), ends_on=None, reason="虐童")
    assert len(service.eligibility(world.staff_other, exam)) == 2
    with pytest.raises(DomainError, match="cannot sit this exam: The person is banned"):
        service.register(staff, exam, world.staff_other)
    # level 4 needs a level-5 certificate of the same type first
    exam.level = 4
    assert any("level 5 or higher" in r for r in service.eligibility(world.staff, exam))
    registry.add_qualification(DEMO, world.staff, exam.qualification_type, issued_on=date(2025, 6, 1),
                               level=5, certificate_no="X-1", issuer="南京市职业技能鉴定指导中心")
    assert service.eligibility(world.staff, exam) == []


def test_opening_the_paper_changes_nothing_until_the_candidate_starts_it(client, world, exam):
    registration = service.register(world.users["base_staff"], exam, world.staff)
    db.session.commit()
    login(client, world.staff.mobile)
    early = client.get(f"/exams/{exam.id}/paper").get_data(as_text=True)
    assert "The paper opens at the start of the sitting." in early and 'id="start-paper"' not in early
    assert client.post(f"/exams/{exam.id}/paper/start").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Attempt)) == 0
    exam.starts_at = utc_now() - timedelta(minutes=1)  # the sitting has begun
    db.session.commit()
    listing = client.get("/my/exams").get_data(as_text=True)
    assert f'id="take-{exam.id}"' in listing
    start = client.get(f"/exams/{exam.id}/paper").get_data(as_text=True)
    # a GET shows the start page and writes nothing: no attempt, the registration unmoved
    assert 'id="start-paper"' in start and 'id="exam-clock"' not in start
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Attempt)) == 0
    assert registration.state == "registered"
    assert client.post(f"/exams/{exam.id}/paper/start").headers["Location"] == f"/exams/{exam.id}/paper"
    paper = client.get(f"/exams/{exam.id}/paper").get_data(as_text=True)
    assert 'id="exam-clock"' in paper
    # starting again (a second tab, a dropped connection) resumes the same paper
    client.post(f"/exams/{exam.id}/paper/start")
    assert db.session.scalar(select(func.count()).select_from(Attempt)) == 1
    db.session.expire_all()
    assert registration.state == "started"
    assert [e.action for e in service.REGISTRATION.history(registration)] == ["create", "start"]


def test_the_paper_never_carries_answers_and_keeps_the_time(client, world, exam):
    service.register(world.users["base_staff"], exam, world.staff)
    exam.starts_at = utc_now() - timedelta(minutes=1)
    db.session.commit()
    login(client, world.staff.mobile)
    client.post(f"/exams/{exam.id}/paper/start")
    page = client.get(f"/exams/{exam.id}/paper").get_data(as_text=True)
    attempt = db.session.scalar(select(Attempt))
    assert len(attempt.items) == 7
    kinds = [item.question.kind for item in attempt.items]
    assert kinds.count("single") == 3 and kinds.count("multiple") == 2 and kinds.count("truefalse") == 2
    for item in attempt.items:
        assert item.question.stem in page
    assert "data-answer" not in page and "correct" not in page.lower()
    # answers are saved as the candidate goes, by the positions shown
    for item in attempt.items:
        assert client.post(f"/exams/items/{item.id}/answer", json={"answer": _right(item)}).get_json() == {"saved": True}
    # reloading the page (a dropped connection) gives the same paper with the answers ticked
    again = client.get(f"/exams/{exam.id}/paper").get_data(as_text=True)
    assert again.count(" checked>") + again.count(" checked ") >= 7
    done = client.post(f"/exams/{exam.id}/paper/hand-in", follow_redirects=True).get_data(as_text=True)
    assert "Theory score: 100.0 (7 of 7 right)." in done
    # no second attempt; answers cannot change after handing in
    late = client.post(f"/exams/items/{attempt.items[0].id}/answer", json={"answer": [0]})
    assert late.status_code == 409
    db.session.expire_all()
    assert attempt.state == "handed_in" and not attempt.auto_submitted


def test_the_exam_banks_answers_never_appear_in_a_caregivers_page(client, world, exam, course):
    """Every page a caregiver can open, before, during and after the paper: the bank's answers
    change nothing on them, and its questions show only on the paper itself."""
    service.register(world.users["base_staff"], exam, world.staff)
    exam.starts_at = utc_now() - timedelta(minutes=1)
    db.session.commit()
    login(client, world.staff.mobile)
    lesson = course.lessons[0]
    from lms.learning import service as learning

    learning.enrol(DEMO, world.staff, course)
    db.session.commit()
    elsewhere = ["/", "/my/exams", "/courses", f"/courses/{course.id}", "/learn",
                 f"/learn/lessons/{lesson.id}", f"/learn/lessons/{lesson.id}/check", "/me",
                 f"/exams/{exam.id}/paper"]
    client.post(f"/exams/{exam.id}/paper/start")
    bank = list(db.session.scalars(select(ExamQuestion)))

    def pages() -> dict[str, str]:
        shown = {}
        for url in elsewhere:
            response = client.get(url)
            assert response.status_code == 200, url
            shown[url] = response.get_data(as_text=True)
        return shown

    with at(utc_now()):  # the clock stands still: the seconds left stay the same
        before = pages()
        # the same pages with every answer in the bank changed: not one byte differs
        for question in bank:
            question.answer = [True] if question.kind == "truefalse" and question.answer == [False] else \
                [False] if question.kind == "truefalse" else [len(question.options) - 1 - i for i in question.answer]
        db.session.commit()
        after = pages()
    for url in elsewhere:
        assert _without_tokens(before[url]) == _without_tokens(after[url]), url
    for url, html in before.items():
        if url != f"/exams/{exam.id}/paper":
            assert not any(q.stem in html for q in bank), url
    # handed in: the result page says the score, never which answers were right
    done = client.post(f"/exams/{exam.id}/paper/hand-in", follow_redirects=True).get_data(as_text=True)
    assert "Theory score" in done and not any(q.stem in done for q in bank)
    assert not any(option in done for q in bank for option in q.options)


def _without_tokens(html: str) -> str:
    import re

    return re.sub(r'(name="csrf_token" value|data-csrf)="[^"]*"', "", html)


def test_the_server_hands_in_when_the_time_runs_out(world, exam):
    registration = service.register(world.users["base_staff"], exam, world.staff)
    start = _started(exam)
    candidate = world.users["caregiver"]
    with at(start):
        attempt = service.start_attempt(candidate, registration)
        first = attempt.items[0]
        service.save_answer(candidate, first, [0] if first.question.kind != "truefalse" else [True])
    deadline = service.ends_at(exam)
    with at(deadline + timedelta(seconds=1)), pytest.raises(DomainError, match="submitted"):
        service.save_answer(candidate, attempt.items[1], [0])
    db.session.refresh(attempt)
    assert attempt.state == "timed_out" and attempt.auto_submitted and attempt.submitted_at == deadline
    assert attempt.registration.theory_score is not None
    assert [e.action for e in service.ATTEMPT.history(attempt)] == ["create", "time_up"]
    db.session.add(Enrolment(person_id=world.staff_other.id, course_id=exam_course_id(exam),
                             completed_at=utc_now()))
    with at(start - timedelta(hours=1)):
        late = service.register(world.users["base_staff"], exam, world.staff_other)
    with at(deadline), pytest.raises(DomainError, match="time for this paper is over"):
        service.start_attempt(world.users["caregiver_other"], late)


def test_the_services_authorise_their_actor(world, exam):
    staff, candidate, other = world.users["base_staff"], world.users["caregiver"], world.users["caregiver_other"]
    for outsider in (world.users["inst_admin"], candidate, world.users["regulator"]):
        with pytest.raises(PermissionDenied):
            service.register(outsider, exam, world.staff)
    registration = service.register(staff, exam, world.staff)
    with pytest.raises(PermissionDenied):
        service.withdraw(candidate, registration)
    with at(_started(exam)):
        for stranger in (other, staff):
            with pytest.raises(PermissionDenied):
                service.start_attempt(stranger, registration)
        attempt = service.start_attempt(candidate, registration)
        for stranger in (other, staff, world.users["admin"]):
            with pytest.raises(PermissionDenied):
                service.save_answer(stranger, attempt.items[0], [0])
            with pytest.raises(PermissionDenied):
                service.hand_in(stranger, attempt)
        assert attempt.state == "open"
        # what pages offer is what the services accept
        assert service.allowed_actions(attempt, candidate) == ["answer", "hand_in"]
        assert service.allowed_actions(attempt, other) == []
        assert service.allowed_actions(registration, staff) == []  # started: nothing left to do
        service.hand_in(candidate, attempt)
        assert attempt.state == "handed_in" and service.allowed_actions(attempt, candidate) == []


def test_a_base_withdraws_a_candidate_until_the_sitting_starts(app, world, exam):
    registration = service.register(world.users["base_staff"], exam, world.staff)
    db.session.commit()
    staff = app.test_client()
    login(staff, "base_staff")
    page = staff.get(f"/exams/{exam.id}").get_data(as_text=True)
    assert f'id="withdraw-{registration.id}"' in page
    assert staff.post(f"/exams/{exam.id}/registrations/{registration.id}/withdraw").status_code == 302
    db.session.expire_all()
    assert registration.state == "withdrawn"
    page = staff.get(f"/exams/{exam.id}").get_data(as_text=True)
    assert f'id="withdraw-{registration.id}"' not in page and "Withdrawn" in page
    with pytest.raises(DomainError, match="was withdrawn"):
        service.register(world.users["base_staff"], exam, world.staff)


def test_practical_scores_by_this_sittings_examiners_and_the_result(world, exam, app):
    staff = world.users["base_staff"]
    registration = service.register(staff, exam, world.staff)
    with at(_started(exam)):
        attempt = service.start_attempt(world.users["caregiver"], registration)
        for item in attempt.items[:5]:  # 5 of 7 answered right: 71.4
            service.save_answer(world.users["caregiver"], item, _right(item))
        service.hand_in(world.users["caregiver"], attempt)
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
    with at(service.ends_at(exam) - timedelta(minutes=1)):
        service.expire_sitting(exam)
    assert registration.theory_score is None and registration.state == "registered"
    with at(service.ends_at(exam) + timedelta(minutes=1)):
        service.expire_sitting(exam)
    assert registration.theory_score == 0 and registration.state == "absent"
    assert service.REGISTRATION.history(registration)[-1].actor_label == "exams:clock"


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
            qualification_type=qtype, level=2, starts_at=NEXT_WEEK, duration_minutes=30, venue=base_venue(world.base, "考场"),
            examiners=[world.users["base_staff"]], blueprint={"single": 1}))
    reasons = service.eligibility(world.staff, exam)
    assert reasons and "needs 10 skills-training class hours" in reasons[0] and "has 0" in reasons[0]
    ledger.credit(world.users["admin"], world.staff, year=local_today().year, category="skills",
                  hours=Decimal(12), source_type="external", source_ref="t")
    assert service.eligibility(world.staff, exam) == []
    with pytest.raises(DomainError, match="Levels are numbers"):
        registry.update_qualification_type(
            world.users["admin"], qtype, name_zh=qtype.name_zh, name_en=qtype.name_en,
            occupation_code="", validity_months="", number_prefix="", levels="6")
