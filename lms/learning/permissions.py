"""Named predicates for online study, shared by views and templates."""

from __future__ import annotations

from lms.auth.models import Role
from lms.catalog.permissions import can_browse_courses  # noqa: F401 - re-exported for views
from lms.core.permissions import predicate


@predicate
def can_study(user, **_) -> bool:
    """Online study is for caregivers: the credit goes to their registry record."""
    return bool(user and user.is_authenticated and user.role == Role.CAREGIVER and user.person_id)


@predicate
def can_study_as(user, person=None, person_id: int | None = None, **_) -> bool:
    """Enrol, study and self-check for this person: the caregiver themselves, nobody else."""
    wanted = person.id if person is not None else person_id
    return bool(can_study(user) and wanted is not None and user.person_id == wanted)
