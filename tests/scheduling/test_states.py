"""Sessions, bookings and attendance: every (state, action) pair of their transition tables,
services that authorise their actor themselves, and pages that offer exactly what the service
answers."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from lms.core.actors import DEMO, system_actor
from lms.core.clock import local_now, local_today, to_utc
from lms.core.errors import PermissionDenied
from lms.core.models import StateEvent
from lms.core.states import InvalidTransition
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.venues import add_venue, reserve_venue
from lms.scheduling import service
from lms.scheduling.models import (
    Attendance,
    AttendanceAction,
    AttendanceStatus,
    Booking,
    BookingAction,
    BookingStatus,
    SessionAction,
    SessionStatus,
    TrainingSession,
)
from tests.conftest import login
from tests.factories import credit_code

NEXT_WEEK = datetime.combine(local_today() + timedelta(days=7), datetime.min.time()).replace(hour=9)
SYSTEM = system_actor("test:tables")


@pytest.fixture()
def base(world, course):
    staff = world.users["base_staff"]
    room = add_venue(staff, world.base, "一号实训室")
    li = service.add_instructor(staff, world.base, "李老师")
    db.session.commit()
    return {"staff": staff, "room": room, "li": li, "course": course}


def _plan(base, starts=NEXT_WEEK, hours=3):
    return service.SessionPlan(course=base["course"], kind="theory", venue=base["room"],
                               instructor=base["li"], starts_at=starts,
                               ends_at=starts + timedelta(hours=hours), capacity=1, class_hours="3")


def _session(world, base, **kw) -> TrainingSession:
    return service.schedule(base["staff"], world.base, _plan(base, **kw))[0]


def _force(model, obj, state: str) -> None:
    db.session.execute(update(model).where(model.id == obj.id).values(status=state))
    db.session.refresh(obj)


# --- every (state, action) pair ----------------------------------------------------------------


@pytest.mark.parametrize("state", list(SessionStatus))
@pytest.mark.parametrize("action", list(SessionAction))
def test_every_session_state_and_action(world, base, state, action):
    session = _session(world, base)
    _force(TrainingSession, session, state.value)
    target = service.SESSION_TRANSITIONS.get((state, action))
    if target is None:
        with pytest.raises(InvalidTransition):
            service.SESSION.apply(SYSTEM, session, action)
        assert session.status == state
    else:
        service.SESSION.apply(SYSTEM, session, action, reason="table test")
        assert session.status == target
        event = db.session.scalar(select(StateEvent).where(
            StateEvent.object_type == "training_sessions", StateEvent.action == action.value))
        assert (event.from_state, event.to_state, event.actor_label) == (state, target, "test:tables")


@pytest.mark.parametrize("state", list(BookingStatus))
@pytest.mark.parametrize("action", list(BookingAction))
def test_every_booking_state_and_action(world, base, state, action):
    booking = service.book(DEMO, world.staff, _session(world, base))
    _force(Booking, booking, state.value)
    target = service.BOOKING_TRANSITIONS.get((state, action))
    if target is None:
        with pytest.raises(InvalidTransition):
            service.BOOKING.apply(SYSTEM, booking, action)
        assert booking.status == state
    else:
        service.BOOKING.apply(SYSTEM, booking, action)
        assert booking.status == target


@pytest.mark.parametrize("state", list(AttendanceStatus))
@pytest.mark.parametrize("action", list(AttendanceAction))
def test_every_attendance_state_and_action(world, base, state, action):
    session = _session(world, base)
    service.book(DEMO, world.staff, session)
    attendance = service.mark(base["staff"], session, world.staff, state.value, "表")
    target = service.ATTENDANCE_TRANSITIONS.get((state, action))
    assert target == action.status  # staff may correct any mark (credit aside: see below)
    service.ATTENDANCE.apply(SYSTEM, attendance, action)
    assert attendance.status == target


def test_the_tables_name_only_known_states_and_actions():
    for table, states, actions in ((service.SESSION_TRANSITIONS, SessionStatus, SessionAction),
                                   (service.BOOKING_TRANSITIONS, BookingStatus, BookingAction),
                                   (service.ATTENDANCE_TRANSITIONS, AttendanceStatus, AttendanceAction)):
        assert all(s in states and a in actions and t in states for (s, a), t in table.items())
    # nothing leaves a cancelled session or booking
    assert not [k for k in service.SESSION_TRANSITIONS if k[0] == SessionStatus.CANCELLED]
    assert not [k for k in service.BOOKING_TRANSITIONS if k[0] == BookingStatus.CANCELLED]


def test_a_credited_attendance_cannot_be_marked_away(world, base):
    at = local_now() - timedelta(hours=4)
    session = service.schedule(base["staff"], world.base, _plan(base, starts=at),
                               now=to_utc(at) - timedelta(days=1))[0]
    service.book(DEMO, world.staff, session, now=session.starts_at - timedelta(days=1))
    attendance = service.mark(base["staff"], session, world.staff, "present", "纸质签到表")
    service.close_session(base["staff"], session)
    assert attendance.ledger_entry_id is not None
    assert service.mark_choices(session, service.booking_for(world.staff, session), attendance,
                                base["staff"]) == [AttendanceStatus.PRESENT, AttendanceStatus.LATE]
    with pytest.raises(service.ActionNotPossible, match="already credited"):
        service.mark(base["staff"], session, world.staff, "absent", "弄错了")


# --- the service is the door: it authorises its actor ----------------------------------------


def test_scheduling_services_refuse_whoever_the_pages_refuse(world, base):
    session = _session(world, base)
    booking = service.book(world.users["caregiver"], world.staff, session)
    other_base = registry.create_organisation(DEMO, kind="training_base", name="另一实训基地",
                                              district=world.xuanwu, credit_code=credit_code(9))
    outsider = world.users["inst_admin"]
    caregiver, other = world.users["caregiver"], world.users["caregiver_other"]
    refused = [
        lambda: service.schedule(outsider, world.base, _plan(base, starts=NEXT_WEEK + timedelta(days=1))),
        lambda: service.schedule(caregiver, world.base, _plan(base, starts=NEXT_WEEK + timedelta(days=1))),
        lambda: service.schedule("test", world.base, _plan(base, starts=NEXT_WEEK + timedelta(days=1))),
        lambda: service.add_instructor(caregiver, world.base, "王老师"),
        lambda: add_venue(outsider, world.base, "二号实训室"),
        lambda: add_venue(base["staff"], other_base, "二号实训室"),
        lambda: reserve_venue(outsider, base["room"], session.starts_at, session.ends_at,
                              use="exam", holder_id=999, title="x"),
        lambda: service.reschedule(caregiver, session, _plan(base)),
        lambda: service.cancel_session(caregiver, session, "不来了"),
        lambda: service.cancel_session(outsider, session, "不来了"),
        lambda: service.close_session(caregiver, session, now=session.ends_at + timedelta(hours=1)),
        lambda: service.mark(caregiver, session, world.staff, "present", "我来了"),
        lambda: service.book(other, world.staff, session),  # not for someone else
        lambda: service.book(base["staff"], world.staff, session),
        lambda: service.cancel_booking(other, booking),
        lambda: service.cancel_booking(outsider, booking),
        lambda: service.check_in(other, world.staff, session, service.attendance_code(session)),
        lambda: service.check_in("cli", world.staff, session, service.attendance_code(session)),
    ]
    for n, call in enumerate(refused):
        with pytest.raises(PermissionDenied):
            call()
        assert booking.status == "booked" and session.status == "scheduled", n
    # and the rightful actors pass
    service.cancel_booking(caregiver, booking)
    service.cancel_session(base["staff"], session, "讲师生病")
    assert (booking.status, session.status) == ("cancelled", "cancelled")


# --- pages offer exactly what the service answers ----------------------------------------------


def _offered(page: str) -> set[str]:
    return set(re.findall(r'data-action="([a-z_]+:[a-z_]+)"', page))


def _expected(session, user, booking) -> set[str]:
    actions = {f"session:{a}" for a in service.allowed_actions(session, user)
               if a != SessionAction.CHECK_IN}  # offered on the check-in page, by the code
    if "session:mark" in actions and not any(b.has_seat for b in service.live_bookings(session)):
        actions.discard("session:mark")  # a row per booked seat; none, no form
    if booking is not None:
        actions |= {f"booking:{a}" for a in service.allowed_actions(booking, user)}
    return actions


@pytest.mark.parametrize("situation", ["coming", "ended", "closed", "cancelled", "past_cutoff"])
def test_the_session_page_offers_the_services_answer(app, world, base, situation):
    now = local_now()
    starts = {"ended": now - timedelta(hours=4), "closed": now - timedelta(hours=4),
              "past_cutoff": now + timedelta(hours=5)}.get(situation, NEXT_WEEK)
    session = service.schedule(base["staff"], world.base, _plan(base, starts=starts),
                               now=to_utc(now) - timedelta(days=2))[0]
    service.book(DEMO, world.staff, session, now=session.starts_at - timedelta(days=1))
    if situation == "closed":
        service.close_session(base["staff"], session)
    if situation == "cancelled":
        service.cancel_session(base["staff"], session, "讲师生病")
    db.session.commit()
    offered_somewhere = set()
    for role in ("base_staff", "admin", "caregiver", "caregiver_other", "inst_admin", "regulator"):
        user = world.users[role]
        client = app.test_client()
        mobile = {"caregiver": world.staff.mobile, "caregiver_other": world.staff_other.mobile}
        assert login(client, user.username or mobile[role]).status_code == 302, role
        page = client.get(f"/sessions/{session.id}")
        assert page.status_code == 200, role
        booking = service.booking_for(world.staff, session) if role == "caregiver" else None
        offered = _offered(page.get_data(as_text=True))
        assert offered == _expected(session, user, booking), (situation, role)
        offered_somewhere |= offered
    # the states really differ in what they offer
    expected_staff = {"coming": {"session:edit", "session:cancel", "session:show_code", "session:mark"},
                      "ended": {"session:edit", "session:cancel", "session:show_code", "session:mark",
                                "session:close"},
                      "closed": {"session:mark"}, "cancelled": set(),
                      "past_cutoff": {"session:edit", "session:cancel", "session:show_code",
                                      "session:mark"}}[situation]
    assert expected_staff <= offered_somewhere
    if situation == "coming":
        assert "booking:cancel" in offered_somewhere  # the caregiver, before the cut-off
    if situation == "past_cutoff":  # only the base may still cancel: the caregiver is not offered it
        caregiver = world.users["caregiver"]
        assert "cancel" not in service.allowed_actions(service.booking_for(world.staff, session), caregiver)


def test_the_check_in_page_offers_check_in_only_while_it_is_possible(app, world, base):
    session = _session(world, base)
    service.book(DEMO, world.staff, session)
    db.session.commit()
    client = app.test_client()
    login(client, world.staff.mobile)
    code = service.attendance_code(session)
    page = client.get(f"/sessions/{session.id}/attend?code={code}").get_data(as_text=True)
    assert _offered(page) == {"session:check_in"}
    service.cancel_session(base["staff"], session, "讲师生病")
    db.session.commit()
    page = client.get(f"/sessions/{session.id}/attend?code={code}").get_data(as_text=True)
    assert _offered(page) == set() and 'id="attend-closed"' in page


def test_booking_moves_are_recorded_with_who(world, base):
    session = _session(world, base)  # one seat
    first = service.book(world.users["caregiver"], world.staff, session)
    second = service.book(world.users["caregiver_other"], world.staff_other, session)
    assert second.status == "waitlisted"
    service.cancel_booking(world.users["caregiver"], first)
    db.session.refresh(second)
    assert second.status == "booked"
    moves = [(e.object_id, e.action, e.to_state, e.actor_label) for e in db.session.scalars(
        select(StateEvent).where(StateEvent.object_type == "bookings").order_by(StateEvent.id))]
    assert (first.id, "cancel", "cancelled", world.users["caregiver"].display_name) in moves
    assert (second.id, "promote", "booked", "scheduling:waiting_list") in moves
    assert db.session.scalar(select(Attendance.id)) is None
