"""Holders are reminded 90, 30 and 7 days before a certificate expires, each reminder once,
however often the daily schedule runs (certificate-reminders, `flask jobs run …`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from lms.certificates.models import ExpiryReminder
from lms.certificates.tasks import send_expiry_reminders
from lms.core.clock import local_today
from lms.core.models import Notification
from lms.extensions import db
from tests.helpers import certificate


def _notes(user) -> list[dict]:
    return [n.params for n in db.session.scalars(select(Notification).where(
        Notification.user_id == user.id, Notification.kind == "certificate.expires_soon")
        .order_by(Notification.id))]


def test_each_reminder_is_sent_once(world, login_as):
    today = local_today()
    cert = certificate(world, world.staff)
    cert.expires_on = today + timedelta(days=95)
    db.session.commit()
    caregiver = world.users["caregiver"]

    assert send_expiry_reminders(today) == {"90": 0, "30": 0, "7": 0}  # not yet
    for day in (5, 6, 30):  # 90 days left, and the days after: one reminder
        sent = send_expiry_reminders(today + timedelta(days=day))
        db.session.commit()
    assert len(_notes(caregiver)) == 1
    assert _notes(caregiver)[0] == {"number": cert.number,
                                   "expires_on": cert.expires_on.isoformat(), "days": "90"}
    for day in range(65, 70):  # 30 days left from day 65
        send_expiry_reminders(today + timedelta(days=day))
    for day in (88, 89, 90, 94):  # 7 days left from day 88
        sent = send_expiry_reminders(today + timedelta(days=day))
    db.session.commit()
    assert [n["days"] for n in _notes(caregiver)] == ["90", "30", "7"]
    assert sent == {"90": 0, "30": 0, "7": 0}
    assert sorted(r.days for r in db.session.scalars(select(ExpiryReminder))) == [7, 30, 90]
    # the caregiver reads it, in their language, with a link to their certificates
    client = login_as(world.staff.mobile)
    client.set_cookie("lms_lang", "en")
    page = client.get("/notifications").get_data(as_text=True)
    assert f"Your certificate {cert.number} expires on" in page and "/my/certificates" in page


def test_found_late_a_certificate_gets_only_the_nearest_reminder(world):
    today = local_today()
    soon = certificate(world, world.staff)
    soon.expires_on = today + timedelta(days=5)
    gone = certificate(world, world.staff_other, code="yuyingyuan")
    gone.expires_on = today - timedelta(days=1)  # expired: no reminder
    revoked = certificate(world, world.staff, code="yuyingyuan", status="revoked")
    revoked.expires_on = today + timedelta(days=20)
    db.session.commit()
    assert send_expiry_reminders(today) == {"90": 0, "30": 0, "7": 1}
    assert [n["days"] for n in _notes(world.users["caregiver"])] == ["5"]


def test_a_renewed_certificate_is_reminded_again_before_its_new_date(world):
    today = local_today()
    cert = certificate(world, world.staff)
    cert.expires_on = today + timedelta(days=6)
    db.session.commit()
    send_expiry_reminders(today)
    cert.expires_on = today + timedelta(days=6 + 365)
    db.session.commit()
    later = today + timedelta(days=365)
    assert send_expiry_reminders(later) == {"90": 0, "30": 0, "7": 1}
