"""The study clock: the server decides what is credited (DESIGN §5.2, issue 4)."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from lms.catalog.models import Lesson
from lms.core import settings
from lms.core.actors import DEMO, system_actor
from lms.core.clock import utc_now
from lms.core.errors import DomainError, PermissionDenied
from lms.extensions import db
from lms.learning import service
from lms.learning.models import Enrolment, LessonProgress, PresenceCheck, StudyClock
from lms.ledger.models import LedgerEntry, LedgerTotal
from lms.registry import service as registry
from lms.registry.service import BannedError

T0 = datetime(2026, 11, 29, 2, 0, 0)  # 10:00 in Shanghai
TEST = system_actor("test")


def _lesson(course, slug) -> Lesson:
    return db.session.scalar(select(Lesson).where(Lesson.course_id == course.id, Lesson.slug == slug))


def _progress(person, lesson) -> LessonProgress:
    db.session.expire_all()
    return service.progress_for(person, [lesson])[lesson.id]


def _study(person, lesson, start=T0, beats=(), heartbeat_seconds=15):
    """Start at `start`, then send a heartbeat at each offset (seconds); returns the results."""
    clock = service.start_study(TEST, person, lesson, device="test-browser", now=start,
                                heartbeat_seconds=heartbeat_seconds)
    token, results = clock.token, []
    for seq, offset in enumerate(beats, 1):
        results.append(service.heartbeat(TEST, person.id, token, seq, now=start + timedelta(seconds=offset)))
    return token, results


@pytest.fixture()
def enrolled(world, course):
    service.enrol(world.users["caregiver"], world.staff, course)
    db.session.commit()
    return world.staff


def test_enrolment_passes_the_ban_gate(world, course):
    registry.record_ban(DEMO, id_number=world.staff.id_number, name=world.staff.name,
                        kind="lifetime", starts_on=date(2026, 1, 1), ends_on=None, reason="虐童")
    with pytest.raises(BannedError):
        service.enrol(world.users["caregiver"], world.staff, course)
    first = service.enrol(world.users["caregiver_other"], world.staff_other, course)
    assert service.enrol(world.users["caregiver_other"], world.staff_other, course).id == first.id


def test_studying_needs_an_enrolment(world, course):
    with pytest.raises(service.NotEnrolled):
        service.start_study(TEST, world.staff, _lesson(course, "01-short"), now=T0)


def test_heartbeats_credit_real_time_and_a_replay_gains_nothing(enrolled, course):
    lesson = _lesson(course, "03-long")
    token, results = _study(enrolled, lesson, beats=[15, 30, 45])
    assert [r.credited_now for r in results] == [15, 15, 15]
    replay = service.heartbeat(TEST, enrolled.id, token, 3, now=T0 + timedelta(seconds=60))
    older = service.heartbeat(TEST, enrolled.id, token, 2, now=T0 + timedelta(seconds=61))
    assert replay.state == older.state == "replayed" and replay.credited_now == 0
    assert _progress(enrolled, lesson).seconds == 45
    # the next genuine heartbeat gets the time since the last accepted one, no more
    assert service.heartbeat(TEST, enrolled.id, token, 4, now=T0 + timedelta(seconds=60)).credited_now == 15


def test_rapid_or_inflated_heartbeats_gain_only_real_time(enrolled, course):
    lesson = _lesson(course, "03-long")
    # 100 heartbeats in 10 seconds: 10 seconds
    token, results = _study(enrolled, lesson, beats=[i / 10 for i in range(1, 101)])
    assert sum(r.credited_now for r in results) == 10
    # a heartbeat claiming a big jump in sequence gains nothing extra either
    jump = service.heartbeat(TEST, enrolled.id, token, 5000, now=T0 + timedelta(seconds=20))
    assert jump.credited_now == 10
    # a long silence (page hidden, phone locked) is a pause, not study
    gap = service.heartbeat(TEST, enrolled.id, token, 5001, now=T0 + timedelta(minutes=10))
    assert gap.state == "paused" and gap.credited_now == 0
    # and a page that says it was not visible gets nothing for the time
    hidden = service.heartbeat(TEST, enrolled.id, token, 5002, active=False, now=T0 + timedelta(minutes=10, seconds=14))
    assert hidden.credited_now == 0
    assert _progress(enrolled, lesson).seconds == 20


def test_a_lesson_never_credits_more_than_its_minutes_and_credits_the_ledger_once(enrolled, course):
    lesson = _lesson(course, "01-short")  # one minute
    token, results = _study(enrolled, lesson, beats=range(15, 121, 15))
    assert sum(r.credited_now for r in results) == 60
    assert results[3].state == "complete" and results[3].lesson_credited
    assert _progress(enrolled, lesson).seconds == 60
    entries = list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.person_id == enrolled.id)))
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.source_type, entry.source_ref, entry.category) == ("lesson", str(lesson.id), "skills")
    assert entry.hours == Decimal("0.0222") and entry.year == 2026  # 1 of 45 minutes
    assert _progress(enrolled, lesson).ledger_entry_id == entry.id
    # studying it again later credits nothing more
    _study(enrolled, lesson, start=T0 + timedelta(hours=1), beats=[15, 30])
    assert db.session.get(LedgerTotal, (enrolled.id, 2026, "skills")).hours == Decimal("0.0222")


def test_segments_keep_the_evidence_behind_a_credit(enrolled, course):
    lesson = _lesson(course, "01-short")
    token, _ = _study(enrolled, lesson, beats=[15, 30])
    service.heartbeat(TEST, enrolled.id, token, 3, now=T0 + timedelta(minutes=5))  # pause
    service.heartbeat(TEST, enrolled.id, token, 4, now=T0 + timedelta(minutes=5, seconds=15))
    service.heartbeat(TEST, enrolled.id, token, 5, now=T0 + timedelta(minutes=5, seconds=30))
    segments = service.segments_for(enrolled, lesson)
    assert [(s.started_at, s.ended_at, s.seconds) for s in segments] == [
        (T0, T0 + timedelta(seconds=30), 30),
        (T0 + timedelta(minutes=5), T0 + timedelta(minutes=5, seconds=30), 30)]
    assert {s.rule_version for s in segments} == {service.RULE_VERSION}
    assert {s.device for s in segments} == {"test-browser"}


def test_a_second_tab_or_device_does_not_double_count(enrolled, course):
    lesson = _lesson(course, "03-long")
    first, _ = _study(enrolled, lesson, beats=[15])
    second = service.start_study(TEST, enrolled, lesson, device="phone", now=T0 + timedelta(seconds=20)).token
    with pytest.raises(service.Superseded):
        service.heartbeat(TEST, enrolled.id, first, 2, now=T0 + timedelta(seconds=30))
    for seq, offset in enumerate([35, 50], 1):
        service.heartbeat(TEST, enrolled.id, second, seq, now=T0 + timedelta(seconds=offset))
    assert _progress(enrolled, lesson).seconds == 15 + 30
    # another lesson started elsewhere also stops this one
    other = _lesson(course, "01-short")
    service.start_study(TEST, enrolled, other, now=T0 + timedelta(seconds=55))
    with pytest.raises(service.Superseded):
        service.heartbeat(TEST, enrolled.id, second, 3, now=T0 + timedelta(seconds=65))


def test_concurrent_copies_of_one_heartbeat_credit_once(app, enrolled, course):
    lesson = _lesson(course, "03-long")
    token, _ = _study(enrolled, lesson, start=utc_now() - timedelta(seconds=10))
    db.session.commit()
    outcomes, barrier = [], threading.Barrier(8)

    def send():
        with app.app_context():
            barrier.wait()
            try:
                outcomes.append(service.heartbeat(TEST, enrolled.id, token, 1).credited_now)
                db.session.commit()
            except Exception as err:  # noqa: BLE001
                db.session.rollback()
                outcomes.append(repr(err))
            db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    credited = [o for o in outcomes if isinstance(o, int) and o > 0]
    assert len(credited) == 1, outcomes
    assert _progress(enrolled, lesson).seconds == credited[0]


def test_the_daily_cap_stops_crediting(enrolled, course, world):
    settings.set_setting(DEMO, "learning.daily_online_hours_cap", 1, date(2026, 1, 1))
    settings.set_setting(DEMO, "ledger.minutes_per_class_hour", 20, date(2026, 1, 1))
    settings.set_setting(DEMO, "learning.check_minutes", 240, date(2026, 1, 1))
    db.session.commit()
    lesson = _lesson(course, "03-long")  # 30 minutes, but the cap is one 20-minute hour
    token = service.start_study(TEST, enrolled, lesson, now=T0, heartbeat_seconds=60).token
    total = 0
    for seq in range(1, 31):
        result = service.heartbeat(TEST, enrolled.id, token, seq, now=T0 + timedelta(minutes=seq))
        total += result.credited_now
    assert total == 20 * 60 and result.state == "capped"
    # tomorrow (local time) the clock runs again
    result = service.heartbeat(TEST, enrolled.id, token, 31, now=T0 + timedelta(days=1))
    assert result.state == "paused"
    result = service.heartbeat(TEST, enrolled.id, token, 32, now=T0 + timedelta(days=1, seconds=60))
    assert result.credited_now == 60


def _wrong(clock: StudyClock) -> list[int]:
    """An answer that is not the clock's key (an option the question has)."""
    count = 2 if clock.challenge["kind"] == "truefalse" else len(clock.challenge["options"])
    return [next(i for i in range(count) if [i] != clock.challenge_key)]


