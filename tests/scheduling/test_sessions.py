"""Training bases' sessions: clashes, bookings and waiting lists, attendance, crediting."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from lms.core.actors import DEMO
from lms.core.clock import local_now, local_today, to_utc, utc_now
from lms.core.errors import DomainError
from lms.core.models import Notification
from lms.extensions import db
from lms.ledger.models import LedgerEntry, LedgerTotal
from lms.registry import service as registry
from lms.registry.service import BannedError
from lms.scheduling import service
from lms.scheduling.models import Attendance, Booking, TrainingSession
from tests.conftest import PASSWORD, login
from tests.factories import id_number
from tests.helpers import at_once

NEXT_WEEK = datetime.combine(local_today() + timedelta(days=7), datetime.min.time()).replace(hour=9)


@pytest.fixture()
def base(world, course):
    staff = world.users["base_staff"]
    room = service.add_venue(staff, world.base, "一号实训室", "玄武区中山路1号")
    hall = service.add_venue(staff, world.base, "报告厅")
    li = service.add_instructor(staff, world.base, "李老师")
    wang = service.add_instructor(staff, world.base, "王老师")
    db.session.commit()
    return {"staff": staff, "room": room, "hall": hall, "li": li, "wang": wang, "course": course}


def plan(base, *, venue="room", instructor="li", starts=NEXT_WEEK, hours=3, capacity=20, **kw):
    return service.SessionPlan(course=base["course"], kind=kw.pop("kind", "practical"),
                               venue=base[venue], instructor=base[instructor], starts_at=starts,
                               ends_at=starts + timedelta(hours=hours), capacity=capacity,
                               class_hours=kw.pop("class_hours", "3"), **kw)


def people(world, count: int, start: int = 100) -> list:
    added = []
    for n in range(count):
        result = registry.add_staff(DEMO, world.inst, id_number=id_number(
            "320102", (date(1990, 1, 1) + timedelta(days=n // 400)).strftime("%Y%m%d"), n % 400 + start % 400 + 1),
            name="学员" + "甲乙丙丁戊己庚辛壬癸"[n % 10] + "子丑寅卯辰巳午未申酉戌亥"[n // 10 % 12],
            post="nursery_carer", start_date=date(2024, 1, 1))
        added.append(result.employment.person)
    db.session.commit()
    return added


# --- scheduling --------------------------------------------------------------------------------------


def test_a_clash_names_the_session_it_clashes_with(world, base):
    first = service.schedule(base["staff"], world.base, plan(base))[0]
    with pytest.raises(service.SessionClash, match="already uses the venue 一号实训室"):
        service.schedule(base["staff"], world.base, plan(base, instructor="wang",
                                                         starts=NEXT_WEEK + timedelta(hours=2)))
    with pytest.raises(service.SessionClash, match="already uses the instructor 李老师"):
        service.schedule(base["staff"], world.base, plan(base, venue="hall",
                                                         starts=NEXT_WEEK - timedelta(hours=2)))
    # back to back is no clash; another venue and instructor at the same time neither
    service.schedule(base["staff"], world.base, plan(base, starts=NEXT_WEEK + timedelta(hours=3)))
    service.schedule(base["staff"], world.base, plan(base, venue="hall", instructor="wang"))
    assert first.course.title in str(pytest.raises(service.SessionClash, service.schedule,
                                                   base["staff"], world.base, plan(base)).value)


def test_a_weekly_series_is_created_whole_or_not_at_all(world, base):
    service.schedule(base["staff"], world.base, plan(base, starts=NEXT_WEEK + timedelta(weeks=2)))
    db.session.commit()
    with pytest.raises(service.SessionClash):
        service.schedule(base["staff"], world.base, plan(base, repeat_weeks=4))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(TrainingSession)) == 1
    series = service.schedule(base["staff"], world.base, plan(base, venue="hall", instructor="wang",
                                                               repeat_weeks=4))
    assert [s.starts_at - series[0].starts_at for s in series] == [timedelta(weeks=w) for w in range(4)]
    assert len({s.series_id for s in series}) == 1 and series[0].series_id


@pytest.mark.parametrize("overrides, message", [
    ({"starts": datetime(2020, 1, 6, 9)}, "starts in the future"),
    ({"hours": -1}, "ends after it starts"),
    ({"hours": 13}, "at most 12 hours"),
    ({"capacity": 0}, "between 1 and 1000"),
    ({"class_hours": "abc"}, "must be a number"),
    ({"class_hours": "0"}, "more than 0"),
    ({"kind": "party"}, "theory or practical"),
])
def test_bad_sessions_are_refused_clearly(world, base, overrides, message):
    with pytest.raises(DomainError, match=message):
        service.schedule(base["staff"], world.base, plan(base, **overrides))


def test_only_the_bases_own_staff_schedule(world, base):
    with pytest.raises(DomainError):
        service.schedule(world.users["inst_admin"], world.base, plan(base))


# --- bookings ----------------------------------------------------------------------------------------


def test_full_sessions_take_a_waiting_list_promoted_in_order(world, base):
    session = service.schedule(base["staff"], world.base, plan(base, capacity=2))[0]
    a, b, c, d = people(world, 4)
    t = utc_now()
    bookings = [service.book(DEMO, p, session, now=t + timedelta(seconds=i)) for i, p in enumerate([a, b, c, d])]
    assert [x.status for x in bookings] == ["booked", "booked", "waitlisted", "waitlisted"]
    assert service.waiting_position(bookings[2]) == 1 and service.waiting_position(bookings[3]) == 2
    service.cancel_booking(DEMO, bookings[0])
    db.session.commit()
    db.session.refresh(bookings[2])
    assert bookings[2].status == "booked" and bookings[2].promoted_at is not None
    assert service.waiting_position(bookings[3]) == 1
    note = db.session.scalar(select(Notification).where(Notification.kind == "booking_promoted"))
    assert note.user_id == registry.db.session.scalar(
        select(registry.User.id).where(registry.User.person_id == c.id))
    # more seats promote the rest
    service.reschedule(base["staff"], session, plan(base, capacity=3))
    db.session.refresh(bookings[3])
    assert bookings[3].status == "booked"


def test_cut_off_overlap_ban_and_online_part(world, base):
    session = service.schedule(base["staff"], world.base, plan(base, cancel_cutoff_hours=48))[0]
    booking = service.book(world.users["caregiver"], world.staff, session)
    with pytest.raises(DomainError, match="48 hours before"):
        service.cancel_booking(world.users["caregiver"], booking, now=session.starts_at - timedelta(hours=47))
    other = service.schedule(base["staff"], world.base, plan(base, venue="hall", instructor="wang",
                                                              starts=NEXT_WEEK + timedelta(hours=1)))[0]
    with pytest.raises(DomainError, match="already have a booking at that time"):
        service.book(world.users["caregiver"], world.staff, other)
    # the base itself may still cancel after the cut-off
    service.cancel_booking(base["staff"], booking, now=session.starts_at - timedelta(hours=1))
    assert booking.status == "cancelled"
    service.book(world.users["caregiver"], world.staff, other)
    registry.record_ban(DEMO, id_number=world.staff_other.id_number, name=world.staff_other.name,
                        kind="lifetime", starts_on=date(2025, 1, 1), ends_on=None, reason="虐童")
    with pytest.raises(BannedError):
        service.book(world.users["caregiver_other"], world.staff_other, session)
    online = service.schedule(base["staff"], world.base, plan(
        base, starts=NEXT_WEEK + timedelta(days=1), requires_online=True))[0]
    with pytest.raises(DomainError, match="Complete the online part of 测试课程.*一分钟课：七步洗手法"):
        service.book(world.users["caregiver"], world.staff, online)


def test_cancelling_a_session_tells_everyone_who_booked(world, base):
    session = service.schedule(base["staff"], world.base, plan(base, capacity=1))[0]
    service.book(DEMO, world.staff, session)
    service.book(DEMO, world.staff_other, session)  # waiting
    with pytest.raises(DomainError, match="Give the reason"):
        service.cancel_session(base["staff"], session, " ")
    service.cancel_session(base["staff"], session, "讲师生病")
    db.session.commit()
    notes = list(db.session.scalars(select(Notification).where(Notification.kind == "session_cancelled")))
    assert len(notes) == 2 and all(n.params["reason"] == "讲师生病" for n in notes)
    assert {b.status for b in db.session.scalars(select(Booking))} == {"cancelled"}


def test_fifty_simultaneous_bookings_for_the_last_ten_seats(app, world, base):
    session = service.schedule(base["staff"], world.base, plan(base, capacity=12))[0]
    service.book(DEMO, world.staff, session)
    service.book(DEMO, world.staff_other, session)
    crowd = people(world, 50)
    db.session.commit()
    session_id, ids = session.id, [p.id for p in crowd]

    def book(person_id, go):
        from lms.registry.models import Person
        person = db.session.get(Person, person_id)
        target = db.session.get(TrainingSession, session_id)
        db.session.commit()  # give the connection back: 50 threads share the app's pool
        go()
        service.book(DEMO, person, target)
        db.session.commit()

    errors = [repr(o) for o in at_once(app, book, ids) if isinstance(o, Exception)]
    assert errors == []
    counts = dict(db.session.execute(select(Booking.status, func.count()).where(
        Booking.session_id == session_id, Booking.person_id.in_(ids)).group_by(Booking.status)).all())
    assert counts == {"booked": 10, "waitlisted": 40}


# --- attendance --------------------------------------------------------------------------------------


def test_check_in_with_the_current_code_only(world, base):
    session = service.schedule(base["staff"], world.base, plan(base))[0]
    other = service.schedule(base["staff"], world.base, plan(base, venue="hall", instructor="wang"))[0]
    service.book(DEMO, world.staff, session)
    at = session.starts_at - timedelta(minutes=5)
    code = service.attendance_code(session, at)
    with pytest.raises(service.AttendanceRefused, match="another session"):
        service.check_in(DEMO, world.staff, session, service.attendance_code(other, at), now=at)
    with pytest.raises(service.AttendanceRefused, match="expired"):
        service.check_in(DEMO, world.staff, session, service.attendance_code(session, at - timedelta(minutes=2)), now=at)
    with pytest.raises(service.AttendanceRefused, match="not a valid attendance code"):
        service.check_in(DEMO, world.staff, session, code[:-2] + "xx", now=at)
    early = session.starts_at - timedelta(hours=2)
    with pytest.raises(service.AttendanceRefused, match="opens at"):
        service.check_in(DEMO, world.staff, session, service.attendance_code(session, early), now=early)
    with pytest.raises(service.AttendanceRefused, match="no seat booked"):
        service.check_in(DEMO, world.staff_other, session, code, now=at)
    result = service.check_in(DEMO, world.staff, session, code, now=at + timedelta(seconds=15))
    assert result.action == "in" and result.attendance.status == "present"
    assert service.check_in(DEMO, world.staff, session, service.attendance_code(session, at + timedelta(minutes=1)),
                            now=at + timedelta(minutes=1)).action == "already"


def test_late_and_check_out_for_a_long_session(world, base):
    session = service.schedule(base["staff"], world.base, plan(base, hours=8))[0]
    service.book(DEMO, world.staff, session)
    late = session.starts_at + timedelta(minutes=20)
    result = service.check_in(DEMO, world.staff, session, service.attendance_code(session, late), now=late)
    assert result.attendance.status == "late"
    leaving = session.ends_at - timedelta(minutes=10)
    out = service.check_in(DEMO, world.staff, session, service.attendance_code(session, leaving), now=leaving)
    assert out.action == "out" and out.attendance.checked_out_at == leaving


def test_closing_credits_attendance_once_and_marks_the_rest_absent(world, base):
    session = service.schedule(base["staff"], world.base, plan(base, class_hours="3.5"))[0]
    a, b, c = people(world, 3)
    for person in (a, b, c):
        service.book(DEMO, person, session)
    at = session.starts_at
    service.check_in(DEMO, a, session, service.attendance_code(session, at), now=at)
    with pytest.raises(DomainError, match="Give the reason"):
        service.mark(base["staff"], session, b, "excused", "")
    service.mark(base["staff"], session, b, "excused", "病假")
    with pytest.raises(DomainError, match="once it has ended"):
        service.close_session(base["staff"], session, now=session.ends_at - timedelta(minutes=1))
    result = service.close_session(base["staff"], session, now=session.ends_at + timedelta(minutes=1))
    db.session.commit()
    assert result == {"absent": 1, "credited": 1, "no_checkout": 0}
    statuses = {x.person_id: x.status for x in db.session.scalars(select(Attendance))}
    assert statuses == {a.id: "present", b.id: "excused", c.id: "absent"}
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.person_id == a.id))
    assert (entry.source_type, entry.source_ref, entry.hours, entry.category) == (
        "session", str(session.id), Decimal("3.5"), "skills")
    # the paper sheet says c was there after all: marking after the close credits c, once
    service.mark(base["staff"], session, c, "present", "纸质签到表")
    service.mark(base["staff"], session, c, "present", "纸质签到表（复核）")
    db.session.commit()
    assert db.session.get(LedgerTotal, (c.id, to_utc(NEXT_WEEK).year, "skills")).hours == Decimal("3.5")
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.person_id == c.id)) == 1
    with pytest.raises(DomainError, match="already credited"):
        service.mark(base["staff"], session, a, "absent", "弄错了")


def test_a_class_of_a_hundred_checks_in_at_once(app, world, base):
    session = service.schedule(base["staff"], world.base, plan(base, capacity=100))[0]
    crowd = people(world, 100)
    for person in crowd:
        service.book(DEMO, person, session)
    db.session.commit()
    at = session.starts_at - timedelta(minutes=1)
    code = service.attendance_code(session, at)
    session_id, ids = session.id, [p.id for p in crowd]

    def scan(chunk, go):
        from lms.registry.models import Person
        target = db.session.get(TrainingSession, session_id)
        db.session.commit()  # give the connection back: the threads share the app's pool
        go()
        failed = []
        for person_id in chunk:
            try:
                service.check_in(DEMO, db.session.get(Person, person_id), target, code, now=at)
                db.session.commit()
            except Exception as err:  # noqa: BLE001 - reported below
                db.session.rollback()
                failed.append(repr(err))
        return failed

    outcomes = at_once(app, scan, [ids[i::25] for i in range(25)])
    errors = [e for o in outcomes for e in (o if isinstance(o, list) else [repr(o)])]
    assert errors == []
    assert db.session.scalar(select(func.count()).select_from(Attendance).where(
        Attendance.session_id == session_id, Attendance.status == "present")) == 100


# --- pages, sheet, feeds -------------------------------------------------------------------------------


def test_sign_in_sheet_pdf_lists_the_booked(client, world, base, login_as, tmp_path):
    session = service.schedule(base["staff"], world.base, plan(base))[0]
    service.book(DEMO, world.staff, session)
    service.book(DEMO, world.staff_other, session)
    db.session.commit()
    login_as("base_staff")
    response = client.get(f"/sessions/{session.id}/sheet.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    pdf = tmp_path / "sheet.pdf"
    pdf.write_bytes(response.data)
    text = unicodedata.normalize("NFKC", subprocess.run(["pdftotext", str(pdf), "-"], check=True,
                                                        capture_output=True, text=True).stdout)
    assert "张晓雯" in text and "欧阳·娜娜" in text and "一号实训室" in text and "李老师" in text
    assert world.staff.id_number not in text and world.staff.id_number[-4:] in text


def test_calendar_feeds(client, world, base, login_as):
    session = service.schedule(base["staff"], world.base, plan(base))[0]
    service.book(DEMO, world.staff, session)
    db.session.commit()
    login_as(world.staff.mobile)
    page = client.get("/my/sessions").get_data(as_text=True)
    token_url = page.split("/calendar/")[1].split(".ics")[0]
    feed = client.get(f"/calendar/{token_url}.ics")
    assert feed.mimetype == "text/calendar"
    body = feed.get_data(as_text=True)
    assert "BEGIN:VEVENT" in body and f"UID:session-{session.id}@" in body and "测试课程" in body
    assert client.get("/calendar/not-a-token.ics").status_code == 404
    token = service.feed_token(org=world.base)
    db.session.commit()
    base_feed = client.get(f"/calendar/{token}.ics").get_data(as_text=True)
    assert "一号实训室" in base_feed


def test_pages_for_the_base_and_the_caregiver(app, client, world, base, login_as):
    login_as("base_staff")
    form = {"course_id": base["course"].id, "kind": "theory", "venue_id": base["room"].id,
            "instructor_id": base["li"].id, "starts_at": NEXT_WEEK.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (NEXT_WEEK + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"), "capacity": 1,
            "class_hours": "2", "cancel_cutoff_hours": 24, "repeat_weeks": 2}
    created = client.post(f"/bases/{world.base.id}/sessions/new", data=form)
    assert created.status_code == 302
    clash = client.post(f"/bases/{world.base.id}/sessions/new", data={**form, "repeat_weeks": 1})
    assert "This clashes with" in clash.get_data(as_text=True)
    week = client.get(f"/bases/{world.base.id}/sessions?date={NEXT_WEEK.date().isoformat()}").get_data(as_text=True)
    month = client.get(f"/bases/{world.base.id}/sessions?view=month&date={NEXT_WEEK.date().isoformat()}").get_data(as_text=True)
    assert week.count("TT-101") == 1 and month.count("TT-101") >= 1
    session = db.session.scalar(select(TrainingSession).order_by(TrainingSession.starts_at))
    public = app.test_client().get(f"/sessions?district={world.xuanwu.id}").get_data(as_text=True)
    assert public.count(f'href="/sessions/{session.id}"') == 1 and "实训基地" in public
    elsewhere = app.test_client().get(f"/sessions?district={world.gulou.id}").get_data(as_text=True)
    assert "/sessions/" not in elsewhere.split('class="list-group"')[1]
    caregiver = app.test_client()
    login(caregiver, world.staff.mobile)
    assert caregiver.post(f"/sessions/{session.id}/book").status_code == 302
    other = app.test_client()
    login(other, world.staff_other.mobile)
    page = other.post(f"/sessions/{session.id}/book", follow_redirects=True).get_data(as_text=True)
    assert "waiting list" in page and "number 1 on the waiting list" in page
    # the caregiver cancels; the waiting one is promoted and told
    booking = db.session.scalar(select(Booking).where(Booking.person_id == world.staff.id))
    caregiver.post(f"/bookings/{booking.id}/cancel")
    notes = other.get("/notifications").get_data(as_text=True)
    assert "A seat became free" in notes
    qr = client.get(f"/sessions/{session.id}/qr.json").get_json()
    assert qr["svg"].startswith("data:image/svg+xml") and f"/sessions/{session.id}/attend?code=" in qr["link"]


def test_the_base_home_lists_the_coming_week(client, world, base, login_as):
    soon = datetime.combine(local_today() + timedelta(days=2), datetime.min.time()).replace(hour=9)
    service.schedule(base["staff"], world.base, plan(base, starts=soon))
    service.schedule(base["staff"], world.base, plan(base, starts=soon + timedelta(days=14)))
    db.session.commit()
    login_as("base_staff")
    page = client.get("/").get_data(as_text=True)
    assert page.count("/sessions/") >= 1 and "0 of 20 booked" in page
    assert page.count("0 of 20 booked") == 1  # the session in two weeks is not listed


# --- the calendar shows what and when; absolute links name the public address -----------------


def test_the_calendar_shows_title_and_time_and_a_session_past_midnight_says_so(client, world, base, login_as):
    late = NEXT_WEEK.replace(hour=23)  # 23:00-01:00 the next day
    service.schedule(base["staff"], world.base, plan(base, starts=late, hours=2))
    service.schedule(base["staff"], world.base, plan(base, venue="hall", instructor="wang"))  # 09:00-12:00
    db.session.commit()
    login_as("base_staff")
    for view in ("week", "month"):
        page = client.get(f"/bases/{world.base.id}/sessions?view={view}&date={NEXT_WEEK.date().isoformat()}")
        items = page.get_data(as_text=True).split('class="calendar-item')[1:]
        assert len(items) == 2, view
        text = [" ".join(re.sub(r"<[^>]+>", " ", item.split(">", 1)[1].split("</a>")[0]).split())
                for item in items]
        assert text[0].startswith("09:00 – 12:00 测试课程：托育一日生活"), text[0]
        assert "next day" not in text[0]
        assert text[1].startswith("23:00 – ends next day 01:00 测试课程：托育一日生活"), text[1]
    session = db.session.scalar(select(TrainingSession).where(TrainingSession.venue_id == base["room"].id))
    detail = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    when = " ".join(re.sub(r"<[^>]+>", " ", detail.split('id="when">')[1].split("</dd>")[0]).split())
    from babel.dates import format_date

    from lms.core.web import DATE_FORMAT

    assert when == f"{format_date(late.date(), DATE_FORMAT, locale='en')} 23:00 – ends next day 01:00"


def test_absolute_links_come_from_the_public_address_not_the_host_header(app, world, base, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://peixun.example.gov.cn/lms")
    session = service.schedule(base["staff"], world.base, plan(base))[0]
    service.book(DEMO, world.staff, session)
    db.session.commit()
    # every request (sign-in included) arrives with a crafted Host header
    evil = {"base_url": "http://evil.example.com", "headers": {"X-Forwarded-Host": "evil.example.com"}}
    staff, caregiver = app.test_client(), app.test_client()
    for who, identifier in ((staff, "base_staff"), (caregiver, world.staff.mobile)):
        assert who.post("/login", data={"identifier": identifier, "password": PASSWORD},
                        **evil).status_code == 302
    pages = [staff.get(f"/bases/{world.base.id}/sessions", **evil).get_data(as_text=True),
             staff.get(f"/sessions/{session.id}/qr", **evil).get_data(as_text=True),
             str(staff.get(f"/sessions/{session.id}/qr.json", **evil).get_json())]
    mine = caregiver.get("/my/sessions", **evil).get_data(as_text=True)
    pages.append(mine)
    token = mine.split("/calendar/")[1].split(".ics")[0]
    feed = caregiver.get(f"/calendar/{token}.ics", **evil).get_data(as_text=True)
    pages.append(feed)
    assert all("evil.example.com" not in page for page in pages)
    assert "https://peixun.example.gov.cn/lms/calendar/" in pages[0] + mine
    assert f"https://peixun.example.gov.cn/lms/sessions/{session.id}/attend?code=" in pages[1] + pages[2]
    assert f"UID:session-{session.id}@peixun.example.gov.cn" in feed
    assert f"https://peixun.example.gov.cn/lms/sessions/{session.id}" in feed.replace("\r\n ", "")


@pytest.mark.parametrize("hour", ["00:30", "07:30", "23:30"])
def test_check_in_codes_and_windows_hold_at_every_hour(world, base, hour):
    """The code's window is read in UTC, whatever zone the process runs in; check-in opens
    half an hour before the start on the city's clock."""
    import time_machine

    from lms.core.clock import local_today as today
    h, m = (int(x) for x in hour.split(":"))
    city = ZoneInfo("Asia/Shanghai")
    # a UTC destination: time-machine would otherwise set the process's TZ to Beijing
    with time_machine.travel(datetime.combine(today(), time(h, m), tzinfo=city).astimezone(UTC),
                             tick=False):
        starts = local_now() + timedelta(minutes=20)
        session = service.schedule(base["staff"], world.base, plan(base, starts=starts.replace(second=0, microsecond=0)))[0]
        service.book(DEMO, world.staff, session)
        code = service.attendance_code(session)
        result = service.check_in(world.users["caregiver"], world.staff, session, code)
        assert result.action == "in" and result.attendance.status == "present"
