"""Named predicates for exams."""

from __future__ import annotations

from lms.auth.models import Role
from lms.core.permissions import predicate
from lms.exams.models import Attempt
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
def owns_item(user, item=None, **_) -> bool:
    """An answer of a paper: only the candidate whose paper it is."""
    if item is None or not is_candidate(user):
        return False
    return db.session.get(Attempt, item.attempt_id).registration.person_id == user.person_id