def test_presence_check_asks_about_the_lesson_and_stops_the_clock_until_answered(enrolled, course):
    settings.set_setting(DEMO, "learning.check_minutes", 5, date(2026, 1, 1))
    db.session.commit()
    lesson = _lesson(course, "03-long")
    token = service.start_study(TEST, enrolled, lesson, now=T0).token
    seq, result = 0, None
    for seq in range(1, 21):
        result = service.heartbeat(TEST, enrolled.id, token, seq, now=T0 + timedelta(seconds=15 * seq))
    assert result.state == "challenge" and result.challenge  # after 5 credited minutes
    # the question is one of the lesson's self-check questions, shown without its answer
    stems = {q.stem: q for q in service.lesson_questions(lesson)}
    assert result.challenge["stem"] in stems and "03-long" in result.challenge["stem"]
    assert set(result.challenge) == {"stem", "kind", "options"}
    asked_at = T0 + timedelta(seconds=15 * 20)
    credited = _progress(enrolled, lesson).seconds
    assert credited == 300
    # a script that keeps sending heartbeats gains nothing while the question is open
    for more in range(21, 40):
        blocked = service.heartbeat(TEST, enrolled.id, token, more, now=T0 + timedelta(seconds=15 * more))
        assert blocked.state == "challenge" and blocked.credited_now == 0
    clock = db.session.get(StudyClock, enrolled.id, populate_existing=True)
    assert clock.challenge == result.challenge and clock.challenge_asked_at == asked_at
    question = stems[result.challenge["stem"]]
    assert clock.challenge_question_id == question.id
    with pytest.raises(service.WrongAnswer):
        service.answer_challenge(TEST, enrolled.id, token, _wrong(clock))
    # arithmetic, nonsense and out-of-range answers are wrong answers, not errors
    with pytest.raises(service.WrongAnswer):
        service.answer_challenge(TEST, enrolled.id, token, "7 + 5")
    answered_at = T0 + timedelta(seconds=15 * 40)
    right = clock.challenge_key
    assert service.answer_challenge(TEST, enrolled.id, token, right, now=answered_at) is None
    after = service.heartbeat(TEST, enrolled.id, token, 40, now=answered_at + timedelta(seconds=15))
    assert after.state == "running" and after.credited_now == 15
    assert _progress(enrolled, lesson).seconds == credited + 15
    # how long the answer took is kept, with the wrong tries
    check = db.session.scalar(select(PresenceCheck))
    assert (check.reason, check.outcome, check.wrong_answers, check.question_id) == (
        "periodic", "answered", 2, question.id)
    assert check.answer_seconds == (answered_at - asked_at).total_seconds() == 300
    assert service.presence_checks_for(enrolled, lesson) == [check]


