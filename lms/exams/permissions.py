"""Named predicates for exams, shared by the views, the templates and the services."""

from __future__ import annotations

from sqlalchemy import select

from lms.auth.models import Role
from lms.core.permissions import predicate
from lms.exams.models import Attempt, Registration
from lms.extensions import db
from lms.registry.permissions import can_run_base


@predicate
def can_run_sitting(user, sitting=None, **_) -> bool:
    return sitting is not None and can_run_base(user, org=sitting.organisation)


@predicate
def can_score_registration(user, sitting=None, registration=None, **_) -> bool:
    """Practical scores: the sitting's own examiners (another base's staff never)."""
    return bool(sitting is not None and registration is not None
                and registration.sitting_id == sitting.id and user.is_authenticated
                and any(e.user_id == user.id for e in sitting.examiners))


@predicate
def is_candidate(user, **_) -> bool:
    return bool(user and user.is_authenticated and user.role == Role.CAREGIVER and user.person_id)


@predicate
def owns_registration(user, registration=None, **_) -> bool:
    """A registration's own candidate (who starts the paper)."""
    return bool(registration is not None and is_candidate(user)
                and registration.person_id == user.person_id)


@predicate
def is_registered_candidate(user, sitting=None, **_) -> bool:
    """The theory paper of a sitting: a candidate registered for it."""
    if sitting is None or not is_candidate(user):
        return False
    return db.session.scalar(select(Registration.id).where(
        Registration.sitting_id == sitting.id, Registration.person_id == user.person_id)) is not None


@predicate
def owns_attempt(user, attempt=None, **_) -> bool:
    """A paper: only the candidate whose paper it is."""
    return bool(attempt is not None and owns_registration(user, registration=attempt.registration))


@predicate
def owns_item(user, item=None, **_) -> bool:
    """An answer of a paper: only the candidate whose paper it is."""
    if item is None or not is_candidate(user):
        return False
    return owns_attempt(user, attempt=db.session.get(Attempt, item.attempt_id))
