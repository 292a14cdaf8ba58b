"""What certificate tests share: a sitting at the world's base, results in it, a clock-safe
start time, and the offered actions read off a page."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from lms.core.clock import local_today, to_utc
from lms.exams import service as exams
from lms.extensions import db
from lms.registry.models import QualificationType
from tests.factories import venue as base_venue


def next_week() -> datetime:
    """09:00 a week from the city's today, stored as UTC."""
    return to_utc(datetime.combine(local_today() + timedelta(days=7), time(9)))


def sitting(world, level=5, starts=None):
    staff = world.users["base_staff"]
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
    return exams.plan_sitting(staff, world.base, exams.SittingPlan(
        qualification_type=qtype, level=level, starts_at=starts or next_week(), duration_minutes=30,
        venue=base_venue(world.base, "考场一"), examiners=[staff], blueprint={"single": 2}))


def result(world, in_sitting, person, theory, practical):
    registration = exams.register(world.users["base_staff"], in_sitting, person)
    registration.theory_score = Decimal(theory)
    exams.enter_practical(world.users["base_staff"], registration, practical,
                          now=in_sitting.starts_at + timedelta(minutes=1))
    return registration


def offered_actions(page: str) -> list[str]:
    """The values of the status form's action choices on a certificate's page."""
    form = re.search(r'<form[^>]*id="status-form".*?</form>', page, re.S)
    if form is None:
        return []
    return re.findall(r'<option[^>]*value="([a-z]+)"', form.group(0))
