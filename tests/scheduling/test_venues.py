"""A room holds one thing at a time: sessions and exam sittings reserve the base's venues
through one clash check (lms.registry.venues), whichever of them comes first."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from lms.core.clock import local_today
from lms.core.errors import DomainError
from lms.exams import service as exams
from lms.extensions import db
from lms.registry.models import QualificationType, Venue, VenueReservation
from lms.registry.venues import VenueClash, add_venue
from lms.scheduling import service

NEXT_WEEK = datetime.combine(local_today() + timedelta(days=7), datetime.min.time()).replace(hour=9)


@pytest.fixture()
def base(world, course):
    staff = world.users["base_staff"]
    rooms = {"room": add_venue(staff, world.base, "一号实训室"), "hall": add_venue(staff, world.base, "报告厅")}
    li = service.add_instructor(staff, world.base, "李老师")
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
    db.session.commit()
    return {"staff": staff, "li": li, "course": course, "qtype": qtype, **rooms}


def _session(world, base, starts, venue="room", hours=3):
    return service.schedule(base["staff"], world.base, service.SessionPlan(
        course=base["course"], kind="theory", venue=base[venue], instructor=base["li"],
        starts_at=starts, ends_at=starts + timedelta(hours=hours), capacity=10, class_hours="3"))[0]


def _sitting(world, base, starts, venue="room", minutes=60):
    return exams.plan_sitting(base["staff"], world.base, exams.SittingPlan(
        qualification_type=base["qtype"], level=5, starts_at=starts, duration_minutes=minutes,
        venue=base[venue], examiners=[base["staff"]], blueprint={"single": 2}))


def test_a_sitting_cannot_take_a_room_a_session_is_using(world, base):
    session = _session(world, base, NEXT_WEEK)  # 09:00-12:00
    db.session.commit()
    with pytest.raises(VenueClash, match=f"the session {session.course.title} on .* 09:00, which "
                                         "already uses the venue 一号实训室"):
        _sitting(world, base, NEXT_WEEK + timedelta(hours=2))
    db.session.rollback()
    # another room at that time, or the same room once the session is over, is fine
    assert _sitting(world, base, NEXT_WEEK + timedelta(hours=2), venue="hall").venue.name == "报告厅"
    assert _sitting(world, base, NEXT_WEEK + timedelta(hours=3)).venue.name == "一号实训室"


def test_a_session_cannot_take_a_room_a_sitting_is_using(world, base):
    sitting = _sitting(world, base, NEXT_WEEK + timedelta(hours=5), minutes=90)  # 14:00-15:30
    db.session.commit()
    with pytest.raises(VenueClash, match="the exam sitting 保育师 on .* 14:00, which already uses "
                                         "the venue 一号实训室"):
        _session(world, base, NEXT_WEEK + timedelta(hours=6))
    db.session.rollback()
    # moving a session into the sitting's room is refused too, and leaves the session as it was
    session = _session(world, base, NEXT_WEEK + timedelta(hours=5), venue="hall")
    plan = service.SessionPlan(course=base["course"], kind="theory", venue=base["room"],
                               instructor=base["li"], starts_at=NEXT_WEEK + timedelta(hours=5),
                               ends_at=NEXT_WEEK + timedelta(hours=7), capacity=10, class_hours="3")
    with pytest.raises(VenueClash, match="exam sitting"):
        service.reschedule(base["staff"], session, plan)
    assert session.venue_id == base["hall"].id
    assert sitting.venue_id == base["room"].id


def test_cancelled_sessions_give_their_room_back_and_moved_ones_move_it(world, base):
    cancelled = _session(world, base, NEXT_WEEK)
    moved = _session(world, base, NEXT_WEEK + timedelta(days=1))
    service.cancel_session(base["staff"], cancelled, "讲师生病")
    _sitting(world, base, NEXT_WEEK)  # the room is free again
    plan = service.SessionPlan(course=base["course"], kind="theory", venue=base["hall"],
                               instructor=base["li"], starts_at=NEXT_WEEK + timedelta(days=1),
                               ends_at=NEXT_WEEK + timedelta(days=1, hours=3), capacity=10,
                               class_hours="3")
    service.reschedule(base["staff"], moved, plan)
    _sitting(world, base, NEXT_WEEK + timedelta(days=1))  # its old room is free
    with pytest.raises(VenueClash):
        _sitting(world, base, NEXT_WEEK + timedelta(days=1), venue="hall")  # its new one is not
    rows = db.session.scalars(select(VenueReservation)).all()
    assert sorted((r.use, r.venue.name) for r in rows) == [("exam", "一号实训室"), ("exam", "一号实训室"),
                                                           ("session", "报告厅")]


def test_a_sitting_needs_one_of_the_bases_venues(world, base):
    elsewhere = Venue(organisation_id=world.inst.id, name="托育园教室", reservations_version=0)
    db.session.add(elsewhere)
    db.session.flush()
    for venue in ("某个教室", elsewhere, None):  # free text is no venue; nor another's room
        with pytest.raises(DomainError, match="one of this base's venues"):
            exams.plan_sitting(base["staff"], world.base, exams.SittingPlan(
                qualification_type=base["qtype"], level=5, starts_at=NEXT_WEEK, duration_minutes=60,
                venue=venue, examiners=[base["staff"]], blueprint={"single": 2}))
    # a venue named exactly as the base's is that venue
    assert _sitting(world, base, NEXT_WEEK, venue="room").venue_id == base["room"].id


def test_the_sitting_form_chooses_from_the_bases_venues_and_meets_the_clash_check(
        client, world, base, login_as):
    _session(world, base, NEXT_WEEK)
    db.session.commit()
    login_as("base_staff")
    page = client.get(f"/bases/{world.base.id}/exams/new").get_data(as_text=True)
    assert f'<option value="{base["room"].id}">一号实训室</option>' in page
    assert f'<option value="{base["hall"].id}">报告厅</option>' in page
    form = {"qualification_type_id": base["qtype"].id, "level": 5, "duration_minutes": 60,
            "starts_at": (NEXT_WEEK + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "venue_id": base["room"].id, "examiners": base["staff"].id, "single": 2, "multiple": 0,
            "truefalse": 0}
    clash = client.post(f"/bases/{world.base.id}/exams/new", data=form).get_data(as_text=True)
    assert "which already uses the venue 一号实训室" in clash
    planned = client.post(f"/bases/{world.base.id}/exams/new", data={**form, "venue_id": base["hall"].id})
    assert planned.status_code == 302
    sitting = db.session.scalar(select(exams.ExamSitting))
    assert sitting.venue.name == "报告厅"
    assert "报告厅" in client.get(f"/exams/{sitting.id}").get_data(as_text=True)


def test_a_base_without_venues_is_sent_to_add_one(client, world, login_as):
    login_as("base_staff")
    response = client.get(f"/bases/{world.base.id}/exams/new")
    assert response.status_code == 302 and f"/bases/{world.base.id}/resources" in response.location
