"""A caregiver who already holds the sitting's level or a higher one (三级 is higher than 五级):
registration explains that passing adds nothing, and registers only when the base confirms, or
refuses outright, by the `exams.lower_level_policy` setting."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from lms.core import settings
from lms.core.actors import DEMO
from lms.core.clock import local_today, utc_now
from lms.core.errors import DomainError
from lms.exams import service
from lms.exams.models import Registration
from lms.extensions import db
from lms.learning.models import Enrolment
from lms.registry import service as registry
from lms.registry.models import QualificationType
from tests.conftest import login
from tests.factories import venue


@pytest.fixture()
def level5(world, course):
    staff = world.users["base_staff"]
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
    sitting = service.plan_sitting(staff, world.base, service.SittingPlan(
        qualification_type=qtype, level=5, starts_at=datetime.combine(local_today() + timedelta(days=7), time(9)),
        duration_minutes=30, venue=venue(world.base), examiners=[staff], blueprint={"single": 2}))
    db.session.add(Enrolment(person_id=world.staff.id, course_id=course.id, completed_at=utc_now()))
    registry.add_qualification(DEMO, world.staff, qtype, issued_on=date(2025, 6, 1), level=3,
                               certificate_no="BYS-2025-0001-000001", issuer="南京市职业技能鉴定指导中心")
    db.session.commit()
    return sitting


def test_registration_explains_and_waits_for_the_bases_confirmation(world, level5):
    staff = world.users["base_staff"]
    with pytest.raises(service.ConfirmationNeeded) as caught:
        service.register(staff, level5, world.staff)
    message = str(caught.value)
    assert "already holds 保育师 Level 3 (advanced)" in message and "BYS-2025-0001-000001" in message
    assert "adds no qualification and no subsidy" in message and "Confirm to register them anyway" in message
    assert db.session.scalar(select(Registration.id)) is None
    registration = service.register(staff, level5, world.staff, confirm_lower_level=True)
    assert registration.state == "registered"
    # a sitting above the level held asks nothing
    level5.level = 2
    assert service.level_held(world.staff, level5) is None


def test_a_city_may_refuse_such_registrations(world, level5):
    settings.set_setting(world.users["admin"], "exams.lower_level_policy", "refuse", date(2020, 1, 1))
    with pytest.raises(DomainError, match="So they cannot be registered for it"):
        service.register(world.users["base_staff"], level5, world.staff, confirm_lower_level=True)
    with pytest.raises(DomainError, match="must be one of"):
        settings.set_setting(world.users["admin"], "exams.lower_level_policy", "maybe", date(2020, 1, 1))


def test_the_registration_page_asks_for_the_confirmation(app, world, level5):
    staff = app.test_client()
    login(staff, "base_staff")
    form = {"id_number": world.staff.id_number, "name": world.staff.name}
    page = staff.post(f"/exams/{level5.id}", data=form).get_data(as_text=True)
    assert 'id="confirm-lower-level"' in page and "already holds 保育师 Level 3 (advanced)" in page
    assert 'id="confirm_lower_level"' in page
    assert staff.post(f"/exams/{level5.id}", data={**form, "confirm_lower_level": "y"}).status_code == 302
    assert db.session.scalar(select(Registration.person_id)) == world.staff.id
    # the setting is shown by its meaning, not its code
    admin = app.test_client()
    login(admin, "admin")
    assert "explain, and register only when the base confirms (confirm)" in admin.get("/admin/settings").get_data(as_text=True)