@pytest.mark.parametrize("slug", ["01-short", "02-video", "03-long"])
def test_every_kind_of_question_is_checked_on_the_server(enrolled, course, slug):
    """Single, multiple and true/false questions: only the exact right options pass."""
    lesson = _lesson(course, slug)
    token, _ = _study(enrolled, lesson, beats=[15])
    for attempt in range(6):
        service.report_idle(TEST, enrolled.id, token, now=T0 + timedelta(seconds=20 + attempt))
        clock = db.session.get(StudyClock, enrolled.id, populate_existing=True)
        key = clock.challenge_key
        if clock.challenge["kind"] == "multiple":
            with pytest.raises(service.WrongAnswer):
                service.answer_challenge(TEST, enrolled.id, token, key[:1])
        assert service.answer_challenge(TEST, enrolled.id, token, key,
                                        now=T0 + timedelta(seconds=30 + attempt)) is None


def test_a_lesson_without_a_self_check_asks_about_its_text(enrolled, course):
    from lms.catalog.models import Question
    lesson = _lesson(course, "03-long")
    for question in service.lesson_questions(lesson):
        question.is_active = False
    lesson.body = "# 引言\n\n## 晨间接待的要点\n\n正文。"
    db.session.flush()
    assert db.session.scalar(select(Question).where(Question.lesson_id == lesson.id,
                                                    Question.is_active.is_(True))) is None
    token, _ = _study(enrolled, lesson, beats=[15])
    shown = service.report_idle(TEST, enrolled.id, token, now=T0 + timedelta(seconds=20))
    clock = db.session.get(StudyClock, enrolled.id, populate_existing=True)
    right = shown["options"][clock.challenge_key[0]]
    assert right in {"引言", "晨间接待的要点"} and clock.challenge_question_id is None
    assert len(shown["options"]) > 1


