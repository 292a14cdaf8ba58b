from __future__ import annotations

import pytest

from lms.certificates import service
from lms.core.clock import utc_now
from lms.extensions import db
from lms.learning.models import Enrolment
from tests.certificates.helpers import result, sitting


@pytest.fixture()
def passed(world, course):
    """A sitting at the world's base: world.staff passed, world.staff_other did not."""
    for person in (world.staff, world.staff_other):
        db.session.add(Enrolment(person_id=person.id, course_id=course.id, completed_at=utc_now()))
    held = sitting(world)
    good = result(world, held, world.staff, "85", "90")
    bad = result(world, held, world.staff_other, "55", "90")
    db.session.commit()
    return held, good, bad


@pytest.fixture()
def cert(world, passed):
    """world.staff's certificate (保育师 五级), issued by the world's base."""
    issued = service.issue(world.users["base_staff"], passed[1])
    db.session.commit()
    return issued
