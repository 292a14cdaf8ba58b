"""Every (state, action) pair of the registration and attempt machines: the table's pairs move,
every other pair is refused with a typed error and leaves the row as it was."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
import time_machine
from sqlalchemy import select

from lms.core.actors import system_actor
from lms.core.clock import utc_now
from lms.core.states import InvalidTransition
from lms.exams import service
from lms.exams.models import (
    Attempt,
    AttemptAction,
    AttemptState,
    RegistrationAction,
    RegistrationState,
)
from lms.extensions import db
from lms.learning.models import Enrolment
from lms.registry.models import QualificationType
from tests.factories import venue

ACTOR = system_actor("test:states")


@pytest.fixture()
def registration(world, course):
    staff = world.users["base_staff"]
    qtype = db.session.scalar(select(QualificationType).where(QualificationType.code == "baoyushi"))
    starts = (utc_now() + timedelta(days=7)).replace(microsecond=0)
    sitting = service.plan_sitting(staff, world.base, service.SittingPlan(
        qualification_type=qtype, level=5, starts_at=starts + timedelta(hours=8), duration_minutes=30,
        venue=venue(world.base, "考场"), examiners=[staff], blueprint={"single": 2}))
    db.session.add(Enrolment(person_id=world.staff.id, course_id=course.id, completed_at=utc_now()))
    return service.register(staff, sitting, world.staff)


def _when(sitting, action):
    """A moment at which the action's time rule holds, so only the table decides."""
    if action in (RegistrationAction.WITHDRAW,):
        return sitting.starts_at - timedelta(hours=1)
    if action in (RegistrationAction.MISS, AttemptAction.TIME_UP):
        return service.ends_at(sitting) + timedelta(minutes=1)
    return sitting.starts_at + timedelta(minutes=1)


@pytest.mark.parametrize("state", list(RegistrationState))
@pytest.mark.parametrize("action", list(RegistrationAction))
def test_every_registration_pair(registration, state, action):
    registration.state = state.value
    db.session.flush()
    target = service.REGISTRATION_TRANSITIONS.get((state, action))
    with time_machine.travel(_when(registration.sitting, action).replace(tzinfo=UTC), tick=False):
        if target is None:
            with pytest.raises(InvalidTransition):
                service.REGISTRATION.apply(ACTOR, registration, action)
            assert registration.state == state.value
        else:
            service.REGISTRATION.apply(ACTOR, registration, action)
            assert registration.state == target.value
            event = service.REGISTRATION.history(registration)[-1]
            assert (event.action, event.from_state, event.to_state) == (action.value, state.value, target.value)


@pytest.mark.parametrize("state", list(AttemptState))
@pytest.mark.parametrize("action", list(AttemptAction))
def test_every_attempt_pair(registration, state, action):
    sitting = registration.sitting
    attempt = Attempt(registration_id=registration.id, started_at=sitting.starts_at,
                      deadline_at=service.ends_at(sitting), state=state.value)
    db.session.add(attempt)
    db.session.flush()
    target = service.ATTEMPT_TRANSITIONS.get((state, action))
    with time_machine.travel(_when(sitting, action).replace(tzinfo=UTC), tick=False):
        if target is None:
            with pytest.raises(InvalidTransition):
                service.ATTEMPT.apply(ACTOR, attempt, action)
            assert attempt.state == state.value
        else:
            service.ATTEMPT.apply(ACTOR, attempt, action)
            assert attempt.state == target.value


def test_the_tables_cover_only_known_states_and_actions():
    for (state, action), target in service.REGISTRATION_TRANSITIONS.items():
        assert state in RegistrationState and action in RegistrationAction and target in RegistrationState
    for (state, action), target in service.ATTEMPT_TRANSITIONS.items():
        assert state in AttemptState and action in AttemptAction and target in AttemptState


def test_the_clocks_actions_belong_to_the_clock_alone(world, registration):
    """No person may record an absence or time a paper out; the time rules hold for the clock."""
    sitting = registration.sitting
    for user in world.users.values():
        assert RegistrationAction.MISS not in service.allowed_actions(registration, user)
    with time_machine.travel((sitting.starts_at - timedelta(hours=1)).replace(tzinfo=UTC), tick=False):
        assert service.REGISTRATION.allowed_actions(registration, ACTOR) == [RegistrationAction.WITHDRAW]
    with time_machine.travel((service.ends_at(sitting) + timedelta(minutes=1)).replace(tzinfo=UTC), tick=False):
        assert service.REGISTRATION.allowed_actions(registration, ACTOR) == [RegistrationAction.MISS]