def test_an_idle_page_gets_a_question_too(enrolled, course):
    lesson = _lesson(course, "03-long")
    token, _ = _study(enrolled, lesson, beats=[15])
    question = service.report_idle(TEST, enrolled.id, token, now=T0 + timedelta(seconds=20))
    assert "03-long" in question["stem"]
    assert service.heartbeat(TEST, enrolled.id, token, 2, now=T0 + timedelta(seconds=30)).credited_now == 0
    with pytest.raises(service.WrongAnswer):
        service.answer_challenge(TEST, enrolled.id, token, "not a number")
    clock = db.session.get(StudyClock, enrolled.id, populate_existing=True)
    for _ in range(2):  # three wrong answers: a new question
        with pytest.raises(service.WrongAnswer):
            service.answer_challenge(TEST, enrolled.id, token, _wrong(clock),
                                     now=T0 + timedelta(seconds=50))
    clock = db.session.get(StudyClock, enrolled.id, populate_existing=True)
    assert clock.challenge_tries == 0 and clock.challenge_asked_at == T0 + timedelta(seconds=50)
    replaced = db.session.scalar(select(PresenceCheck))
    assert (replaced.reason, replaced.outcome, replaced.wrong_answers, replaced.answer_seconds) == (
        "idle", "replaced", 3, 30)


def test_only_the_caregiver_studies_as_themselves(world, enrolled, course):
    """The learning services authorise their actor: another caregiver, staff or a bare name
    cannot enrol, start, beat, answer or self-check for someone else."""
    lesson = _lesson(course, "01-short")
    token = service.start_study(world.users["caregiver"], enrolled, lesson, now=T0).token
    assert service.heartbeat(world.users["caregiver"], enrolled.id, token, 1,
                             now=T0 + timedelta(seconds=15)).credited_now == 15
    for actor in (world.users["caregiver_other"], world.users["inst_admin"], world.users["admin"], "test"):
        with pytest.raises(PermissionDenied):
            service.enrol(actor, enrolled, course)
        with pytest.raises(PermissionDenied):
            service.start_study(actor, enrolled, lesson, now=T0)
        with pytest.raises(PermissionDenied):
            service.heartbeat(actor, enrolled.id, token, 2, now=T0 + timedelta(seconds=30))
        with pytest.raises(PermissionDenied):
            service.report_idle(actor, enrolled.id, token)
        with pytest.raises(PermissionDenied):
            service.answer_challenge(actor, enrolled.id, token, [0])
        with pytest.raises(PermissionDenied):
            service.submit_self_check(actor, enrolled, lesson, {})


def test_one_gate_for_every_study_door(world, enrolled, course):
    """An inactive lesson or course, no enrolment, or a ban: the study page, the clock's start
    and the self-check all refuse, with the same reason (service.study_access)."""
    lesson = _lesson(course, "01-short")
    caregiver = world.users["caregiver"]

    def doors():
        for door in (lambda: service.study_access(enrolled, lesson),
                     lambda: service.start_study(caregiver, enrolled, lesson, now=T0),
                     lambda: service.submit_self_check(caregiver, enrolled, lesson, {})):
            with pytest.raises(DomainError) as raised:
                door()
            yield str(raised.value)

    course.is_active = False
    assert set(doors()) == {"This lesson is no longer offered."}
    course.is_active = True
    registry.record_ban(DEMO, id_number=enrolled.id_number, name=enrolled.name, kind="lifetime",
                        starts_on=date(2026, 1, 1), ends_on=None, reason="虐童")
    assert len(set(doors())) == 1


