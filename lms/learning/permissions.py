"""Named predicates for online study, shared by views and templates."""

from __future__ import annotations

from lms.auth.models import Role
from lms.catalog.permissions import can_browse_courses  # noqa: F401 - re-exported for views
from lms.core.permissions import predicate


@predicate
def can_study(user, **_) -> bool:
    """Online study is for caregivers: the credit goes to their registry record."""
    return bool(user and user.is_authenticated and user.role == Role.CAREGIVER and user.person_id)
