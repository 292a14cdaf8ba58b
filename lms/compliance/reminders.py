"""The quarterly reminder (hours-behind-reminders): each employed caregiver whose training hours
this year are behind pro rata — the rule the compliance pages call "hours on track" — is told
so, once a quarter however often the schedule runs (compliance_hours_reminders)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from lms.core import audit
from lms.core.bulk import chunks
from lms.core.clock import local_today, utc_now
from lms.core.notifications import message, notify
from lms.core.permissions import authorize
from lms.extensions import db
from lms.registry.models import Employment, Organisation, OrgKind, Person
from lms.registry.service import account_id

from .models import HoursReminder
from .permissions import runs_compliance_jobs
from .service import CITY, _hours_text, compliance_in

message("compliance.hours_behind", _l(
    "Your training hours for %(year)s are behind: professional skills %(skills)s hours "
    "(%(skills_expected)s expected by now), professional ethics %(ethics)s hours "
    "(%(ethics_expected)s expected by now)."))


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


@dataclass
class Reminded:
    quarter: str
    checked: int = 0
    behind: int = 0
    sent: int = 0


def remind_hours_behind(actor, today: date | None = None) -> Reminded:
    """Remind each caregiver employed at an institution whose skills or ethics hours this year
    are behind pro rata; one reminder per person per quarter (a person without an account is
    counted as behind, not reminded)."""
    authorize(actor, runs_compliance_jobs)
    today = today or local_today()
    outcome = Reminded(quarter_of(today))
    employed = list(db.session.scalars(
        select(Employment.person_id)
        .join(Organisation, Organisation.id == Employment.organisation_id)
        .where(Employment.end_date.is_(None), Organisation.kind == OrgKind.INSTITUTION.value)
        .distinct().order_by(Employment.person_id)))
    for batch in chunks(employed):
        done = set(db.session.scalars(select(HoursReminder.person_id).where(
            HoursReminder.quarter == outcome.quarter, HoursReminder.person_id.in_(batch))))
        people = db.session.scalars(select(Person).where(
            Person.id.in_([pid for pid in batch if pid not in done]))).all()
        statuses = compliance_in(CITY, people, today, messages=False)
        outcome.checked += len(batch)
        for person_id, pc in statuses.items():
            if pc.hours_on_track or pc.skills is None or pc.ethics is None:
                continue
            outcome.behind += 1
            user_id = account_id(person_id)
            if user_id is None:
                continue
            db.session.add(HoursReminder(person_id=person_id, quarter=outcome.quarter,
                                         sent_at=utc_now()))
            notify(user_id, "compliance.hours_behind", "/hours", year=today.year,
                   skills=_hours_text(pc.skills.hours), skills_expected=_hours_text(pc.skills.expected),
                   ethics=_hours_text(pc.ethics.hours), ethics_expected=_hours_text(pc.ethics.expected))
            outcome.sent += 1
        db.session.flush()
    audit.record(actor, "compliance.hours_reminders_sent", None, object_type="persons",
                 quarter=outcome.quarter, behind=outcome.behind, sent=outcome.sent)
    return outcome