def test_a_video_cannot_be_skipped_past_the_furthest_point_watched(enrolled, course):
    lesson = _lesson(course, "02-video")  # 14 minutes, a 300-second video
    token = service.start_study(TEST, enrolled, lesson, now=T0).token
    r1 = service.heartbeat(TEST, enrolled.id, token, 1, position=14, now=T0 + timedelta(seconds=15))
    assert r1.video_furthest == 14
    skip = service.heartbeat(TEST, enrolled.id, token, 2, position=290, now=T0 + timedelta(seconds=30))
    assert skip.video_furthest == 14  # a jump the elapsed time cannot explain is ignored
    # the page sends the player back to the furthest point; watching on from there counts
    normal = service.heartbeat(TEST, enrolled.id, token, 3, position=29, now=T0 + timedelta(seconds=45))
    assert normal.video_furthest == 29
    # the time is met long before the video is watched (here it stops at 100 s): no credit yet
    seq, now = 3, T0 + timedelta(seconds=45)
    while now < T0 + timedelta(minutes=15):
        seq, now = seq + 1, now + timedelta(seconds=15)
        result = service.heartbeat(TEST, enrolled.id, token, seq, now=now,
                                   position=min(normal.video_furthest + (seq - 3) * 15, 100))
    assert result.lesson_seconds == 14 * 60 and not result.lesson_credited
    assert result.video_furthest == 100
    while not result.lesson_credited and seq < 100:
        seq, now = seq + 1, now + timedelta(seconds=15)
        result = service.heartbeat(TEST, enrolled.id, token, seq, now=now, position=result.video_furthest + 15)
    assert result.lesson_credited and result.video_furthest >= 298


def test_a_later_change_of_rules_never_takes_hours_away(enrolled, course):
    lesson = _lesson(course, "01-short")
    _study(enrolled, lesson, beats=range(15, 61, 15))
    credited = db.session.get(LedgerTotal, (enrolled.id, 2026, "skills")).hours
    settings.set_setting(DEMO, "ledger.minutes_per_class_hour", 60, date(2026, 1, 1))
    lesson.minutes = 10  # as a re-import would
    db.session.commit()
    assert db.session.get(LedgerTotal, (enrolled.id, 2026, "skills")).hours == credited
    assert _progress(enrolled, lesson).credited_at is not None


def test_self_check_and_completion(enrolled, course):
    settings.set_setting(DEMO, "learning.check_minutes", 240, date(2026, 1, 1))
    lessons = course.lessons
    for index, lesson in enumerate(lessons):
        start = T0 + timedelta(hours=index)
        token = service.start_study(TEST, enrolled, lesson, now=start, heartbeat_seconds=60).token
        for seq in range(1, lesson.minutes + 1):
            service.heartbeat(TEST, enrolled.id, token, seq, now=start + timedelta(minutes=seq),
                              position=seq * 60 if lesson.video_seconds else None)
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.person_id == enrolled.id))
    assert enrolment.completed_at is None  # hours in, self-checks not yet
    for lesson in lessons:
        questions = service.self_check_questions(enrolled, lesson)
        assert questions == service.self_check_questions(enrolled, lesson)  # stable until submitted
        wrong = service.submit_self_check(TEST, enrolled, lesson, {q.id: [] for q in questions}, now=T0)
        assert not wrong.passed and wrong.correct == 0
        questions = service.self_check_questions(enrolled, lesson)
        right = service.submit_self_check(TEST, enrolled, lesson, {q.id: list(q.answer) for q in questions},
                                          now=T0 + timedelta(hours=5))
        assert right.passed and right.correct == right.total == 3
    db.session.refresh(enrolment)
    assert enrolment.completed_at == T0 + timedelta(hours=5)
    assert db.session.get(LedgerTotal, (enrolled.id, 2026, "skills")).hours == Decimal("1.0000")


def test_prerequisites_are_explained(world, course):
    from lms.catalog.models import Course
    later = Course(code="TT-201", track="nursery_care", title="进阶", summary="", class_hours=1,
                   serves=[], prerequisites=["TT-101"], sources=[])
    db.session.add(later)
    db.session.flush()
    with pytest.raises(DomainError, match="TT-101"):
        service.enrol(world.users["caregiver"], world.staff, later)
