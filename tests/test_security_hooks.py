"""The domain refusals and sensitive look-ups the security-event log keeps (issue 18): each
survives the rollback of the request that caused it, and none stores an identity number."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from lms.core.actors import DEMO
from lms.core.clock import local_today
from lms.core.security import SecurityEvent, active_alerts
from lms.enforcement import service as enforcement
from lms.enforcement.service import FourEyesViolation
from lms.extensions import db
from lms.registry import service as registry
from lms.registry.service import BannedError
from tests.enforcement.test_bans import decide
from tests.factories import id_number


def _events(kind: str) -> list[SecurityEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(SecurityEvent).where(SecurityEvent.kind == kind)))


def test_a_ban_gate_refusal_is_kept_after_the_rollback(world):
    number = id_number("320102", "19860606", 7)
    ban = registry.record_ban(DEMO, id_number=number, name="赵某", kind="lifetime",
                              starts_on=local_today(), ends_on=None, reason="虐童")
    db.session.commit()
    with pytest.raises(BannedError):
        registry.add_staff(world.users["inst_admin"], world.inst, id_number=number, name="赵某",
                           post="nursery_carer", start_date=date(2026, 1, 5))
    db.session.rollback()
    (event,) = _events("registry.ban_gate_refused")
    assert event.detail == {"ban_id": ban.id}
    assert number not in str(event.detail) and number not in (event.subject or "")


def test_a_four_eyes_refusal_is_kept_after_the_rollback(world):
    ban, = enforcement.impose_ban(world.users["regulator"], **decide(world.staff))
    request = enforcement.request_lift(world.users["regulator"], ban, "复议撤销")
    db.session.commit()
    with pytest.raises(FourEyesViolation):
        enforcement.decide_lift(world.users["regulator"], request, True, "同意")
    db.session.rollback()
    (event,) = _events("enforcement.four_eyes_refused")
    assert event.user_id == world.users["regulator"].id and event.detail == {"request_id": request.id}


def test_viewing_a_full_identity_number_is_recorded_but_never_alarms(world):
    number = registry.reveal_id_number(world.users["inst_admin"], world.staff)
    db.session.rollback()  # even a request that fails afterwards leaves the trace
    (event,) = _events("registry.id_number_viewed")
    assert event.user_id == world.users["inst_admin"].id
    assert event.detail == {"person_id": world.staff.id} and number not in str(event.detail)
    registry.lookup_person(world.users["regulator"], world.staff.id_number, world.staff.name)
    db.session.commit()
    assert len(_events("registry.lookup")) == 1
    for _ in range(15):  # far above the alert threshold: looking up is work, not an attack
        registry.reveal_id_number(world.users["inst_admin"], world.staff)
    db.session.commit()
    assert active_alerts() == []
